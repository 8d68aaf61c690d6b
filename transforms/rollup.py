"""Roll-ups along 上级机关: a parent agency's report summed from its own and its descendants' cells.

A district (or city) publishes a 全区 (全市) summary: every cell that adds up — 一 by channel row,
二, 三, 四 — summed over the parent and every agency below it, at any depth. Pure: the callers
read the members' current cells (compiled or ``reported``) and publish the result.

Fees are summed in exact 分 and rounded once, at the parent's 收费小数位. A member whose exact
分 is not known (a ``reported`` report, imported from the published 万元; a version published
before exact fees were kept) counts as its rounded 万元 × 1,000,000 分: the roll-up is then exact
up to half a unit of that member's precision, see docs/rollups.md.
"""

from __future__ import annotations

import polars as pl

from transforms.cells import (
    CELL_KEY,
    CHANNEL_COLUMN,
    FEES_COLUMN,
    FEES_ROW,
    WEBSITE_ROW,
    channel_name_key,
    channel_row_label,
    channel_total_cells,
    is_money,
    static_cells,
)
from transforms.counting import round_fen_to_10k_yuan
from transforms.errors import InputError
from transforms.report import REPORT_CELLS_SCHEMA
from transforms.sources import DEFAULT_FEE_DECIMALS

PAIRS_SCHEMA = pl.Schema({"parent_id": pl.String(), "member_id": pl.String()})
FEE_FEN_SCHEMA = pl.Schema({"agency_id": pl.String(), "fen": pl.Int64()})
ROLLUP_CELLS_SCHEMA = pl.Schema(
    {
        **REPORT_CELLS_SCHEMA,
        # Agencies whose cells are summed (the parent included when it has a report).
        "members": pl.UInt32(),
        # Agencies of the subtree (the parent included) with no current report: not summed.
        "missing": pl.List(pl.String()),
    }
)
FEN_PER_10K_YUAN = 1_000_000


def _edges(agencies: pl.DataFrame) -> pl.DataFrame:
    """(parent_id, member_id) of every registry row whose 上级机关 is a registered agency."""
    return (
        agencies.select(pl.col("parent_id").cast(pl.String), member_id=pl.col("agency_id"))
        .filter(pl.col("parent_id").is_in(agencies["agency_id"].implode()))
        .unique()
    )


def unknown_parents(agencies: pl.DataFrame) -> pl.DataFrame:
    """Registry rows whose 上级机关 names no registered agency: ``agency_id``, ``parent_id``.

    Such an agency is a root of its own (nothing rolls it up); the caller warns about it. A
    parent may be absent because its row was rejected, or because it is outside the registry
    on purpose (a 市 department whose 上级 is a ministry): neither is a reason to refuse.
    """
    return agencies.filter(
        pl.col("parent_id").is_not_null()
        & ~pl.col("parent_id").is_in(agencies["agency_id"].implode())
    ).select("agency_id", "parent_id")


def member_pairs(agencies: pl.DataFrame) -> pl.DataFrame:
    """Every agency with children paired with itself and each of its descendants, at any depth.

    The transitive closure of 上级机关 by repeated joins (one per level of the hierarchy) until
    no pair is new. A 上级机关 outside the registry is ignored (see :func:`unknown_parents`).

    Raises
    ------
    InputError
        When 上级机关 goes round in a circle (a is b's parent, b is a's; or a is its own): the
        message names every agency on a cycle.

    Examples
    --------
    >>> agencies = pl.DataFrame({"agency_id": ["city", "dist", "dept"],
    ...                          "parent_id": ["", "city", "dist"]})
    >>> member_pairs(agencies.with_columns(pl.col("parent_id").replace("", None))).rows()
    [('city', 'city'), ('city', 'dept'), ('city', 'dist'), ('dist', 'dept'), ('dist', 'dist')]
    """
    edges = _edges(agencies)
    pairs = edges
    while True:
        deeper = pairs.join(edges, left_on="member_id", right_on="parent_id", suffix="_below")
        grown = pl.concat([pairs, deeper.select("parent_id", member_id="member_id_below")]).unique()
        # Finite even with a cycle (at most n² pairs): every cycle's agencies end up named.
        if grown.height == pairs.height:
            break
        pairs = grown
    on_cycle = pairs.filter(pl.col("parent_id") == pl.col("member_id"))["parent_id"].sort()
    if on_cycle.len():
        raise InputError(
            "上级机关 goes round in a circle in agencies.csv: "
            + ", ".join(on_cycle.to_list())
            + " (each is above itself through 上级机关); fix the 上级机关 of one of them"
        )
    parents = pairs.select("parent_id").unique()
    return (
        pl.concat([pairs, parents.with_columns(member_id=pl.col("parent_id"))])
        .unique()
        .sort("parent_id", "member_id")
        .cast(PAIRS_SCHEMA)
    )


