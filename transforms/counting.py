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


def _group_flagged(
    frame: pl.LazyFrame, flags: dict[str, pl.Expr], keys: dict[str, pl.Expr]
) -> pl.LazyFrame:
    """``frame`` grouped once by agency, ``keys`` and every flag: a few rows per agency.

    Counting several overlapping subsets from this grouping reads the records once, where one
    filtered scan per subset would read them once per subset.
    """
    return frame.group_by(
        pl.col("agency_id"), **keys, **{n: f.fill_null(False) for n, f in flags.items()}
    ).agg(value=pl.len())


def _spread_flagged(
    grouped: pl.LazyFrame, section: str, flags: list[str], *, row: pl.Expr, column: pl.Expr
) -> pl.LazyFrame:
    """Counts from :func:`_group_flagged`: each group counts once for each flag that holds.

    ``row`` and ``column`` may name ``flag`` (the flag's name) and the grouping keys.
    """
    spread = grouped.unpivot(
        on=flags,
        index=[c for c in grouped.collect_schema().names() if c not in flags],
        variable_name="flag",
        value_name="holds",
    ).filter(pl.col("holds"))
    counted = spread.group_by("agency_id", row.alias("row"), column.alias("column")).agg(
        pl.col("value").sum()
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
    published, repealed = pl.col("published_on"), pl.col("repealed_on")
    flags = {
        "issued": period.contains(published),
        "repealed": period.contains(repealed),
        "in_force": (published <= period.end) & period.open_at_end(repealed),
    }
    grouped = _group_flagged(documents, flags, keys={"category": pl.col("category")})
    return _spread_flagged(
        grouped, "proactive", list(flags), row=pl.col("category"), column=pl.col("flag")
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
# A refusal reason as one integer, so a request's reasons can be ranked inside its own list:
# precedence rank of its group (high part) and its row's place in the table (low part).
_ROW_ORDER_SPAN = 64
assert len(OUTCOME_ROWS) < _ROW_ORDER_SPAN


def _refused_row(reasons: pl.Expr, reason_rank: dict[str, int]) -> pl.Expr:
    """The refusal reason that decides a request's row, computed within each request's list.

    First group in precedence order; inside it, the reason with most items; ties by row order.
    Null when the request has no refusal reason.
    """
    code_of = {
        row: rank * _ROW_ORDER_SPAN + _OUTCOME_ROW_ORDER[row] for row, rank in reason_rank.items()
    }
    codes = (
        pl.element()
        .replace_strict(code_of, default=None, return_dtype=pl.Int64)
        .drop_nulls()
        .sort()
    )
    run = pl.element().struct
    # Smallest first: lower group rank, then more items, then earlier row.
    order = (
        (run.field("value") // _ROW_ORDER_SPAN) * 2**40
        - run.field("len").cast(pl.Int64) * _ROW_ORDER_SPAN
        + run.field("value") % _ROW_ORDER_SPAN
    )
    # Two list passes: run lengths of the sorted codes, then the best run.
    best = (
        reasons.cast(pl.List(pl.String))
        .list.eval(codes.rle())
        .list.eval(pl.element().sort_by(order).first())
        .list.first()
        .struct.field("value")
    )
    row_of = {code: row for row, code in code_of.items()}
    return best.replace_strict(row_of, default=None, return_dtype=pl.String)


def _concluded_outcome_row(precedence: tuple[str, ...]) -> pl.Expr:
    """The outcome row of a concluded request, from its ``result`` and ``reasons``."""
    if sorted(precedence) != sorted(REFUSAL_GROUPS):
        raise InputError(f"precedence must order exactly {REFUSAL_GROUPS}, got {precedence}")
    group_rank = {group: rank for rank, group in enumerate(precedence)}
    reason_rank = {
        row: group_rank[group] for row, group in _OUTCOME_GROUP.items() if group in group_rank
    }
    refused_row = _refused_row(pl.col("reasons"), reason_rank)
    any_disclosed_item = pl.col("reasons").list.contains(pl.lit(DISCLOSED_REASON)).fill_null(False)
    disclosed = (pl.col("result") == "disclosed") | any_disclosed_item
    return (
        pl.when(pl.col("result") == "partially_disclosed")
        .then(pl.lit("partially_disclosed"))
        .when(disclosed & refused_row.is_not_null())
        .then(pl.lit("partially_disclosed"))
        .when(pl.col("result") == "disclosed")
        .then(pl.lit("disclosed"))
        .otherwise(refused_row)
    )


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
    outcome = _concluded_outcome_row(precedence)
    return requests.with_columns(
        outcome_row=pl.when(pl.col("concluded_on").is_not_null()).then(outcome)
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
        "concluded": period.contains(concluded),
    }
    grouped = _group_flagged(
        requests,
        flags,
        keys={c: pl.col(c) for c in ("applicant_type", "result", "reasons")},
    )
    # The outcome depends on a request's result and reasons only: ranked once per distinct
    # pair (a few hundred), not once per request.
    outcomes = (
        grouped.filter("concluded")
        .select("result", "reasons")
        .unique()
        .with_columns(outcome_row=_concluded_outcome_row(precedence))
    )
    classified = grouped.join(
        outcomes, on=["result", "reasons"], how="left", nulls_equal=True
    ).drop("result", "reasons")
    # The outcome only counts for a request concluded in the period ("concluded" flag).
    row = pl.when(pl.col("flag") == "concluded").then(pl.col("outcome_row")).otherwise("flag")
    return _spread_flagged(
        classified, "requests", list(flags), row=row, column=pl.col("applicant_type")
    )


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
