"""The changes dataset: ``changes/year=<Y>/data.parquet``, every current report beside last year's.

Kept up to date by merging: a run replaces the rows of the reports it published and keeps every
other agency's rows (their current reports did not change). A run publishing year Y also
refreshes year Y+1's rows of those agencies, when they have a current Y+1 report: their "last
year" just changed. Reports a run refused keep their rows (their previous version stays current).
"""

from __future__ import annotations

import polars as pl

from flows.io.store import Store, parquet_bytes, read_parquet_bytes
from flows.outputs.layout import cells_key, changes_key
from transforms.changes import changes_schema, year_over_year

_CELL_COLUMNS = ("section", "row", "column", "value", "row_label", "column_label")


def report_cells(out: Store, year: int, agency_id: str) -> pl.DataFrame | None:
    """One agency's current published cells of ``year`` with their labels, or None."""
    key = cells_key(year, agency_id)
    if not out.exists(key):
        return None
    cells = read_parquet_bytes(out.read_bytes(key))
    return cells.select(pl.lit(agency_id).alias("agency_id"), *_CELL_COLUMNS)


def current_cells(out: Store, year: int, agency_ids: list[str]) -> pl.DataFrame | None:
    """The current published cells of ``year`` with their labels, for those agencies that have
    a current report (found by one listing, not a request per agency), or None."""
    present = set(out.keys(f"report_cells/year={year}/"))
    frames = [
        report_cells(out, year, agency_id)
        for agency_id in agency_ids
        if cells_key(year, agency_id) in present
    ]
    return pl.concat(frames) if frames else None


def merge_changes(out: Store, year: int, changes: pl.DataFrame) -> str:
    """Replace the rows of ``changes``' agencies in year's dataset, keep the others'."""
    key = changes_key(year)
    schema = changes_schema()
    kept = (
        read_parquet_bytes(out.read_bytes(key)).join(changes, on="agency_id", how="anti")
        if out.exists(key)
        else changes.clear()
    )
    merged = pl.concat(
        [frame.select(schema.names()).cast(schema) for frame in (kept, changes)]
    ).sort("agency_id", maintain_order=True)  # each report's cells stay in report order
    return out.write_bytes(key, parquet_bytes(merged))


def write_changes(
    out: Store,
    year: int,
    cells: pl.DataFrame,
    previous: pl.DataFrame | None,
    published: list[str],
) -> list[str]:
    """Year's changes of the ``published`` agencies (their ``cells`` against ``previous``),
    and next year's against these, where next year has current reports of them."""
    if not published:
        return []
    current = cells.join(pl.DataFrame({"agency_id": published}), on="agency_id", how="semi")
    written = [merge_changes(out, year, year_over_year(current, previous))]
    following = current_cells(out, year + 1, published)
    if following is not None:
        written.append(merge_changes(out, year + 1, year_over_year(following, current)))
    return written
