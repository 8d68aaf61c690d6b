"""Run record suites (Great Expectations JSON) on Polars frames of millions of rows.

Great Expectations has no Polars engine, and its pandas engine costs about 6 µs a row: at city
scale (4.4 M decision records) that would double the compile. The record suites stay Great
Expectations suites, reviewed as JSON; this module evaluates the expectation types they use as
Polars queries, with the same meaning (a test runs both engines on the same data and compares).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

import polars as pl

from transforms.rules import Level

PARTIAL_UNEXPECTED = 10
# Records named per agency in a failed check's result (file:row and value): enough to find
# them, few enough that a check failing on every record stays short.
EXAMPLES_PER_AGENCY = 3


def _resolve(value: object, parameters: Mapping[str, object]) -> object:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return parameters[value["$PARAMETER"]]
    return value


def _bound(value: object, dtype: pl.DataType) -> object:
    """A bound from the suite (JSON) in the column's type: dates come as ISO text."""
    if dtype == pl.Date and isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if dtype == pl.Date and isinstance(value, dt.datetime):
        return value.date()
    return value


def _not_null(frame: pl.LazyFrame, kw: dict) -> tuple[pl.Expr, pl.Expr]:
    column = pl.col(kw["column"])
    return pl.lit(True), column.is_null()


def _in_set(frame: pl.LazyFrame, kw: dict) -> tuple[pl.Expr, pl.Expr]:
    column = pl.col(kw["column"])
    return column.is_not_null(), ~column.cast(pl.String).is_in(kw["value_set"])


def _between(frame: pl.LazyFrame, kw: dict) -> tuple[pl.Expr, pl.Expr]:
    dtype = frame.collect_schema()[kw["column"]]
    column = pl.col(kw["column"])
    outside = pl.lit(False)
    if kw.get("min_value") is not None:
        outside = outside | (column < _bound(kw["min_value"], dtype))
    if kw.get("max_value") is not None:
        outside = outside | (column > _bound(kw["max_value"], dtype))
    return column.is_not_null(), outside


def _pair_greater(frame: pl.LazyFrame, kw: dict) -> tuple[pl.Expr, pl.Expr]:
    a, b = pl.col(kw["column_A"]), pl.col(kw["column_B"])
    considered = a.is_not_null() & b.is_not_null()
    if kw.get("ignore_row_if") not in {"either_value_is_missing", None}:
        raise ValueError(f"unsupported ignore_row_if {kw['ignore_row_if']!r}")
    failed = (a < b) if kw.get("or_equal") else (a <= b)
    return considered, failed


def _compound_unique(frame: pl.LazyFrame, kw: dict) -> tuple[pl.Expr, pl.Expr]:
    columns = kw["column_list"]
    return pl.lit(True), pl.struct(columns).is_duplicated()


EVALUATORS: dict[str, Callable[[pl.LazyFrame, dict], tuple[pl.Expr, pl.Expr]]] = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_be_between": _between,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair_greater,
    "expect_compound_columns_to_be_unique": _compound_unique,
}


def _shown(kw: dict) -> pl.Expr:
    columns = kw.get("column_list") or [
        c for c in (kw.get("column"), kw.get("column_A"), kw.get("column_B")) if c
    ]
    return pl.concat_str(
        [pl.col(c).cast(pl.String).fill_null("null") for c in columns], separator=", "
    )


def _where(names: list[str]) -> pl.Expr:
    """Where a record came from, as an office finds it: ``file:row`` (lineage columns)."""
    if {"file", "row"} <= set(names):
        return pl.format("{}:{}", pl.col("file").fill_null("?"), pl.col("row").fill_null(0))
    return pl.lit(None, pl.String)


def validate_records(
    frame: pl.LazyFrame, suite: dict, parameters: Mapping[str, object] | None = None
) -> list[dict]:
    """One result per expectation of ``suite``: success, counts and a few unexpected values.

    Each result also lists, per agency whose records failed, how many failed and the first
    ``EXAMPLES_PER_AGENCY`` of them as ``file:row`` with their values (``by_agency``), so a
    warning tells the office which landing rows to confirm. All expectations are computed in one
    pass over ``frame``.
    """
    parameters = parameters or {}
    checks, samples = [], []
    names = frame.collect_schema().names()
    by_agency = "agency_id" in names
    for i, expectation in enumerate(suite["expectations"]):
        kwargs = {k: _resolve(v, parameters) for k, v in expectation["kwargs"].items()}
        considered, failed = EVALUATORS[expectation["type"]](frame, kwargs)
        failed = considered & failed.fill_null(False)
        checks += [considered.sum().alias(f"n{i}"), failed.sum().alias(f"bad{i}")]
        samples.append(
            frame.filter(failed).select(_shown(kwargs).alias("value")).head(PARTIAL_UNEXPECTED)
        )
        if by_agency:
            samples.append(
                frame.filter(failed)
                .group_by(pl.col("agency_id").cast(pl.String))
                .agg(
                    count=pl.len(),
                    where=_where(names).head(EXAMPLES_PER_AGENCY),
                    value=_shown(kwargs).head(EXAMPLES_PER_AGENCY),
                )
                .sort("agency_id")
            )
    counts, *found = pl.collect_all([frame.select(checks), *samples])
    per_expectation = 2 if by_agency else 1
    results = []
    for i, expectation in enumerate(suite["expectations"]):
        unexpected = int(counts[f"bad{i}"].item())
        agencies = found[2 * i + 1].to_dicts() if by_agency else []
        results.append(
            {
                "type": expectation["type"],
                "kwargs": expectation["kwargs"],
                "severity": expectation.get("severity", Level.ERROR.gx),
                "success": unexpected == 0,
                "element_count": int(counts[f"n{i}"].item()),
                "unexpected_count": unexpected,
                "partial_unexpected_list": found[per_expectation * i]["value"].to_list(),
                "agencies": [a["agency_id"] for a in agencies],
                "by_agency": [
                    {
                        "agency_id": a["agency_id"],
                        "unexpected_count": a["count"],
                        "examples": [
                            {"where": w, "value": v}
                            for w, v in zip(a["where"], a["value"], strict=True)
                        ],
                    }
                    for a in agencies
                ],
            }
        )
    return results
