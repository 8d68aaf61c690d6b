"""The balancing rules (勾稽关系) of a compiled report, each written once as a Polars query.

A rule takes report cells (``agency_id``, ``section``, ``row``, ``column``, ``value``) and returns
its violations; no rows means the rule holds. The validation suites and the tests both call these.
Each is declared with its id and level by ``@rule`` (``transforms/rules.py``, the registry).
"""

from __future__ import annotations

import polars as pl

from transforms.cells import (
    APPEALS_COLUMNS,
    APPLICANT_COLUMNS,
    CELL_KEY,
    FEES_ROW,
    OUTCOME_ROW_KEYS,
    VALUE_DTYPE,
    is_money,
    report_skeleton,
)
from transforms.period import Period
from transforms.rules import REPORT_RULES, Level, rule

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


def _found(frame: pl.LazyFrame) -> pl.LazyFrame:
    """A rule's violations before ``@rule`` names the rule and its level."""
    return frame.select("agency_id", "cells", "expected", "actual")


def _sums_disagree(
    cells: pl.LazyFrame,
    *,
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
    return sums


def _rows(*keys: str) -> pl.Expr:
    return pl.col("row").is_in(keys)


def _columns(*keys: str) -> pl.Expr:
    return pl.col("column").is_in(keys)


@rule("C1", Level.ERROR, "报表的每个单元格恰好出现一次，没有格式以外的单元格")
def c1_every_cell_exactly_once(
    cells: pl.LazyFrame, agencies: pl.LazyFrame, **_: object
) -> pl.LazyFrame:
    """C1: every cell of the format is present exactly once, and no cell outside it."""
    key = ["agency_id", *CELL_KEY]
    in_report = agencies.select(pl.col("agency_id").cast(pl.String)).join(
        cells.select(pl.col("agency_id").cast(pl.String)).unique(), on="agency_id", how="semi"
    )
    skeleton = (
        report_skeleton(agencies.join(in_report, on="agency_id", how="semi").collect())
        .lazy()
        .select(key)
    )
    described = pl.concat_str("section", "row", "column", separator="/")
    missing = skeleton.join(cells, on=key, how="anti").with_columns(
        cells=described, expected=pl.lit("present"), actual=pl.lit("missing")
    )
    unknown = cells.join(skeleton, on=key, how="anti").with_columns(
        cells=described,
        expected=pl.lit("absent (not a cell of the format)"),
        actual=pl.lit("present"),
    )
    repeated = (
        cells.group_by(key)
        .agg(times=pl.len())
        .filter(pl.col("times") > 1)
        .with_columns(
            cells=described, expected=pl.lit("once"), actual=pl.format("{} times", "times")
        )
    )
    return pl.concat([_found(f) for f in (missing, unknown, repeated)])


@rule("B1", Level.ERROR, "本年新收 + 上年结转 = 办理结果总计 + 结转下年度（各申请人列）")
def b1_requests_carry_balance(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B1: new_received + carried_over_from_last_year = outcome_total + carried_to_next_year."""
    return _sums_disagree(
        cells,
        section="requests",
        along="column",
        parts=_rows("new_received", "carried_over_from_last_year"),
        totals=_rows("outcome_total", "carried_to_next_year"),
        describe="new_received+carried_over_from_last_year vs outcome_total+carried_to_next_year",
    )


@rule("B2", Level.ERROR, "办理结果总计 = 21 项办理结果之和（各申请人列）")
def b2_outcome_total(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B2: outcome_total = the sum of the 21 outcome rows, in each column."""
    return _sums_disagree(
        cells,
        section="requests",
        along="column",
        parts=_rows(*OUTCOME_ROW_KEYS),
        totals=_rows("outcome_total"),
        describe="sum of 21 outcome rows vs outcome_total",
    )


@rule("B3", Level.ERROR, "申请情况每行的总计 = 六类申请人之和")
def b3_applicant_total(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B3: each requests row's total = the sum of the six applicant columns."""
    return _sums_disagree(
        cells,
        section="requests",
        along="row",
        parts=_columns(*(c for c, _ in APPLICANT_COLUMNS)),
        totals=_columns("total"),
        describe="sum of applicant columns vs total",
    )


@rule("B4", Level.ERROR, "复议、诉讼每行的总计 = 结果维持 + 结果纠正 + 其他结果 + 尚未审结")
def b4_appeals_total(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B4: each appeals row's total = upheld + corrected + other + pending."""
    return _sums_disagree(
        cells,
        section="appeals",
        along="row",
        parts=_columns(*(c for c, _ in APPEALS_COLUMNS if c != "total")),
        totals=_columns("total"),
        describe="upheld+corrected+other+pending vs total",
    )


@rule("B7", Level.ERROR, "数量为非负整数，单元格不空（收费金额除外）")
def b7_counts_are_whole(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B7: every count is a non-negative whole number and no cell is blank (fees excepted)."""
    value = pl.col("value")
    is_count = ~is_money()
    whole = value.cast(pl.Float64).floor() == value.cast(pl.Float64)
    bad = cells.filter(value.is_null() | (is_count & ((value < 0) | ~whole))).with_columns(
        cells=pl.concat_str("section", "row", "column", separator="/"),
        expected=pl.lit("a non-negative whole number"),
        actual=value.cast(pl.String).fill_null("blank"),
    )
    return bad


@rule("B8", Level.ERROR, "各渠道条数之和 = 渠道合计")
def b8_channel_total(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """B8: the channel rows sum to the channel total."""
    return _sums_disagree(
        cells,
        section="channels",
        along="column",
        parts=pl.col("row") != "total",
        totals=_rows("total"),
        describe="sum of channels vs total",
    )


@rule("B9", Level.ERROR, "没有规章制定权的机关不填报规章")
def b9_regulations_need_rulemaking_power(
    cells: pl.LazyFrame, agencies: pl.LazyFrame, **_: object
) -> pl.LazyFrame:
    """B9: an agency without rule-making power reports no 规章 at all.

    An agency whose power is unknown (null: no registry row) is not checked: unknown is not "no".
    """
    # Only a known "no" (False) counts; a null power drops out of the filter.
    powerless = agencies.filter(pl.col("has_rulemaking_power").not_()).select(
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
    return bad


def _year_over_year(
    cells: pl.LazyFrame,
    previous: pl.LazyFrame,
    *,
    expected: pl.Expr,
    actual: pl.Expr,
    section: str,
    along: str,
    describe: str,
) -> pl.LazyFrame:
    """Where a this-year figure disagrees with one derived from last year's published cells.

    Agencies with no cells for last year are not checked: there is nothing to agree with.
    """
    key = ["agency_id", along]
    this_year = cells.filter(pl.col("section") == section).group_by(key).agg(actual=actual)
    last_year = previous.filter(pl.col("section") == section).group_by(key).agg(last=expected)
    bad = (
        this_year.join(last_year, on=key, how="inner")
        .with_columns(expected=pl.col("last"))
        .filter(pl.col("expected") != pl.col("actual"))
        .with_columns(cells=pl.lit(f"{section}: {describe} @ ") + pl.col(along))
    )
    return bad


def _value_in(column: str) -> pl.Expr:
    return pl.col("value").filter(pl.col("column") == column).sum()


@rule("B5", Level.ERROR, "上年结转 = 上年报告的结转下年度（逐列）")
def b5_carry_over_matches_last_year(
    cells: pl.LazyFrame, previous: pl.LazyFrame | None = None, **_: object
) -> pl.LazyFrame:
    """B5: carried_over_from_last_year of Y = carried_to_next_year of Y−1, column by column."""
    if previous is None:
        return pl.LazyFrame(schema=VIOLATION_SCHEMA)
    return _year_over_year(
        cells.filter(pl.col("row") == "carried_over_from_last_year"),
        previous.filter(pl.col("row") == "carried_to_next_year"),
        actual=pl.col("value").sum(),
        expected=pl.col("value").sum(),
        section="requests",
        along="column",
        describe="carried_over_from_last_year vs last year's carried_to_next_year",
    )


@rule(
    "B6",
    Level.WARNING,
    "现行有效件数 = 上年现行有效件数 + 本年制发件数 − 本年废止件数（规章、行政规范性文件）",
)
def b6_documents_in_force_roll_forward(
    cells: pl.LazyFrame, previous: pl.LazyFrame | None = None, **_: object
) -> pl.LazyFrame:
    """B6: in_force(Y) = in_force(Y−1) + issued(Y) − repealed(Y), for both document rows."""
    if previous is None:
        return pl.LazyFrame(schema=VIOLATION_SCHEMA)
    documents = pl.col("row").is_in(["regulations", "normative_documents"])
    rolled = (
        cells.filter(documents)
        .join(
            previous.filter(documents, pl.col("column") == "in_force").select(
                "agency_id", "row", last_in_force="value"
            ),
            on=["agency_id", "row"],
            how="inner",
        )
        .group_by("agency_id", "row")
        .agg(
            actual=_value_in("in_force"),
            expected=pl.col("last_in_force").first() + _value_in("issued") - _value_in("repealed"),
        )
        .filter(pl.col("expected") != pl.col("actual"))
        .with_columns(
            cells=pl.lit("proactive: in_force vs last year's in_force + issued − repealed @ ")
            + pl.col("row")
        )
    )
    return rolled


@rule("W1", Level.WARNING, "登记的发布渠道全年未发布任何信息（请核实）")
def w1_channel_published_nothing(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """W1: a registry channel that published nothing in the whole period (worth a look)."""
    quiet = cells.filter(
        (pl.col("section") == "channels") & (pl.col("row") != "total") & (pl.col("value") == 0)
    ).with_columns(
        cells=pl.concat_str("section", "row", "column", separator="/"),
        expected=pl.lit("at least one item"),
        actual=pl.lit("0"),
    )
    return quiet


@rule("W3", Level.WARNING, "本年收费金额为负数：退费多于收费")
def w3_fee_total_negative(cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """W3: 本年收费金额为负数：退费多于收费 (refunds exceed the fees collected in the period)."""
    negative = cells.filter(
        (pl.col("section") == "proactive") & (pl.col("row") == FEES_ROW) & (pl.col("value") < 0)
    ).with_columns(
        cells=pl.concat_str("section", "row", "column", separator="/"),
        expected=pl.lit("0 or more (refunds net off against fees collected)"),
        actual=pl.col("value").cast(pl.String),
    )
    return negative


# In the order the format lists them: completeness, the balances, then the warnings.
BALANCE_RULES = tuple(
    sorted(
        (r for r in REPORT_RULES.values() if r.on == "cells"),
        key=lambda r: ("CBW".index(r.id[0]), int(r.id[1:])),
    )
)
RULES_BY_ID = {rule.id: rule for rule in BALANCE_RULES}


# 条例第三十三条: 20 working days, extendable once by 20. Public holidays are not modelled: the
# warning errs towards silence by counting only Saturdays and Sundays as days off.
ANSWER_DEADLINE_WORKING_DAYS = 40


@rule("W2", Level.WARNING, "办理期限（20+20 个工作日）已过仍未办结的申请", on="requests")
def w2_overdue_open_requests(requests: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """W2: requests still open at the end of the period and past the 20+20 working-day limit."""
    overdue = (
        requests.filter(
            (pl.col("received_on") <= period.end)
            & period.open_at_end(pl.col("concluded_on"))
            & (
                pl.col("received_on").dt.add_business_days(
                    ANSWER_DEADLINE_WORKING_DAYS, roll="forward"
                )
                < period.end
            )
        )
        .group_by(pl.col("agency_id").cast(pl.String))
        .agg(
            actual=pl.format(
                "{} open past the deadline: {}",
                pl.len(),
                pl.col("request_id").sort().head(5).str.join(", "),
            )
        )
        .with_columns(
            cells=pl.lit("requests/carried_to_next_year"),
            expected=pl.lit(f"none open past {ANSWER_DEADLINE_WORKING_DAYS} working days"),
        )
    )
    return overdue


def find_balance_violations(
    cells: pl.LazyFrame, agencies: pl.LazyFrame, previous: pl.LazyFrame | None = None
) -> pl.DataFrame:
    """Every violation of every rule, across all agencies in ``cells``.

    ``previous`` holds last year's published cells of the same agencies (for B5 and B6), when any.
    """
    frames = [
        rule.find_violations(cells, agencies=agencies, previous=previous) for rule in BALANCE_RULES
    ]
    return pl.concat(pl.collect_all(frames)).cast(VIOLATION_SCHEMA).sort("agency_id", "rule")


# The frame the report suite validates: the cells plus, on every row, what the cross-frame rules
# need (B9: rule-making power; C1: the registry's channels; B5/B6: last year's value of the cell).
# One table lets a validation engine that sees a single batch run every rule.
VALIDATION_FRAME_SCHEMA = pl.Schema(
    {
        "agency_id": pl.String(),
        "section": pl.String(),
        "row": pl.String(),
        "column": pl.String(),
        "value": pl.Float64(),
        "has_rulemaking_power": pl.Boolean(),
        "agency_channels": pl.String(),
        "last_year_value": pl.Float64(),
    }
)
_CHANNEL_SEPARATOR = "|"


def validation_frame(
    cells: pl.DataFrame, agencies: pl.DataFrame, previous: pl.DataFrame | None
) -> pl.DataFrame:
    """Cells with the registry facts and last year's values joined on (counts are exact in f64)."""
    key = ["agency_id", *CELL_KEY]
    last = (
        previous.select(*key, last_year_value="value")
        if previous is not None
        else pl.DataFrame(
            schema={**dict.fromkeys(key, pl.String()), "last_year_value": pl.Float64()}
        )
    )
    registry = agencies.select(
        pl.col("agency_id").cast(pl.String),
        "has_rulemaking_power",
        agency_channels=pl.col("channels").list.join(_CHANNEL_SEPARATOR),
    )
    return (
        cells.select(*key, "value")
        .join(registry, on="agency_id", how="left")
        .join(last.with_columns(pl.col("last_year_value").cast(pl.Float64)), on=key, how="left")
        .select(VALIDATION_FRAME_SCHEMA.names())
        .cast(VALIDATION_FRAME_SCHEMA)
    )


def find_violations_in_validation_frame(frame: pl.DataFrame, rule_id: str) -> pl.DataFrame:
    """Run one rule on a validation frame: what a validation engine's custom check calls."""
    key = ["agency_id", *CELL_KEY]
    cells = frame.select(*key, pl.col("value").cast(VALUE_DTYPE))
    agencies = frame.group_by("agency_id", maintain_order=True).agg(
        pl.col("has_rulemaking_power").first(),  # null (unknown) stays null: B9 skips it
        channels=pl.col("agency_channels").first().str.split(_CHANNEL_SEPARATOR),
    )
    with_last = frame.filter(pl.col("last_year_value").is_not_null())
    previous = (
        None
        if with_last.is_empty()
        else with_last.select(*key, value=pl.col("last_year_value").cast(VALUE_DTYPE))
    )
    rule = RULES_BY_ID[rule_id]
    found = rule.find_violations(
        cells.lazy(),
        agencies=agencies.lazy(),
        previous=None if previous is None else previous.lazy(),
    )
    return found.collect().cast(VIOLATION_SCHEMA)
