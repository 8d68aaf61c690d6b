"""Year over year: every cell of a report beside last year's, and the W5/W6 warnings.

A pure transform over report cells (``agency_id`` — or any id column —, ``section``, ``row``,
``column``, ``value``, optionally ``row_label``/``column_label``). ``flows/`` reads the published
cells of both years, writes ``changes/year=<Y>/data.parquet`` and adds the warnings to a run's
violations; ``nianbao compare`` prints the same frame.

Changes are exact where they are money: ``value``, ``last_year_value`` and ``change`` stay
``Decimal`` (a fee's change in 万元 to the fourth decimal). ``relative_change`` is a ratio for
reading (``0.5`` = +50%), not an amount: ``Float64``, null when last year's value is 0 or missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from transforms.balance import VIOLATION_SCHEMA
from transforms.cells import (
    CELL_KEY,
    CHANNEL_COLUMN,
    VALUE_DTYPE,
    channel_name_key,
    channel_row_label,
    static_cells,
)
from transforms.rules import Level, rule

# A change is the difference of two Decimal(18, 4) values: one more digit never overflows.
CHANGE_DTYPE = pl.Decimal(19, 4)


def changes_schema(by: str = "agency_id") -> pl.Schema:
    """The columns of the changes dataset, ``by`` naming the report (an agency or a roll-up)."""
    return pl.Schema(
        {
            by: pl.String(),
            "section": pl.String(),
            "row": pl.String(),
            "column": pl.String(),
            "row_label": pl.String(),
            "column_label": pl.String(),
            "value": VALUE_DTYPE,
            "last_year_value": VALUE_DTYPE,
            "change": CHANGE_DTYPE,
            "relative_change": pl.Float64(),
        }
    )


# What a row of the changes dataset compares: an agency's report, or a parent's roll-up (whose
# ``agency_id`` is the parent's; a parent with a report of its own has both).
CHANGE_KINDS = ("report", "rollup")


def changes_dataset_schema() -> pl.Schema:
    """The columns of ``changes/year=<Y>/data.parquet``: :func:`changes_schema` with ``kind``
    (``report`` | ``rollup``) after ``agency_id``."""
    columns = list(changes_schema().items())
    return pl.Schema([columns[0], ("kind", pl.String()), *columns[1:]])


def as_dataset_rows(changes: pl.DataFrame, kind: str) -> pl.DataFrame:
    """:func:`year_over_year`'s frame as rows of the changes dataset of this ``kind``.

    >>> as_dataset_rows(pl.DataFrame(schema=changes_schema()), "rollup").columns[:3]
    ['agency_id', 'kind', 'section']
    """
    if kind not in CHANGE_KINDS:
        raise ValueError(f"kind {kind!r} is not one of {CHANGE_KINDS}")
    schema = changes_dataset_schema()
    return changes.with_columns(kind=pl.lit(kind)).select(schema.names()).cast(schema)


def _with_labels(cells: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in ("row_label", "column_label") if c not in cells.columns]
    return cells.with_columns(pl.lit(None, pl.String).alias(c) for c in missing)


def _dictionary_labels(cells: pl.DataFrame) -> pl.DataFrame:
    """Labels missing from ``cells`` (last year's cells as B5/B6 read them carry none) taken
    from the cell dictionary; a section 一 row's from its channel name, as the report prints it."""
    row = pl.col("row")
    channel = channel_name_key(row)
    in_channels = pl.col("section") == "channels"
    channel_label = (
        pl.when(row == "total").then(pl.lit("合计")).otherwise(channel_row_label(channel))
    )
    dictionary = static_cells().select(
        *CELL_KEY, known_row="row_label", known_column="column_label"
    )
    return (
        cells.join(dictionary, on=list(CELL_KEY), how="left", maintain_order="left")
        .with_columns(
            row_label=pl.coalesce(
                "row_label", "known_row", pl.when(in_channels).then(channel_label)
            ),
            column_label=pl.coalesce(
                "column_label", "known_column", pl.when(in_channels).then(pl.lit(CHANNEL_COLUMN[1]))
            ),
        )
        .drop("known_row", "known_column")
    )


def year_over_year(
    current: pl.DataFrame, previous: pl.DataFrame | None, *, by: str = "agency_id"
) -> pl.DataFrame:
    """Each cell of each report in ``current`` beside its value in ``previous`` (last year).

    Cells are matched on ``by`` and the cell key. A report with no report last year has
    ``last_year_value`` null throughout; a cell only last year (a WeChat account closed since)
    follows the report's cells with ``value`` null. ``change`` = value − last year's (null when
    either is missing); ``relative_change`` = change / last year's, null when last year's is 0 or
    missing. Reports of ``previous`` absent from ``current`` are left out. Row order: ``current``'s
    (report order), then the cells only last year.

    Examples
    --------
    >>> from decimal import Decimal
    >>> now = pl.DataFrame({"agency_id": ["a"], "section": ["channels"], "row": ["website"],
    ...     "column": ["items"], "value": [Decimal(30)]})
    >>> before = now.with_columns(value=pl.lit(Decimal(20)))
    >>> year_over_year(now, before)["relative_change"].to_list()
    [0.5]
    """
    key = [by, *CELL_KEY]
    current = _with_labels(current).with_columns(pl.col(by).cast(pl.String))
    if previous is None:
        previous = pl.DataFrame(schema={k: pl.String for k in key} | {"value": VALUE_DTYPE})
    previous = (
        _with_labels(previous)
        .with_columns(pl.col(by).cast(pl.String))
        .join(current.select(by).unique(), on=by, how="semi")
    )
    last = previous.select(*key, last_year_value=pl.col("value").cast(VALUE_DTYPE))
    both = current.join(last, on=key, how="left", maintain_order="left")
    gone = _dictionary_labels(previous.join(current, on=key, how="anti")).select(
        *key,
        "row_label",
        "column_label",
        value=pl.lit(None, VALUE_DTYPE),
        last_year_value=pl.col("value").cast(VALUE_DTYPE),
    )
    value, last_value = pl.col("value"), pl.col("last_year_value")
    change = value.cast(CHANGE_DTYPE) - last_value.cast(CHANGE_DTYPE)
    schema = changes_schema(by)
    return (
        pl.concat([both.select(schema.names()[:8]), gone.select(schema.names()[:8])])
        .cast(dict(list(schema.items())[:8]))
        .with_columns(change=change.cast(CHANGE_DTYPE))
        .with_columns(
            relative_change=pl.when(last_value != 0).then(
                pl.col("change").cast(pl.Float64) / last_value.cast(pl.Float64)
            )
        )
        .select(schema.names())
        .cast(schema)
    )


@dataclass(frozen=True)
class ChangeBounds:
    """How large a change from last year must be for W5 to ask about it.

    Each bound has a floor ("from at least"): a channel going from 2 items to 0 is not news.
    ``flows/settings.py`` sets these from ``NIANBAO_CHANGES__*``; docs/validation.md lists them.
    """

    channel_fall: float = 0.9  # a channel's items fell by this share or more …
    channel_fall_from: int = 10  # … from at least this many items
    requests_rise: float = 10.0  # new requests this many times last year's or more …
    requests_rise_from: int = 5  # … from at least this many
    decisions_factor: float = 10.0  # 许可/处罚/强制 decisions up or down by this factor …
    decisions_from: int = 10  # … from at least this many last year


_DECISION_ROWS = ("licensing", "penalty", "enforcement")


def _unusual(changes: pl.LazyFrame, bounds: ChangeBounds) -> pl.LazyFrame:
    """The cells whose change is beyond ``bounds``, with what was expected and found."""
    value = pl.col("value").cast(pl.Float64)
    last = pl.col("last_year_value").cast(pl.Float64)
    section, row, column = pl.col("section"), pl.col("row"), pl.col("column")
    percent = pl.format("{}%", (pl.col("relative_change") * 100).round(1))
    shown = pl.format(
        "{} (last year {}, {})",
        pl.col("value").cast(pl.String),
        pl.col("last_year_value").cast(pl.String),
        percent,
    )
    factor = bounds.decisions_factor
    checks = [
        (
            (section == "channels")
            & (row != "total")
            & (column == CHANNEL_COLUMN[0])
            & (last >= bounds.channel_fall_from)
            & (last - value >= last * bounds.channel_fall),
            f"a fall of less than {bounds.channel_fall:.0%} from last year",
        ),
        (
            (section == "requests")
            & (row == "new_received")
            & (column == "total")
            & (last >= bounds.requests_rise_from)
            & (value >= last * bounds.requests_rise),
            f"less than {bounds.requests_rise:g} times last year's",
        ),
        (
            (section == "proactive")
            & row.is_in(_DECISION_ROWS)
            & (column == "decisions")
            & (
                (last >= bounds.decisions_from)
                & ((value >= last * factor) | (value * factor <= last))
            ),
            f"within a factor of {factor:g} of last year's",
        ),
    ]
    return pl.concat(
        [
            changes.filter(condition).with_columns(expected=pl.lit(expected))
            for condition, expected in checks
        ]
    ).with_columns(
        cells=pl.concat_str("section", "row", "column", separator="/"),
        actual=shown,
    )


@rule("W5", Level.WARNING, "与上年相比变化异常（请核实）", on="changes")
def w5_unusual_change(changes: pl.LazyFrame, bounds: ChangeBounds) -> pl.LazyFrame:
    """W5: 与上年相比变化异常 (a channel's items fell sharply, new requests or decisions rose or
    fell many times over, beyond ``ChangeBounds``): worth a look before the report is read.

    ``changes`` is :func:`year_over_year`'s frame; cells with no value last year are not checked.
    """
    return _unusual(changes.filter(pl.col("last_year_value").is_not_null()), bounds)


@rule("W6", Level.WARNING, "与上年报告完全相同（请核实是否误用上年数据）", on="changes")
def w6_same_as_last_year(changes: pl.LazyFrame) -> pl.LazyFrame:
    """W6: 与上年报告完全相同 (every cell equals last year's, and not all are zero): last year's
    figures may have been reused by mistake.

    ``changes`` is :func:`year_over_year`'s frame; a report with no report last year is not
    checked, nor one of zeros only (a quiet office may well report nothing twice).
    """
    value, last = pl.col("value"), pl.col("last_year_value")
    return (
        changes.group_by("agency_id")
        .agg(
            same=value.eq_missing(last).all(),
            had_last_year=last.is_not_null().any(),
            cells_n=pl.len(),
            not_zero=(value.fill_null(0) != 0).any(),
        )
        .filter("same", "had_last_year", "not_zero")
        .with_columns(
            cells=pl.lit("the whole report"),
            expected=pl.lit("at least one cell different from last year's report"),
            actual=pl.format("all {} cells equal last year's", "cells_n"),
        )
    )


def year_over_year_warnings(
    current: pl.DataFrame, previous: pl.DataFrame | None, bounds: ChangeBounds = ChangeBounds()
) -> pl.DataFrame:
    """W5 and W6 for every report of ``current`` (``VIOLATION_SCHEMA``), sorted by agency.

    Nothing when there is no last year: a first report has nothing to be compared with.
    """
    if previous is None or previous.is_empty():
        return pl.DataFrame(schema=VIOLATION_SCHEMA)
    changes = year_over_year(current, previous).lazy()
    frames = [w5_unusual_change(changes, bounds), w6_same_as_last_year(changes)]
    return pl.concat(pl.collect_all(frames)).cast(VIOLATION_SCHEMA).sort("agency_id", "rule")
