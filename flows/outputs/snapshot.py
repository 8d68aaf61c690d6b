"""The compacted snapshot of a year: ``snapshots/year=<Y>/part-<k>.parquet``.

A consumer reading tens of thousands of agencies reads a year in ``SNAPSHOT_PARTS`` files
instead of one ``report_cells`` file per agency. Each part holds the current published cells of
the agencies ``snapshot_part`` assigns to it (a stable hash of the agency id), with
``agency_id`` and ``year`` as columns.

``report_cells`` stays the commit point and the source of truth: a run rewrites the parts holding
its agencies after their cells (read part, replace those agencies' rows, write it whole), before
its publishing journal is marked done. A run cut off in between leaves the journal "publishing":
``restore_interrupted`` rebuilds the parts of the journal's agencies from ``report_cells``. A
year with no snapshot yet (or one of another number of parts) is built whole from
``report_cells``. ``snapshot.json`` says which run each part reflects.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

import polars as pl

from flows.io.store import Store, parquet_bytes, read_parquet_bytes
from flows.outputs.layout import (
    SNAPSHOT_PARTS,
    snapshot_manifest_key,
    snapshot_part,
    snapshot_part_key,
)
from flows.outputs.publish import Release, current_cells_each

# report_cells' columns (docs/published-output.md), after the two its path gives.
SNAPSHOT_SCHEMA = pl.Schema(
    {
        "year": pl.Int64,
        "agency_id": pl.String,
        "section": pl.String,
        "row": pl.String,
        "column": pl.String,
        "value": pl.Decimal(18, 4),
        "row_label": pl.String,
        "column_label": pl.String,
        "status": pl.String,
        "as_of": pl.Date,
        "run_id": pl.String,
    }
)
_CELLS_FILE = "/data.parquet"
_AGENCY_FOLDER = "/agency_id="


def publish_snapshot(
    out: Store, release: Release, published: list[str], cells: pl.DataFrame
) -> list[str]:
    """The snapshot parts holding the agencies this run ``published``, after their cells.

    Their cells are taken from ``cells``: a run of thousands of agencies does not read them
    back. A report the run refused or left at its current version (nothing changed) keeps its
    cells, and so its rows in the snapshot.
    """
    year = release.period.year
    fresh = cells.join(
        pl.DataFrame({"agency_id": published}, schema={"agency_id": pl.String}),
        on="agency_id",
        how="semi",
    ).with_columns(
        status=pl.lit(release.status),
        as_of=pl.lit(release.period.end),
        run_id=pl.lit(release.run_id),
    )
    return refresh_snapshot(out, year, published, release.run_id, fresh)


def refresh_snapshot(
    out: Store,
    year: int,
    agency_ids: list[str],
    run_id: str,
    fresh: pl.DataFrame | None = None,
) -> list[str]:
    """Rewrite the parts holding ``agency_ids`` so that they hold those agencies' current cells:
    ``fresh`` (agency_id and the published columns) for the agencies it has, ``report_cells``
    for the others (none there: the agency leaves the snapshot). Other parts are not read."""
    fresh = _as_rows(fresh, year) if fresh is not None else _empty()
    manifest = read_snapshot_manifest(out, year)
    if manifest is None or manifest.get("parts") != SNAPSHOT_PARTS:
        return build_snapshot(out, year, run_id, fresh)
    if not agency_ids:
        return []
    have = set(fresh["agency_id"].unique())
    read = _read_cells(out, year, [a for a in agency_ids if a not in have])
    members = _parts_of(list(dict.fromkeys(agency_ids)))
    rows_of = _by_part(pl.concat([fresh, read]), members)
    written = []
    for (part,), mine in sorted(members.partition_by("part", as_dict=True).items()):
        key = snapshot_part_key(year, part)
        kept = read_parquet_bytes(out.read_bytes(key)) if out.exists(key) else _empty()
        kept = kept.join(mine, on="agency_id", how="anti")
        written.append(_write_part(out, year, part, [kept, rows_of.get(part, _empty())]))
    _write_manifest(out, year, manifest, sorted(set(members["part"])), run_id)
    return written


def build_snapshot(
    out: Store, year: int, run_id: str, fresh: pl.DataFrame | None = None
) -> list[str]:
    """Every part of year's snapshot from every agency's ``report_cells`` (a first snapshot);
    the agencies in ``fresh`` (snapshot rows of cells just published) are not read back."""
    fresh = fresh if fresh is not None else _empty()
    agency_ids = [
        key.removesuffix(_CELLS_FILE).rsplit(_AGENCY_FOLDER, 1)[1]
        for key in out.keys(f"report_cells/year={year}/")
        if key.endswith(_CELLS_FILE)
    ]
    have = set(fresh["agency_id"].unique())
    unread = [a for a in agency_ids if a not in have]
    rows = pl.concat([fresh, _read_cells(out, year, unread, known_present=True)])
    rows_of = _by_part(rows, _parts_of(agency_ids))
    written = [
        _write_part(out, year, part, [rows_of.get(part, _empty())])
        for part in range(SNAPSHOT_PARTS)
    ]
    _write_manifest(out, year, None, list(range(SNAPSHOT_PARTS)), run_id)
    return written


def read_snapshot_manifest(out: Store, year: int) -> dict | None:
    key = snapshot_manifest_key(year)
    return json.loads(out.read_bytes(key)) if out.exists(key) else None


def _parts_of(agency_ids: list[str]) -> pl.DataFrame:
    """Each agency's part (``agency_id``, ``part``)."""
    parts = [snapshot_part(a) for a in agency_ids]
    return pl.DataFrame(
        {"agency_id": agency_ids, "part": parts}, schema={"agency_id": pl.String, "part": pl.Int64}
    )


