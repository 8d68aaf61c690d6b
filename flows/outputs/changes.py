"""The changes dataset: ``changes/year=<Y>/data.parquet``, every current report beside last year's.

Kept up to date by merging: a run replaces the rows of the reports it published and keeps every
other agency's rows (their current reports did not change). A run publishing year Y also
refreshes year Y+1's rows of those agencies, when they have a current Y+1 report: their "last
year" just changed. Reports a run refused keep their rows (their previous version stays current).
Roll-ups (``kind`` = ``rollup``) are kept the same way, from ``rollup_cells``, whenever a parent's
roll-up is recomputed.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from flows.io.store import Store, parquet_bytes, read_parquet_bytes
from flows.outputs.layout import ROLLUP_CELLS, cells_key, changes_key, rollup_cells_key
from transforms.changes import as_dataset_rows, changes_dataset_schema, year_over_year

_CELL_COLUMNS = ("section", "row", "column", "value", "row_label", "column_label")
_KEY_OF: dict[str, Callable[[int, str], str]] = {"report": cells_key, "rollup": rollup_cells_key}
_DATASET_OF = {"report": "report_cells/", "rollup": ROLLUP_CELLS}


def report_cells(
    out: Store, year: int, agency_id: str, kind: str = "report"
) -> pl.DataFrame | None:
    """One agency's current published cells of ``year`` (its roll-up's, for ``kind`` =
    ``rollup``) with their labels, or None."""
    key = _KEY_OF[kind](year, agency_id)
    if not out.exists(key):
        return None
    cells = read_parquet_bytes(out.read_bytes(key))
    return cells.select(pl.lit(agency_id).alias("agency_id"), *_CELL_COLUMNS)


def current_cells(
    out: Store, year: int, agency_ids: list[str], kind: str = "report"
) -> pl.DataFrame | None:
    """The current published cells of ``year`` with their labels, for those agencies that have
    a current report (roll-up) (found by one listing, not a request per agency), or None."""
    key_of = _KEY_OF[kind]
    present = set(out.keys(f"{_DATASET_OF[kind]}year={year}/"))
    frames = [
        report_cells(out, year, agency_id, kind)
        for agency_id in agency_ids
        if key_of(year, agency_id) in present
    ]
    return pl.concat(frames) if frames else None


def merge_changes(out: Store, year: int, changes: pl.DataFrame, kind: str = "report") -> str:
    """Replace the rows of ``changes``' agencies of this ``kind`` in year's dataset, keep the
    others' (a file from before roll-ups had only reports: its rows are ``report``)."""
    key = changes_key(year)
    schema = changes_dataset_schema()
    rows = as_dataset_rows(changes, kind)
    if out.exists(key):
        kept = read_parquet_bytes(out.read_bytes(key))
        if "kind" not in kept.columns:
            kept = kept.with_columns(kind=pl.lit("report"))
        kept = kept.join(
            rows.select("agency_id", "kind").unique(), on=["agency_id", "kind"], how="anti"
        )
    else:
        kept = rows.clear()
    merged = pl.concat([frame.select(schema.names()).cast(schema) for frame in (kept, rows)]).sort(
        "kind", "agency_id", maintain_order=True
    )  # each report's cells stay in report order
    return out.write_bytes(key, parquet_bytes(merged))


def write_changes(
    out: Store,
    year: int,
    cells: pl.DataFrame,
    previous: pl.DataFrame | None,
    published: list[str],
    kind: str = "report",
) -> list[str]:
    """Year's changes of the ``published`` agencies (their ``cells`` against ``previous``),
    and next year's against these, where next year has current reports (roll-ups) of them."""
    if not published:
        return []
    current = cells.join(pl.DataFrame({"agency_id": published}), on="agency_id", how="semi")
    written = [merge_changes(out, year, year_over_year(current, previous), kind)]
    following = current_cells(out, year + 1, published, kind)
    if following is not None:
        written.append(merge_changes(out, year + 1, year_over_year(following, current), kind))
    return written


def write_rollup_changes(out: Store, year: int, parents: list[str]) -> list[str]:
    """The changes of the roll-ups just recomputed (``parents``), from ``rollup_cells`` of
    year and year − 1; year + 1's rows of them follow."""
    current = current_cells(out, year, parents, "rollup")
    if current is None:
        return []
    previous = current_cells(out, year - 1, parents, "rollup")
    return write_changes(out, year, current, previous, parents, "rollup")
