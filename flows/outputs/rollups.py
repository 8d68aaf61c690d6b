"""Publishing the roll-ups along 上级机关 after a run: every parent whose members the run touched.

The sums are ``transforms/rollup.py``'s; here the members' current cells are read (the published
report_cells, else the ``reported`` cells ``nianbao audit --import`` put in the warehouse), the
exact 分 of their fees recovered from the warehouse's fee records, and each roll-up written like
a report: its history version first, then its rendered files, its cells last.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection

import polars as pl

from flows.audit.run import reported_cells_key
from flows.io.records import scan_records
from flows.io.store import Store, parquet_bytes, read_parquet_bytes
from flows.outputs.changes import write_rollup_changes
from flows.outputs.layout import (
    cells_key,
    rollup_cells_key,
    rollup_report_key,
    rollup_version_key,
)
from flows.outputs.publish import (
    Release,
    begin_publishing,
    end_publishing,
    period_text,
    version_about,
)
from flows.outputs.render import render_reports
from flows.outputs.versions import Version, write_version
from transforms.cells import CELL_KEY, is_money
from transforms.document import report_document
from transforms.errors import InputError
from transforms.normalize import QUARANTINE_SCHEMA
from transforms.period import Period
from transforms.rollup import (
    FEE_FEN_SCHEMA,
    exact_fee_fen,
    member_pairs,
    rollup_cells,
    unknown_parents,
)

log = logging.getLogger(__name__)

_CELL_COLUMNS = ["agency_id", *CELL_KEY, "value"]


def rollup_title(name: str, year: int) -> str:
    """The second title line of a roll-up: 2024年政府信息公开工作年度报告（全区汇总）.

    >>> rollup_title("重庆市綦江区人民政府", 2024), rollup_title("重庆市人民政府", 2024)[-6:]
    ('2024年政府信息公开工作年度报告（全区汇总）', '（全市汇总）')
    """
    scope = next(
        (
            f"全{unit}"
            for unit in ("区", "县", "市", "省")
            if name.removesuffix("人民政府").endswith(unit)
        ),
        "全系统",
    )
    return f"{year}年政府信息公开工作年度报告（{scope}汇总）"


def member_cells(out: Store, warehouse: Store, year: int, member_ids: list[str]) -> pl.DataFrame:
    """The current cells of each member: its published report, else its reported cells, else
    none (a missing member). ``source`` says which (``compiled`` | ``reported``)."""
    frames = []
    for agency_id in member_ids:
        for store, key, source in (
            (out, cells_key(year, agency_id), "compiled"),
            (warehouse, reported_cells_key(year, agency_id), "reported"),
        ):
            if store.exists(key):
                frames.append(
                    read_parquet_bytes(store.read_bytes(key)).select(
                        pl.lit(agency_id).alias("agency_id"),
                        *CELL_KEY,
                        "value",
                        source=pl.lit(source),
                    )
                )
                break
    if not frames:
        return pl.DataFrame(
            schema={"agency_id": pl.String, **dict.fromkeys(CELL_KEY, pl.String)}
            | {"value": pl.Decimal(18, 4), "source": pl.String}
        )
    return pl.concat(frames)


def compiled_fee_fen(
    warehouse: Store, cells: pl.DataFrame, agencies: pl.DataFrame, period: Period
) -> pl.DataFrame:
    """The exact 分 of each compiled member's published fee, where the warehouse's fee records
    still round to it (``exact_fee_fen``); reported members have only their 万元."""
    fee_cells = cells.filter(is_money() & (pl.col("source") == "compiled"))
    if fee_cells.is_empty():
        return pl.DataFrame(schema=FEE_FEN_SCHEMA)
    fees = scan_records(warehouse, "fees", fee_cells["agency_id"].unique().to_list()).collect()
    return exact_fee_fen(fees, fee_cells, agencies, period.contains(pl.col("paid_on")))


def parents_to_recompute(pairs: pl.DataFrame, changed: list[str]) -> list[str]:
    """Every parent with a member among ``changed`` (the run's agencies): its sums may differ."""
    return sorted(pairs.filter(pl.col("member_id").is_in(changed))["parent_id"].unique())


def refused_members(
    pairs: pl.DataFrame, cells: pl.DataFrame, refused: Collection[str]
) -> dict[str, list[str]]:
    """Per parent, its members in ``refused`` whose (previous) cells were summed; a refused
    member never published has no cells: it is among the parent's missing instead."""
    summed = pairs.filter(
        pl.col("member_id").is_in(list(refused))
        & pl.col("member_id").is_in(cells["agency_id"].unique().implode())
    )
    grouped = summed.group_by("parent_id").agg(pl.col("member_id").sort()).sort("parent_id")
    return {parent: members for parent, members in grouped.iter_rows()}


def publish_rollups(
    out: Store,
    warehouse: Store,
    registry: pl.DataFrame,
    period: Period,
    status: str,
    run_id: str,
    changed: list[str],
    refused: Collection[str] = (),
) -> dict:
    """Recompute and publish the roll-up of every parent of an agency in ``changed``.

    ``refused``: the agencies whose report this run refused (a blocking violation); their
    previous current version is what is summed.

    Returns what the manifest records: ``published`` (parent ids), ``missing`` (per parent, the
    agencies of its subtree with no current report), ``refused`` (per parent, its members this
    run refused that were summed at their previous current version), ``unknown_parents``
    (上级机关 not in the registry: those agencies are roots) and ``error`` (a cycle in 上级机关:
    nothing rolled up).
    """
    year = period.year
    unknown = unknown_parents(registry).to_dicts()
    for row in unknown:
        log.warning("上级机关 %r of %s is not in agencies.csv: not rolled up", *row.values())
    try:
        pairs = member_pairs(registry)
    except InputError as error:
        log.error("no roll-ups: %s", error)
        return {
            "published": [],
            "missing": {},
            "refused": {},
            "unknown_parents": unknown,
            "error": str(error),
        }
    parents = parents_to_recompute(pairs, changed)
    wanted = pairs.filter(pl.col("parent_id").is_in(parents))
    cells = member_cells(out, warehouse, year, sorted(wanted["member_id"].unique()))
    fee_fen = compiled_fee_fen(warehouse, cells, registry, period)
    rollups = rollup_cells(cells, wanted, fee_fen, registry)
    names = dict(registry.select("agency_id", "name").iter_rows())
    decimals = dict(registry.select("agency_id", "fee_decimals").iter_rows())
    of_parent = rollups.partition_by("agency_id", as_dict=True, maintain_order=True)
    documents = []
    for parent in parents:
        mine = of_parent[(parent,)]
        name = names.get(parent) or parent
        document = report_document(
            {"agency_name": name},
            year,
            "final" if status == "final" else "provisional",
            period_text(period),
            mine,
            None,
            None,
            decimals[parent],
        )
        title = (name, rollup_title(name, year), *document.title[2:])
        documents.append(dataclasses.replace(document, title=title))
    empty = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    rendered = render_reports([(document, empty) for document in documents])
    missing = {}
    # Journalled like the reports: a run cut off in between is repaired at the next one's start.
    begin_publishing(out, year, [], run_id, rollup_ids=parents)
    for parent, files in zip(parents, rendered, strict=True):
        mine = of_parent[(parent,)]
        missing[parent] = mine["missing"][0].to_list()
        _publish_rollup(out, year, parent, mine, files, period, status, run_id)
    end_publishing(out, run_id)
    write_rollup_changes(out, year, parents)
    return {
        "published": parents,
        "missing": {p: m for p, m in missing.items() if m},
        "refused": refused_members(wanted, cells, refused),
        "unknown_parents": unknown,
        "error": None,
    }


def _publish_rollup(
    out: Store,
    year: int,
    parent: str,
    rollup: pl.DataFrame,
    files: dict[str, bytes],
    period: Period,
    status: str,
    run_id: str,
) -> None:
    """One roll-up, as ``publish_report`` writes a report: the history version, then the
    current rendered files, the cells last (the commit point readers look at)."""
    published = rollup.drop("agency_id").with_columns(
        status=pl.lit(status), as_of=pl.lit(period.end), run_id=pl.lit(run_id)
    )
    cells_bytes = parquet_bytes(published)
    about = version_about(
        Release(period, status, run_id, []),
        members=int(rollup["members"][0]),
        missing=rollup["missing"][0].to_list(),
    )
    write_version(out, rollup_version_key(year, parent, run_id), Version(about, cells_bytes, files))
    for name, data in files.items():
        out.write_bytes(rollup_report_key(year, parent, name), data)
    out.write_bytes(rollup_cells_key(year, parent), cells_bytes)
