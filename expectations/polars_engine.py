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
    warning tells the office which landing rows to confirm. All expectations are counted in one
    pass over ``frame``, and the examples of those that failed in a second.
    """
    parameters = parameters or {}
    names = frame.collect_schema().names()
    by_agency = "agency_id" in names
    checks, failing = [], []
    for i, expectation in enumerate(suite["expectations"]):
        kwargs = {k: _resolve(v, parameters) for k, v in expectation["kwargs"].items()}
        considered, failed = EVALUATORS[expectation["type"]](frame, kwargs)
        failed = considered & failed.fill_null(False)
        checks += [considered.sum().alias(f"n{i}"), failed.sum().alias(f"bad{i}")]
        failing.append((kwargs, failed))
    counts = frame.select(checks).collect()
    # Examples only for the expectations that failed: most pass, and a query per example list
    # costs more than the counts themselves on a small batch.
    samples: dict[int, tuple[pl.DataFrame, pl.DataFrame | None]] = {}
    wanted = [i for i in range(len(failing)) if counts[f"bad{i}"].item()]
    queries = []
    for i in wanted:
        kwargs, failed = failing[i]
        queries.append(
            frame.filter(failed).select(_shown(kwargs).alias("value")).head(PARTIAL_UNEXPECTED)
        )
        if by_agency:
            queries.append(
                frame.filter(failed)
                .group_by(pl.col("agency_id").cast(pl.String))
                .agg(
                    count=pl.len(),
                    where=_where(names).head(EXAMPLES_PER_AGENCY),
                    value=_shown(kwargs).head(EXAMPLES_PER_AGENCY),
                )
                .sort("agency_id")
            )
    found = pl.collect_all(queries) if queries else []
    per_expectation = 2 if by_agency else 1
    for n, i in enumerate(wanted):
        samples[i] = (found[per_expectation * n], found[2 * n + 1] if by_agency else None)
    results = []
    for i, expectation in enumerate(suite["expectations"]):
        unexpected = int(counts[f"bad{i}"].item())
        values, per_agency = samples.get(i, (None, None))
        agencies = per_agency.to_dicts() if per_agency is not None else []
        results.append(
            {
                "type": expectation["type"],
                "kwargs": expectation["kwargs"],
                "severity": expectation.get("severity", Level.ERROR.gx),
                "success": unexpected == 0,
                "element_count": int(counts[f"n{i}"].item()),
                "unexpected_count": unexpected,
                "partial_unexpected_list": [] if values is None else values["value"].to_list(),
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


# The report suite: a few thousand cells per agency, checked in full. Its results name rows (the
# positions Great Expectations reports as ``unexpected_index_list``) or, for the report rules,
# the violations the rule itself finds, so run.py turns both engines' results into the same
# violation rows.

ROW_INDEX = "__row_index"


def _condition(condition: dict) -> pl.Expr:
    """A row_condition of the suite (a comparison), as pandas' ``query`` evaluates it.

    pandas compares a missing value as unequal to anything: ``!=`` keeps rows whose column is
    null, ``==`` drops them; Polars' ``ne_missing`` and ``eq_missing`` do the same.
    """
    if condition.get("type") != "comparison":
        raise ValueError(f"unsupported row_condition {condition!r}")
    column, operator, value = (
        pl.col(condition["column"]["name"]),
        condition["operator"],
        condition["parameter"],
    )
    if operator == "!=":
        return column.ne_missing(value)
    if operator == "==":
        return column.eq_missing(value)
    raise ValueError(f"unsupported row_condition operator {operator!r}")


def _unexpected_rows(frame: pl.DataFrame, kind: str, kw: dict) -> list[int]:
    """The positions of the rows an expectation of the built-in types finds unexpected."""
    indexed = frame.lazy().with_row_index(ROW_INDEX)
    if kw.get("row_condition") is not None:
        indexed = indexed.filter(_condition(kw["row_condition"]))
    if kind == "expect_compound_columns_to_be_unique":
        # Great Expectations' default for multi-column checks: a row with every column missing
        # is left out (ignore_row_if="all_values_are_missing"); pandas' duplicated(keep=False)
        # marks every copy of a repeated key, missing values equal to each other.
        columns = kw["column_list"]
        considered = ~pl.all_horizontal(pl.col(c).is_null() for c in columns)
        kept = indexed.filter(considered)
        failed = pl.struct(columns).is_duplicated()
        return kept.filter(failed).collect()[ROW_INDEX].to_list()
    considered, failed = EVALUATORS[kind](indexed, kw)
    return indexed.filter(considered & failed.fill_null(False)).collect()[ROW_INDEX].to_list()


def _as_great_expectations_reads(kind: str, kwargs: dict) -> dict:
    """The kwargs as Great Expectations' configuration holds them: numeric bounds as floats
    (its models declare them ``float``), which results and violation rows then show (``0.0``)."""
    if kind != "expect_column_values_to_be_between":
        return kwargs
    return kwargs | {
        k: float(v)
        for k, v in kwargs.items()
        if k in ("min_value", "max_value") and isinstance(v, int) and not isinstance(v, bool)
    }


def validate_report_frame(frame: pl.DataFrame, suite: dict) -> list[dict]:
    """One result per expectation of the report suite, in suite order.

    Each result has the expectation's ``type``, ``kwargs``, ``severity`` and ``success``, and
    either ``unexpected_rows`` (positions in ``frame``, built-in types) or ``violations`` (the
    rows of ``transforms.balance``'s rule, ``expect_report_rule_to_hold``), or ``error`` when
    the expectation could not be evaluated. ``frame`` is a validation frame
    (``transforms.balance.validation_frame``).
    """
    from transforms.balance import find_violations_in_validation_frame

    results = []
    for expectation in suite["expectations"]:
        kind = expectation["type"]
        kw = _as_great_expectations_reads(kind, expectation["kwargs"])
        result = {
            "type": kind,
            "kwargs": kw,
            "severity": expectation.get("severity", Level.ERROR.gx),
        }
        try:
            if kind == "expect_report_rule_to_hold":
                violations = find_violations_in_validation_frame(frame, kw["rule_id"]).to_dicts()
                result |= {"success": not violations, "violations": violations}
            else:
                rows = _unexpected_rows(frame, kind, kw)
                result |= {"success": not rows, "unexpected_rows": rows}
        except Exception as error:  # a broken suite or frame: reported as a failed check
            result |= {"success": False, "error": f"{type(error).__name__}: {error}"}
        results.append(result)
    return results