def _by_part(rows: pl.DataFrame, parts: pl.DataFrame) -> dict[int, pl.DataFrame]:
    """The rows of each part (one pass over the rows, not one per part)."""
    placed = rows.join(parts, on="agency_id", how="inner", maintain_order="left")
    return {
        part: frame
        for (part,), frame in placed.partition_by(
            "part", as_dict=True, include_key=False, maintain_order=True
        ).items()
    }


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=SNAPSHOT_SCHEMA)


def _as_rows(frame: pl.DataFrame, year: int) -> pl.DataFrame:
    rows = frame.with_columns(year=pl.lit(year, pl.Int64))
    return rows.select(SNAPSHOT_SCHEMA.names()).cast(SNAPSHOT_SCHEMA)


def _read_cells(
    out: Store, year: int, agency_ids: Iterable[str], known_present: bool = False
) -> pl.DataFrame:
    """The current ``report_cells`` of these agencies (those that have them) as snapshot rows."""
    frames = [_as_rows(c, year) for c in current_cells_each(out, year, agency_ids, known_present)]
    return pl.concat(frames) if frames else _empty()


def _write_part(out: Store, year: int, part: int, frames: list[pl.DataFrame]) -> str:
    rows = pl.concat([_empty(), *frames])
    # Agencies in id order, each report's cells in report order: the same rows, the same file.
    rows = rows.sort("agency_id", maintain_order=True)
    return out.write_bytes(snapshot_part_key(year, part), parquet_bytes(rows))


def _write_manifest(
    out: Store, year: int, manifest: dict | None, parts: list[int], run_id: str
) -> None:
    """Written after the parts: which run each part reflects (the run that last rewrote it)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    reflects = dict((manifest or {}).get("snapshot_of", {}))
    for part in parts:
        reflects[f"part-{part:02d}"] = {"run_id": run_id, "written_at": now}
    about = {
        "year": year,
        "parts": SNAPSHOT_PARTS,
        "part_of_agency": f"sha256(agency_id utf-8)[:8] big-endian mod {SNAPSHOT_PARTS}",
        "snapshot_of": dict(sorted(reflects.items())),
    }
    out.write_bytes(snapshot_manifest_key(year), json.dumps(about, indent=2).encode())
