"""The balancing rules (勾稽关系) of a compiled report, each written once as a Polars query.

A rule takes report cells (``agency_id``, ``section``, ``row``, ``column``, ``value``) and returns
its violations; no rows means the rule holds. The validation suites and the tests both call these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from transforms.cells import APPEALS_COLUMNS, APPLICANT_COLUMNS, OUTCOME_ROW_KEYS

VIOLATION_SCHEMA = pl.Schema(
    {
        "agency_id": pl.String(),
        "rule": pl.String(),
        "severity": pl.String(),
        "cells": pl.String(),
        "expected": pl.String(),
        "actual": pl.String(),
    }
)


class Severity(StrEnum):
    ERROR = "error"  # blocks publication
    WARNING = "warning"  # reported, published anyway


@dataclass(frozen=True)
class BalanceRule:
    id: str
    description: str
    severity: Severity
    find_violations: Callable[..., pl.LazyFrame]


def _violations(frame: pl.LazyFrame, rule: str, severity: Severity) -> pl.LazyFrame:
    return frame.select(
        pl.col("agency_id").cast(pl.String),
        rule=pl.lit(rule),
        severity=pl.lit(severity.value),
        cells=pl.col("cells"),
        expected=pl.col("expected").cast(pl.String),
        actual=pl.col("actual").cast(pl.String),
    )


def _sums_disagree(
    cells: pl.LazyFrame,
    *,
    rule: str,
    section: str,
    along: str,
    totals: pl.Expr,
    parts: pl.Expr,
    describe: str,
) -> pl.LazyFrame:
    """Where, per agency and each ``along`` key, the sum of ``totals`` cells ≠ the sum of ``parts``."""
    value = pl.col("value")
    sums = (
        cells.filter(pl.col("section") == section)
        .group_by("agency_id", along)
        .agg(expected=value.filter(parts).sum(), actual=value.filter(totals).sum())
        .filter(pl.col("expected") != pl.col("actual"))
        .with_columns(cells=pl.lit(f"{section}: {describe} @ ") + pl.col(along))
    )
    return _violations(sums, rule, Severity.ERROR)


def _rows(*keys: str) -> pl.Expr:
    return pl.col("row").is_in(keys)


def _columns(*keys: str) -> pl.Expr:
    return pl.col("column").is_in(keys)


def b1_requests_carry_balance(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B1: new_received + carried_over_from_last_year = outcome_total + carried_to_next_year."""
    return _sums_disagree(
        cells,
        rule="B1",
        section="requests",
        along="column",
        parts=_rows("new_received", "carried_over_from_last_year"),
        totals=_rows("outcome_total", "carried_to_next_year"),
        describe="new_received+carried_over_from_last_year vs outcome_total+carried_to_next_year",
    )


def b2_outcome_total(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B2: outcome_total = the sum of the 21 outcome rows, in each column."""
    return _sums_disagree(
        cells,
        rule="B2",
        section="requests",
        along="column",
        parts=_rows(*OUTCOME_ROW_KEYS),
        totals=_rows("outcome_total"),
        describe="sum of 21 outcome rows vs outcome_total",
    )


def b3_applicant_total(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B3: each requests row's total = the sum of the six applicant columns."""
    return _sums_disagree(
        cells,
        rule="B3",
        section="requests",
        along="row",
        parts=_columns(*(c for c, _ in APPLICANT_COLUMNS)),
        totals=_columns("total"),
        describe="sum of applicant columns vs total",
    )


def b4_appeals_total(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B4: each appeals row's total = upheld + corrected + other + pending."""
    return _sums_disagree(
        cells,
        rule="B4",
        section="appeals",
        along="row",
        parts=_columns(*(c for c, _ in APPEALS_COLUMNS if c != "total")),
        totals=_columns("total"),
        describe="upheld+corrected+other+pending vs total",
    )


def b7_counts_are_whole(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B7: every count is a non-negative whole number and no cell is blank (fees excepted)."""
    value = pl.col("value")
    is_count = ~((pl.col("section") == "proactive") & (pl.col("row") == "fees"))
    whole = value.cast(pl.Float64).floor() == value.cast(pl.Float64)
    bad = cells.filter(value.is_null() | (is_count & ((value < 0) | ~whole))).with_columns(
        cells=pl.concat_str("section", "row", "column", separator="/"),
        expected=pl.lit("a non-negative whole number"),
        actual=value.cast(pl.String).fill_null("blank"),
    )
    return _violations(bad, "B7", Severity.ERROR)


def b8_channel_total(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B8: the channel rows sum to the channel total."""
    return _sums_disagree(
        cells,
        rule="B8",
        section="channels",
        along="column",
        parts=pl.col("row") != "total",
        totals=_rows("total"),
        describe="sum of channels vs total",
    )


def b9_regulations_need_rulemaking_power(
    cells: pl.LazyFrame, agencies: pl.LazyFrame, **_: object
) -> pl.LazyFrame:
    """B9: an agency without rule-making power reports no 规章 at all."""
    powerless = agencies.filter(~pl.col("has_rulemaking_power")).select(
        pl.col("agency_id").cast(pl.String)
    )
    bad = (
        cells.filter((pl.col("section") == "proactive") & (pl.col("row") == "regulations"))
        .filter(pl.col("value") != 0)
        .join(powerless, on="agency_id", how="semi")
        .with_columns(
            cells=pl.concat_str("section", "row", "column", separator="/"),
            expected=pl.lit("0 (no rule-making power in agencies.csv)"),
            actual=pl.col("value").cast(pl.String),
        )
    )
    return _violations(bad, "B9", Severity.ERROR)


BALANCE_RULES = (
    BalanceRule("B1", b1_requests_carry_balance.__doc__ or "", Severity.ERROR, b1_requests_carry_balance),
    BalanceRule("B2", b2_outcome_total.__doc__ or "", Severity.ERROR, b2_outcome_total),
    BalanceRule("B3", b3_applicant_total.__doc__ or "", Severity.ERROR, b3_applicant_total),
    BalanceRule("B4", b4_appeals_total.__doc__ or "", Severity.ERROR, b4_appeals_total),
    BalanceRule("B7", b7_counts_are_whole.__doc__ or "", Severity.ERROR, b7_counts_are_whole),
    BalanceRule("B8", b8_channel_total.__doc__ or "", Severity.ERROR, b8_channel_total),
    BalanceRule("B9", b9_regulations_need_rulemaking_power.__doc__ or "", Severity.ERROR, b9_regulations_need_rulemaking_power),
)  # fmt: skip


def find_balance_violations(cells: pl.LazyFrame, agencies: pl.LazyFrame) -> pl.DataFrame:
    """Every violation of every single-year balancing rule, across all agencies in ``cells``."""
    frames = [rule.find_violations(cells, agencies=agencies) for rule in BALANCE_RULES]
    return pl.concat(pl.collect_all(frames)).cast(VIOLATION_SCHEMA).sort("agency_id", "rule")
