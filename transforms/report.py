"""Normalized records → every statutory cell of every agency's report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from transforms.cells import (
    CELL_KEY,
    CHANNEL_COLUMN,
    OUTCOME_ROW_KEYS,
    VALUE_DTYPE,
    report_skeleton,
)
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
        "value": VALUE_DTYPE,
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


def _channel_row() -> pl.Expr:
    """A count of one channel's items (not their total)."""
    return (
        (pl.col("section") == "channels")
        & (pl.col("column") == CHANNEL_COLUMN[0])
        & (pl.col("row") != "total")
    )


def counts_outside_skeleton(counts: pl.LazyFrame, skeleton: pl.LazyFrame) -> pl.LazyFrame:
    """Counts whose cell is not in their agency's report, other than channel rows.

    A count of a channel the registry does not list (a WeChat account, 政府网站) has no row in
    the agency's report by design; the reader rejects such files, so none reaches here from a
    landing zone. Any other count without a cell is a counting rule and the cell dictionary
    disagreeing on a key: a bug.
    """
    return (
        counts.filter(~_channel_row())
        .join(skeleton.select("agency_id", *CELL_KEY), on=["agency_id", *CELL_KEY], how="anti")
        .select(*CELL_KEY, "agency_id")
    )


def check_counts_in_skeleton(counts: pl.LazyFrame, skeleton: pl.LazyFrame) -> None:
    """Raise when a count has no cell to go to, naming its keys: it would otherwise be lost.

    Raises
    ------
    ValueError
        A programming error (a rule and the cell dictionary spell a key differently), not bad
        input: the compile stops rather than publish the cell as 0.
    """
    outside = (
        counts_outside_skeleton(counts, skeleton)
        .group_by(*CELL_KEY)
        .agg(agencies=pl.col("agency_id").n_unique())
        .sort(*CELL_KEY)
        .collect()
    )
    if outside.height:
        keys = ", ".join(
            f"{section}/{row}/{column} ({agencies} agencies)"
            for section, row, column, agencies in outside.head(10).iter_rows()
        )
        more = f" and {outside.height - 10} more" if outside.height > 10 else ""
        raise ValueError(
            f"counts for cells that are not in the cell dictionary (a counting rule and "
            f"transforms/cells.py disagree on a key): {keys}{more}"
        )


def compile_report_cells(
    records: Mapping[str, pl.LazyFrame],
    agencies: pl.DataFrame,
    period: Period,
    rules: CountingRules = CountingRules(),
) -> pl.LazyFrame:
    """The full report of each agency in ``agencies``: every cell, zeros explicit, in report order.

    ``records`` maps each source name to its normalized records; ``agencies`` is the registry
    (``agency_id``, ``channels``, ``fee_decimals``, ...). Counts of a channel not in an agency's
    registry channels are left out here; the reader rejects such files. Any other count outside
    the report is a bug: see :func:`check_counts_in_skeleton`.
    """
    skeleton = report_skeleton(agencies).lazy()
    # Collected once here, by the streaming engine: every source is read once, in batches, and
    # only the counts (a few rows per cell) are held; they are checked, then filled into the
    # skeleton with their totals.
    counts = count_all(records, agencies, period, rules).collect(engine="streaming").lazy()
    check_counts_in_skeleton(counts, skeleton)
    # Checked: every other count has its cell, so only channel counts need matching (a few
    # rows per agency, not every count).
    known_channels = counts.filter(_channel_row()).join(
        skeleton.select("agency_id", *CELL_KEY), on=["agency_id", *CELL_KEY], how="semi"
    )
    known_counts = pl.concat([counts.filter(~_channel_row()), known_channels])
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
