"""Counting rules: normalized records → statutory counts, one function per rule.

Every function returns long counts (``agency_id``, ``section``, ``row``, ``column``, ``value``) for
the cells it knows; the report assembler lays them on the full skeleton, where every other cell is
an explicit zero.
"""

from __future__ import annotations

from enum import StrEnum

import polars as pl

from transforms.cells import (
    CHANNEL_COLUMN,
    FEES_COLUMN,
    FEES_ROW,
    OUTCOME_ROWS,
    VALUE_DTYPE,
    WEBSITE_ROW,
    wechat_row,
)
from transforms.errors import InputError
from transforms.period import Period
from transforms.sources import DISCLOSED_REASON

REFUSAL_GROUPS = ("withheld", "unavailable", "not_processed", "other")
DEFAULT_OUTCOME_PRECEDENCE = REFUSAL_GROUPS


class AppealsRule(StrEnum):
    """Which review and litigation cases a year's report counts."""

    # The default: filed in the year or concluded in it (the common reading of the 2021 form).
    FILED_OR_CONCLUDED = "filed_or_concluded"
    # Also cases filed earlier and still open on 1 January (a stock view some provinces ask for).
    OPEN_DURING_YEAR = "open_during_year"


def _as_counts(frame: pl.LazyFrame, section: str) -> pl.LazyFrame:
    return frame.select(
        pl.col("agency_id").cast(pl.String),
        section=pl.lit(section),
        row=pl.col("row").cast(pl.String),
        column=pl.col("column").cast(pl.String),
        value=pl.col("value").cast(VALUE_DTYPE),
    )


def _count_by(frame: pl.LazyFrame, section: str, *, row: pl.Expr, column: pl.Expr) -> pl.LazyFrame:
    counted = frame.group_by(pl.col("agency_id"), row.alias("row"), column.alias("column")).agg(
        value=pl.len()
    )
    return _as_counts(counted, section)


def count_channel_items(
    website: pl.LazyFrame, wechat: pl.LazyFrame, period: Period
) -> pl.LazyFrame:
    """Items proactively published in the period, per channel (条例第二十三条 channels).

    Website: ``公开方式 = 主动公开`` and ``状态 = 已发布``, by 发布日期. WeChat: each article that is
    not deleted, by its Beijing-time creation date.
    """
    site = website.filter(
        (pl.col("disclosure") == "proactive")
        & (pl.col("state") == "published")
        & period.contains(pl.col("published_on"))
    )
    articles = wechat.filter(~pl.col("is_deleted") & period.contains(pl.col("published_on")))
    items = pl.lit(CHANNEL_COLUMN[0])
    return pl.concat(
        [
            _count_by(site, "channels", row=pl.lit(WEBSITE_ROW), column=items),
            _count_by(articles, "channels", row=wechat_row(pl.col("account")), column=items),
        ]
    )


def count_decisions(decisions: pl.LazyFrame, row: str, period: Period) -> pl.LazyFrame:
    """Licensing, penalty or enforcement decisions made in the period (条例第二十条第五、六项).

    Counted by decision date, not by when the case was received.
    """
    in_period = decisions.filter(period.contains(pl.col("decided_on")))
    return _count_by(in_period, "proactive", row=pl.lit(row), column=pl.lit("decisions"))


