"""Landing rows (all text) → typed, de-duplicated records, plus the rows that had to be quarantined.

Every row either becomes a record or lands in quarantine with its file, row, column and reason:
nothing is dropped silently. Columns a source does not declare (names, ID and phone numbers,
addresses) never get past this step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from transforms.parse import (
    beijing_date_from_unix,
    clean_text,
    normalize_label,
    parse_date,
    parse_yuan_as_fen,
    yuan_out_of_range,
)
from transforms.rules import (
    EARLIEST_PLAUSIBLE_DATE,
    QUOTED_MAX_CHARS,  # noqa: F401  (re-exported: the tests cut quoted values with it)
    capped,
    record_rules,
)
from transforms.rules import quoted as _quoted
from transforms.rules import raw as _raw
from transforms.sources import REASON_KEYS, REASON_LABELS, Field, Kind, Source

QUARANTINE_SCHEMA = pl.Schema(
    {
        "source": pl.String(),
        "agency_id": pl.String(),
        "file": pl.String(),
        "row": pl.UInt32(),
        "column": pl.String(),
        "value": pl.String(),
        "reason": pl.String(),
    }
)

# The reason a row is refused for a date after the run day: the only refusal that depends on
# the day of the run (a later run may accept the row).
DATED_AFTER_RUN = "date after the day of the run"

_SCIENTIFIC_NOTATION = r"^[-+]?[\d.,]+[eE][-+]?\d+$"


def _field_value(f: Field) -> pl.Expr:
    raw = _raw(f.header)
    match f.kind:
        case Kind.KEY | Kind.TEXT:
            return clean_text(raw)
        case Kind.DATE:
            return parse_date(raw)
        case Kind.UNIX_TIME:
            return beijing_date_from_unix(clean_text(raw).cast(pl.Int64, strict=False))
        case Kind.YUAN:
            return parse_yuan_as_fen(raw)
        case Kind.FLAG:
            # An export that leaves the flag out means "not deleted".
            return clean_text(raw).str.to_lowercase().is_in(["true", "1", "是"]).fill_null(False)
        case Kind.CATEGORY:
            return clean_text(raw).replace_strict(f.categories, default=None, return_dtype=f.dtype)
        case Kind.REASONS:
            return (
                clean_text(raw)
                .str.split("|")
                .list.eval(
                    normalize_label(pl.element()).replace_strict(
                        REASON_LABELS, default=None, return_dtype=pl.Enum(REASON_KEYS)
                    )
                )
            )
    raise ValueError(f"no parser for {f.kind}")


def _field_problem(f: Field, latest: dt.date) -> pl.Expr:
    """Why this field of a row cannot be used, or null."""
    raw = clean_text(_raw(f.header))
    value = pl.col(f.name)
    unreadable = raw.is_not_null() & value.is_null()
    missing = pl.lit(f.value_required) & raw.is_null()
    reason = pl.when(missing).then(pl.lit(f"{f.header} is empty"))
    match f.kind:
        case Kind.DATE | Kind.UNIX_TIME:
            reason = (
                reason.when(unreadable)
                .then(pl.lit("not a date: ") + _quoted(raw))
                .when(value > latest)
                .then(pl.lit(f"{DATED_AFTER_RUN} ({latest})"))
                .when(value < EARLIEST_PLAUSIBLE_DATE)
                .then(pl.lit(f"date before {EARLIEST_PLAUSIBLE_DATE.year}"))
            )
        case Kind.CATEGORY:
            expected = " / ".join(f.categories)
            reason = reason.when(unreadable).then(
                pl.lit("unknown value ") + _quoted(raw) + pl.lit(f" (expected {expected})")
            )
        case Kind.YUAN:
            reason = (
                reason.when(unreadable & yuan_out_of_range(raw))
                .then(pl.lit("amount out of range (10^12 元 or more): ") + _quoted(raw))
                # Excel writes long numbers as 1.23457E+15 in CSV: the digits are already lost.
                .when(unreadable & raw.str.contains(_SCIENTIFIC_NOTATION))
                .then(
                    pl.lit("not an amount: scientific notation may have lost digits: ")
                    + _quoted(raw)
                )
                .when(unreadable)
                .then(pl.lit("not an amount in 元 with at most two decimals: ") + _quoted(raw))
            )
        case Kind.REASONS:
            unknown_labels = (
                raw.str.split("|")
                .list.eval(
                    pl.when(
                        normalize_label(pl.element())
                        .replace_strict(REASON_LABELS, default=None)
                        .is_null()
                    ).then(pl.element())
                )
                .list.drop_nulls()
                .list.join("|")
            )
            reason = reason.when(unknown_labels.str.len_chars() > 0).then(
                pl.lit("unknown 具体情形: ") + _quoted(unknown_labels)
            )
    return reason


def repeated_in_one_file(source: Source, readable: pl.Expr) -> pl.Expr:
    """Why a readable row is not used: its key is in the same file again with other values.

    Within one delivery neither row is a correction of the other, so which one is meant cannot be
    told: all of them are quarantined. Identical repeats (same parsed values) change nothing and
    pass; the newest-delivery rule keeps one of them.
    """
    key = source.key
    # The file's path starts with its agency's folder. Unreadable rows are quarantined for their
    # own reason and compared with nothing.
    in_file = [pl.col("file"), *map(pl.col, source.identity), readable]
    times = pl.len().over(in_file)
    # Equal hashes of the parsed values stand for equal rows: a window of min and max costs
    # little, where comparing whole rows in a window costs seconds per million rows. Two
    # different rows with one 64-bit hash are too unlikely to matter.
    content = pl.struct(f.name for f in source.fields).hash()
    differ = (content.min() != content.max()).over(in_file)
    first, last = pl.col("row").min().over(in_file), pl.col("row").max().over(in_file)
    rows = pl.when(times == 2).then(pl.format("{} and {}", first, last))
    return pl.when(readable & (times > 1) & differ).then(
        pl.format(
            "{} {} appears {} times in this file with different values (rows {})",
            pl.lit(key.header),
            _quoted(pl.col(key.name)),
            times,
            rows.otherwise(pl.format("{}, …, {}", first, last)),
        )
    )


def newest_delivery_wins(records: pl.LazyFrame, key: Sequence[str]) -> pl.LazyFrame:
    """One record per agency and ``key`` (a source's identity columns): the one from the file
    delivered last.

    ``delivery`` is the file's place in the delivery order (modification time, ties broken by
    file name, as the landing-zone contract says). Within a file only identical repeats are left
    by now (see :func:`repeated_in_one_file`), so which of them is kept changes nothing.
    """
    # A filter on is_last_distinct keeps the order and is several times faster than unique().
    return records.sort("delivery", "row").filter(pl.struct("agency_id", *key).is_last_distinct())


def normalize_source(
    raw: pl.LazyFrame, source: Source, run_date: dt.date
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Typed, de-duplicated records of one source and the quarantined rows, as two lazy frames.

    ``raw`` has the lineage columns and one text column per header of ``source`` (absent optional
    columns as nulls). Dates after ``run_date`` or before 1990 are implausible and quarantined.
    Collect both together (``pl.collect_all``) so the parsing is shared.
    """
    fields = source.fields
    problems = [(f.header, _field_problem(f, run_date)) for f in fields]
    # Rules over several fields of a record (dates in order, results with reasons), declared
    # in transforms/rules.py with the record suites' form of them.
    problems += [(r.column, r.problem) for r in record_rules(source.name)]
    parsed = (
        raw.rename({f.header: f"raw:{f.header}" for f in fields})
        .with_columns(_field_value(f).alias(f.name) for f in fields)
        .with_columns(p.alias(f"_problem_{i}") for i, (_, p) in enumerate(problems))
    )
    headers = [h for h, _ in problems]
    problem_cols = [f"_problem_{i}" for i in range(len(headers))]
    readable = pl.all_horizontal(pl.col(p).is_null() for p in problem_cols)
    parsed = parsed.with_columns(_problem_repeated=repeated_in_one_file(source, readable))
    headers.append(source.key.header)
    problem_cols.append("_problem_repeated")
    is_clean = pl.all_horizontal(pl.col(p).is_null() for p in problem_cols)

    records = (
        newest_delivery_wins(parsed.filter(is_clean), source.identity)
        .select(source.record_schema.names())
        .cast(source.record_schema)
    )
    # One row per problem of each rejected row: the problems as a list, exploded. (A branch
    # per problem, concatenated, repeated the whole parsing plan that many times: 40 ms to
    # plan a source of five rows.)
    problem_list = pl.concat_list(
        pl.struct(
            column=pl.lit(header, pl.String),
            value=capped(_raw(header).cast(pl.String)),
            reason=pl.col(p),
        )
        for header, p in zip(headers, problem_cols, strict=True)
    )
    quarantine = (
        parsed.filter(~is_clean)
        .select(
            source=pl.lit(source.name),
            agency_id=pl.col("agency_id").cast(pl.String),
            file="file",
            row="row",
            problem=problem_list,
        )
        .explode("problem")
        .unnest("problem")
        .filter(pl.col("reason").is_not_null())
        .cast(QUARANTINE_SCHEMA)
    )
    return records, quarantine