def _member_fen(cells: pl.DataFrame, fee_fen: pl.DataFrame | None) -> pl.DataFrame:
    """Each member's fee in exact 分: its kept exact 分, or else its rounded 万元 in 分."""
    exact = fee_fen if fee_fen is not None else pl.DataFrame(schema=FEE_FEN_SCHEMA)
    fees = cells.filter(is_money()).select(
        "agency_id",
        # Decimal(18, 4) × 10,000 is whole: scale in two integer steps, exactly.
        rounded_fen=(pl.col("value") * 10_000).cast(pl.Int64) * (FEN_PER_10K_YUAN // 10_000),
    )
    return fees.join(
        exact.select(pl.col("agency_id").cast(pl.String), pl.col("fen").cast(pl.Int64)),
        on="agency_id",
        how="left",
    ).select("agency_id", fen=pl.coalesce("fen", "rounded_fen"))


def rollup_cells(
    cells: pl.DataFrame,
    pairs: pl.DataFrame,
    fee_fen: pl.DataFrame | None,
    agencies: pl.DataFrame,
) -> pl.DataFrame:
    """Each parent's roll-up: its members' cells summed, in the report_cells schema plus
    ``members`` and ``missing`` (see ``ROLLUP_CELLS_SCHEMA``).

    ``cells``: the current cells (``agency_id``, ``section``, ``row``, ``column``, ``value``) of
    any agencies, one report each (labels are not read: reported cells have none); a refused report's previous current version is what the caller passes.
    ``pairs``: :func:`member_pairs`. ``fee_fen``: ``agency_id``, ``fen`` — the exact 分 a
    member's fee cell was rounded from, where known (else None). ``agencies``: the registry
    (``agency_id``, ``fee_decimals``). Every cell of 二, 三, 四 is present (0 when no member has
    it); 一 has the union of the members' channel rows and the total of all of them.
    """
    key = ["agency_id", *CELL_KEY]
    members = cells.select(*key, "value").cast({k: REPORT_CELLS_SCHEMA[k] for k in (*key, "value")})
    reporting = members.select(member_id="agency_id").unique()
    coverage = (
        pairs.join(reporting.with_columns(has=pl.lit(True)), on="member_id", how="left")
        .group_by("parent_id")
        .agg(
            members=pl.col("has").sum().cast(pl.UInt32),
            missing=pl.col("member_id").filter(pl.col("has").is_null()).sort(),
        )
    )
    in_rollup = pairs.join(reporting, on="member_id", how="semi").join(
        members, left_on="member_id", right_on="agency_id"
    )
    summed = (
        in_rollup.filter(~is_money())
        .group_by("parent_id", *CELL_KEY)
        .agg(pl.col("value").sum())
        .rename({"parent_id": "agency_id"})
    )
    fen = (
        pairs.join(_member_fen(members, fee_fen), left_on="member_id", right_on="agency_id")
        .group_by("parent_id")
        .agg(pl.col("fen").sum())
        .join(
            agencies.select(parent_id="agency_id", decimals="fee_decimals"),
            on="parent_id",
            how="left",
        )
        .select(
            agency_id="parent_id",
            section=pl.lit("proactive"),
            row=pl.lit(FEES_ROW),
            column=pl.lit(FEES_COLUMN),
            value=round_fen_to_10k_yuan(
                pl.col("fen"), pl.col("decimals").fill_null(DEFAULT_FEE_DECIMALS)
            ),
        )
    )
    parents = coverage.select(agency_id="parent_id")
    # 二, 三, 四: every cell of the format, a key no member has is 0 (so the rules see it).
    static = parents.join(static_cells(), how="cross")
    # Labels from the row key: a ``reported`` member's cells carry none.
    channel = channel_name_key(pl.col("row"))
    channel_rows = summed.filter(
        (pl.col("section") == "channels") & (pl.col("row") != "total")
    ).select(*key, row_label=channel_row_label(channel), column_label=pl.lit(CHANNEL_COLUMN[1]))
    channel_total = channel_total_cells(parents)
    # Report order: 政府网站, the WeChat accounts by name, 合计, then the format's order.
    channels = pl.concat([channel_rows, channel_total]).with_columns(
        position=pl.when(pl.col("row") == WEBSITE_ROW)
        .then(0)
        .when(pl.col("row") == "total")
        .then(999)
        .otherwise(1)
        .cast(pl.UInt32)
    )
    skeleton = pl.concat([channels, static], how="diagonal").sort("agency_id", "position", "row")
    values = pl.concat([summed.select(*key, "value"), fen], how="diagonal")
    return (
        skeleton.join(values, on=key, how="left", maintain_order="left")
        .with_columns(pl.col("value").fill_null(0))
        .join(coverage.rename({"parent_id": "agency_id"}), on="agency_id", how="left")
        .select(ROLLUP_CELLS_SCHEMA.names())
        .cast(ROLLUP_CELLS_SCHEMA)
    )


def exact_fee_fen(
    fees: pl.DataFrame, fee_cells: pl.DataFrame, agencies: pl.DataFrame, period_contains: pl.Expr
) -> pl.DataFrame:
    """Each agency's fees of the period in exact 分 (``FEE_FEN_SCHEMA``), where they are what its
    published fee cell was rounded from.

    ``fees``: normalized fee records (``agency_id``, ``paid_on``, ``amount_fen``); ``fee_cells``:
    the published fee cells (``agency_id``, ``value``). The records are the latest compiled; a
    report refused since, or published for another period, keeps an older cell: a sum that does
    not round to the published value is left out, and that member counts at its rounded 万元.
    """
    sums = (
        fees.filter(period_contains)
        .group_by(pl.col("agency_id").cast(pl.String))
        .agg(fen=pl.col("amount_fen").cast(pl.Int64).sum())
    )
    return (
        fee_cells.select(pl.col("agency_id").cast(pl.String), "value")
        .join(sums, on="agency_id", how="left")
        .with_columns(pl.col("fen").fill_null(0))  # no fee record: exactly 0 分
        .join(agencies.select("agency_id", "fee_decimals"), on="agency_id", how="left")
        .filter(
            round_fen_to_10k_yuan(
                pl.col("fen"), pl.col("fee_decimals").fill_null(DEFAULT_FEE_DECIMALS)
            )
            == pl.col("value")
        )
        .select(FEE_FEN_SCHEMA.names())
        .cast(FEE_FEN_SCHEMA)
    )