def count_documents(documents: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """规章 and 行政规范性文件 issued, repealed and in force (条例第二十条第一项).

    In force at the end of the period: published on or before it and not repealed on or before it.
    """
    issued = documents.filter(period.contains(pl.col("published_on")))
    repealed = documents.filter(period.contains(pl.col("repealed_on")))
    in_force = documents.filter(
        (pl.col("published_on") <= period.end) & period.open_at_end(pl.col("repealed_on"))
    )
    row = pl.col("category")
    return pl.concat(
        [
            _count_by(issued, "proactive", row=row, column=pl.lit("issued")),
            _count_by(repealed, "proactive", row=row, column=pl.lit("repealed")),
            _count_by(in_force, "proactive", row=row, column=pl.lit("in_force")),
        ]
    )


def round_fen_to_10k_yuan(fen: pl.Expr, decimals: pl.Expr) -> pl.Expr:
    """Exact 分 as 万元 rounded half-up (away from zero) to ``decimals`` places (0–4).

    Integer arithmetic throughout: 1 万元 = 1,000,000 分.

    Examples
    --------
    >>> pl.select(round_fen_to_10k_yuan(pl.lit(727_081_234), pl.lit(2))).item()
    Decimal('727.0800')
    """
    unit = pl.lit(10, pl.Int64).pow(6 - decimals.cast(pl.Int64))
    magnitude = (fen.abs() + unit // 2) // unit
    rounded = pl.when(fen < 0).then(-magnitude).otherwise(magnitude)
    return rounded.cast(VALUE_DTYPE) / pl.lit(10, pl.Int64).pow(decimals.cast(pl.Int64)).cast(
        VALUE_DTYPE
    )


def sum_fees(fees: pl.LazyFrame, agencies: pl.LazyFrame, period: Period) -> pl.LazyFrame:
    """行政事业性收费 collected in the period, in 万元 at each agency's precision (第二十条第八项).

    Summed exactly in 分; refunds are negative amounts and net off.
    """
    totals = (
        fees.filter(period.contains(pl.col("paid_on")))
        .group_by(pl.col("agency_id").cast(pl.String))
        .agg(fen=pl.col("amount_fen").sum())
        .join(agencies.select("agency_id", "fee_decimals"), on="agency_id", how="left")
        .select(
            "agency_id",
            row=pl.lit(FEES_ROW),
            column=pl.lit(FEES_COLUMN),
            value=round_fen_to_10k_yuan(pl.col("fen"), pl.col("fee_decimals").fill_null(2)),
        )
    )
    return _as_counts(totals, "proactive")


_OUTCOME_ROW_ORDER = {row: i for i, (row, _, _) in enumerate(OUTCOME_ROWS)}
_OUTCOME_GROUP = {row: group for row, _, group in OUTCOME_ROWS}


def classify_request_outcome(
    requests: pl.LazyFrame, precedence: tuple[str, ...] = DEFAULT_OUTCOME_PRECEDENCE
) -> pl.LazyFrame:
    """Each concluded request's one outcome row (条例第三十六条; 2021 form, 三（二）note).

    - Any item disclosed and any item refused: ``partially_disclosed`` only.
    - Otherwise the first refusal group present in ``precedence`` (default 不予公开 > 无法提供 >
      不予处理 > 其他处理); inside it, the reason with most items, ties by row order.
    - A withdrawn request (申请人撤回) is ``other_other``.

    Adds ``outcome_row`` (null while the request is open).
    """
    if sorted(precedence) != sorted(REFUSAL_GROUPS):
        raise InputError(f"precedence must order exactly {REFUSAL_GROUPS}, got {precedence}")
    group_rank = {group: rank for rank, group in enumerate(precedence)}
    reason_rank = {
        row: group_rank[group] for row, group in _OUTCOME_GROUP.items() if group in group_rank
    }
    keyed = requests.with_columns(_request_ix=pl.int_range(pl.len(), dtype=pl.UInt32))
    items = keyed.select("_request_ix", reason=pl.col("reasons").cast(pl.List(pl.String))).explode(
        "reason"
    )
    refused = (
        items.filter(pl.col("reason").is_in(list(reason_rank)))
        .group_by("_request_ix", "reason")
        .agg(n=pl.len())
        .group_by("_request_ix")
        .agg(
            refused_row=pl.col("reason")
            .sort_by(
                pl.col("reason").replace_strict(reason_rank, return_dtype=pl.UInt8),
                pl.col("n"),
                pl.col("reason").replace_strict(_OUTCOME_ROW_ORDER, return_dtype=pl.UInt8),
                descending=[False, True, False],
            )
            .first()
        )
    )
    any_disclosed_item = pl.col("reasons").list.contains(pl.lit(DISCLOSED_REASON)).fill_null(False)
    disclosed = (pl.col("result") == "disclosed") | any_disclosed_item
    outcome = (
        pl.when(pl.col("concluded_on").is_null())
        .then(None)
        .when(pl.col("result") == "partially_disclosed")
        .then(pl.lit("partially_disclosed"))
        .when(disclosed & pl.col("refused_row").is_not_null())
        .then(pl.lit("partially_disclosed"))
        .when(pl.col("result") == "disclosed")
        .then(pl.lit("disclosed"))
        .otherwise(pl.col("refused_row"))
    )
    return (
        keyed.join(refused, on="_request_ix", how="left")
        .with_columns(outcome_row=outcome)
        .drop("_request_ix", "refused_row")
    )


def count_requests(
    requests: pl.LazyFrame,
    period: Period,
    precedence: tuple[str, ...] = DEFAULT_OUTCOME_PRECEDENCE,
) -> pl.LazyFrame:
    """The section 三 matrix by applicant type, before totals (条例第三十一、三十三条).

    - ``new_received``: received in the period.
    - ``carried_over_from_last_year``: received before it and not concluded before it.
    - one outcome row: concluded in the period.
    - ``carried_to_next_year``: received by its end and not concluded by its end.
    """
    received, concluded = pl.col("received_on"), pl.col("concluded_on")
    flags = {
        "new_received": period.contains(received),
        "carried_over_from_last_year": (received < period.start)
        & (concluded.is_null() | (concluded >= period.start)),
        "carried_to_next_year": (received <= period.end) & period.open_at_end(concluded),
    }
    column = pl.col("applicant_type")
    parts = [
        _count_by(requests.filter(flag), "requests", row=pl.lit(row), column=column)
        for row, flag in flags.items()
    ]
    outcomes = classify_request_outcome(requests.filter(period.contains(concluded)), precedence)
    parts.append(_count_by(outcomes, "requests", row=pl.col("outcome_row"), column=column))
    return pl.concat(parts)


def count_appeals(
    appeals: pl.LazyFrame, period: Period, rule: AppealsRule = AppealsRule.FILED_OR_CONCLUDED
) -> pl.LazyFrame:
    """Section 四: review and litigation cases about disclosure, before totals.

    A counted case concluded in the period goes to its result column; one still open at the end
    of the period is ``pending``. Which cases count is ``rule`` (see :class:`AppealsRule`).
    """
    filed, concluded = pl.col("filed_on"), pl.col("concluded_on")
    counted = period.contains(filed) | period.contains(concluded)
    if AppealsRule(rule) is AppealsRule.OPEN_DURING_YEAR:
        counted = counted | ((filed < period.start) & period.open_at_end(concluded))
    row = (
        pl.when(pl.col("case_type") == "review")
        .then(pl.lit("review"))
        .when(pl.col("route") == "direct")
        .then(pl.lit("litigation_direct"))
        .otherwise(pl.lit("litigation_after_review"))
    )
    column = (
        pl.when(period.contains(concluded))
        .then(pl.col("result").cast(pl.String))
        .otherwise(pl.lit("pending"))
    )
    return _count_by(appeals.filter(counted), "appeals", row=row, column=column)