def agency_groups(raw: pl.DataFrame, rows: int) -> list[list[str]]:
    """The agencies of ``raw`` in groups of about ``rows`` rows (an agency is never split), in
    the order they first appear."""
    sizes = raw.group_by("agency_id", maintain_order=True).len()
    start = pl.col("len").cum_sum() - pl.col("len")
    grouped = sizes.with_columns(group=start // rows).group_by("group", maintain_order=True)
    return [agencies.to_list() for agencies in grouped.agg("agency_id")["agency_id"]]


def normalize_in_groups(
    raw: pl.DataFrame, source: Source, run_date: dt.date, rows: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`normalize_source`, collected, a group of agencies at a time (``agency_groups``).

    Every rule of a record stays within its agency (the repeated key within a file, the newest
    delivery of a key), so the records and quarantined rows are those of the whole source at
    once, grouped by agency; the parsing's intermediate columns are held for one group only
    (4 M penalty rows at once peaked at 2.7 GiB).
    """
    frames = []
    for agencies in agency_groups(raw, rows):
        of_group = raw.lazy().filter(pl.col("agency_id").is_in(agencies))
        frames.append(pl.collect_all(normalize_source(of_group, source, run_date)))
    if not frames:
        return pl.collect_all(normalize_source(raw.lazy(), source, run_date))
    records, quarantine = zip(*frames, strict=True)
    return pl.concat(records), pl.concat(quarantine)
