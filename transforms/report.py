"""Normalized records → every statutory cell of every agency's report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from transforms.cells import CELL_KEY, OUTCOME_ROW_KEYS, report_skeleton
from transforms.counting import (
    DEFAULT_OUTCOME_PRECEDENCE,
    AppealsRule,
    count_appeals,
    count_channel_items,
    count_decisions,
    count_documents,
    count_requests,
    sum_fees,
)
from transforms.period import Period

REPORT_CELLS_SCHEMA = pl.Schema(
    {
        "agency_id": pl.String(),
        "section": pl.String(),
        "row": pl.String(),
        "column": pl.String(),
        "value": pl.Decimal(18, 4),
        "row_label": pl.String(),
        "column_label": pl.String(),
    }
)


@dataclass(frozen=True)
class CountingRules:
    """The counting choices the statutory format leaves open, set per deployment."""

    outcome_precedence: tuple[str, ...] = DEFAULT_OUTCOME_PRECEDENCE
    appeals_rule: AppealsRule = AppealsRule.FILED_OR_CONCLUDED


def count_all(
    records: Mapping[str, pl.LazyFrame],
    agencies: pl.DataFrame,
    period: Period,
    rules: CountingRules,
) -> pl.LazyFrame:
    """Every non-total count any rule produces, before the skeleton and totals."""
    return pl.concat(
        [
            count_channel_items(records["website"], records["wechat"], period),
            count_documents(records["documents"], period),
            count_decisions(records["licensing"], "licensing", period),
            count_decisions(records["penalty"], "penalty", period),
            count_decisions(records["enforcement"], "enforcement", period),
            sum_fees(records["fees"], agencies.lazy(), period),
            count_requests(records["requests"], period, rules.outcome_precedence),
            count_appeals(records["appeals"], period, rules.appeals_rule),
        ]
    )


def add_totals(counts: pl.LazyFrame) -> pl.LazyFrame:
    """The total cells, each the sum of the cells it totals (so B2, B3, B4 and B8 hold).

    Channels: ``total`` row. Requests: ``outcome_total`` row over the 21 outcome rows, then the
    ``total`` column over the six applicant columns. Appeals: the ``total`` column.
    """
    section, row = pl.col("section"), pl.col("row")
    channels_total = (
        counts.filter(section == "channels")
        .group_by("agency_id", "section", "column")
        .agg(pl.col("value").sum())
        .with_columns(row=pl.lit("total"))
    )
    outcome_total = (
        counts.filter((section == "requests") & row.is_in(OUTCOME_ROW_KEYS))
        .group_by("agency_id", "section", "column")
        .agg(pl.col("value").sum())
        .with_columns(row=pl.lit("outcome_total"))
    )
    requests = pl.concat([counts.filter(section == "requests"), outcome_total], how="diagonal")
    row_totals = (
        pl.concat([requests, counts.filter(section == "appeals")], how="diagonal")
        .group_by("agency_id", "section", "row")
        .agg(pl.col("value").sum())
        .with_columns(column=pl.lit("total"))
    )
    return pl.concat([counts, channels_total, outcome_total, row_totals], how="diagonal")


def compile_report_cells(
    records: Mapping[str, pl.LazyFrame],
    agencies: pl.DataFrame,
    period: Period,
    rules: CountingRules = CountingRules(),
) -> pl.LazyFrame:
    """The full report of each agency in ``agencies``: every cell, zeros explicit, in report order.

    ``records`` maps each source name to its normalized records; ``agencies`` is the registry
    (``agency_id``, ``channels``, ``fee_decimals``, ...). Counts for cells outside an agency's
    report (a WeChat account not in its registry channels) are left out here; the reader reports
    such files.
    """
    skeleton = report_skeleton(agencies).lazy()
    known_counts = count_all(records, agencies, period, rules).join(
        skeleton.select("agency_id", *CELL_KEY), on=["agency_id", *CELL_KEY], how="semi"
    )
    return (
        skeleton.join(
            add_totals(known_counts),
            on=["agency_id", *CELL_KEY],
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.col("value").fill_null(0))
        .select(REPORT_CELLS_SCHEMA.names())
        .cast(REPORT_CELLS_SCHEMA)
    )


def changed_cells(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Cells whose value differs between two versions of one report (or exist in only one)."""
    key = list(CELL_KEY)
    return (
        before.select(*key, old="value")
        .join(after.select(*key, new="value"), on=key, how="full", coalesce=True)
        .filter(pl.col("old").ne_missing(pl.col("new")))
        .sort(key)
    )
