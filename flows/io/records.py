"""The warehouse's normalized records: per source, a few segment files and the index of them.

``records/<source>/index.parquet`` says, for each agency, which segment holds its rows; a
segment (``records/<source>/segment-<name>.parquet``) holds the records of the agencies one run
compiled. A run writes one new segment and then the index (the commit point): the other
agencies' records are not rewritten, and a run cut off before the index leaves the previous
index, and every segment it names, as they were. Segments no agency points to any more are
removed after the index is written. Files are not split per agency (thousands of tiny files
read slower than a few large ones): the count stays bounded by compaction, which folds small
and mostly superseded segments into the run's new segment.

Every reader goes through :func:`scan_records` (a run taking stored records, :func:`scan_taken`).
"""

from __future__ import annotations

import datetime as dt
import io
import time
import uuid
from collections.abc import Callable, Collection

import polars as pl

from flows.io.store import LocalStore, Store, parquet_bytes, read_parquet_bytes
from flows.outputs.layout import (
    records_index_key,
    records_key,
    records_prefix,
    records_quarantine_key,
    records_segment_key,
)
from transforms.normalize import QUARANTINE_SCHEMA
from transforms.sources import SOURCES

# At most this many segments per source after a write. Compaction then folds the smaller half
# into the run's segment, so it happens once every few runs and copies mostly small files.
MAX_SEGMENTS = 8

INDEX_SCHEMA = pl.Schema(
    {
        "agency_id": pl.String(),
        "segment": pl.String(),  # the segment's key in the warehouse
        "rows": pl.Int64(),  # this agency's rows in it
        "segment_rows": pl.Int64(),  # every row written to it, superseded ones included
        # Where the rows came from, so that a later run given the same inputs can take them
        # (and the rows and files quarantined with them, kept beside the segment) instead of
        # normalizing again (flows/io/ingest.py): the digest of the agency's landing files,
        # registry channels and normalizing code (null: unknown, never taken); the run date
        # they were normalized on; whether a row was refused for a date after that day; and
        # the landing rows read for them.
        "inputs": pl.String(),
        "normalized_on": pl.Date(),
        "dated_after_run": pl.Boolean(),
        "rows_read": pl.Int64(),
    }
)

# Per agency compiled: where its rows of one source came from (the last index columns).
PROVENANCE_SCHEMA = pl.Schema(
    {
        name: INDEX_SCHEMA[name]
        for name in ("agency_id", "inputs", "normalized_on", "dated_after_run", "rows_read")
    }
)


def record_schema(source: str) -> pl.Schema:
    """The columns of one source's stored records (agency ids as text, as they are stored)."""
    return pl.Schema({**SOURCES[source].record_schema, "agency_id": pl.String()})


def read_index(warehouse: Store, source: str) -> pl.DataFrame:
    """Which segment holds each agency's records of ``source``; empty when none are stored.

    A warehouse written before segments existed has one file per source: it is read as a
    single segment, and replaced by segments as its agencies are compiled again.
    """
    try:
        return _with_index_columns(
            read_parquet_bytes(warehouse.read_bytes(records_index_key(source)))
        )
    except FileNotFoundError:
        pass
    legacy = records_key(source)
    if not warehouse.exists(legacy):
        return pl.DataFrame(schema=INDEX_SCHEMA)
    rows = (
        _scan_segment(warehouse, legacy)
        .group_by(pl.col("agency_id").cast(pl.String))
        .agg(rows=pl.len().cast(pl.Int64))
        .collect()
    )
    return _with_index_columns(
        rows.with_columns(segment=pl.lit(legacy), segment_rows=pl.lit(rows["rows"].sum(), pl.Int64))
    )


def _with_index_columns(index: pl.DataFrame) -> pl.DataFrame:
    """``index`` with every column of INDEX_SCHEMA: one written before a column existed has it
    null (its rows are not taken for a later run's, only replaced)."""
    missing = [pl.lit(None, dtype).alias(n) for n, dtype in INDEX_SCHEMA.items() if n not in index]
    return index.with_columns(missing).select(INDEX_SCHEMA.names()).cast(INDEX_SCHEMA)


def reusable(index: pl.DataFrame, run_date: dt.date) -> pl.DataFrame:
    """The rows of ``index`` (``read_index``) whose records a run on ``run_date`` may take
    instead of normalizing the same inputs again (its inputs' digest still to be compared).

    Normalizing depends on the run day only through the dates after it, which are refused:
    records of an earlier day qualify when none of their rows was refused so (none of their
    dates is after a later day either), records of the same day always, of a later day never.
    """
    same_day = pl.col("normalized_on") == run_date
    earlier = (pl.col("normalized_on") < run_date) & ~pl.col("dated_after_run")
    return index.filter(pl.col("inputs").is_not_null() & (same_day | earlier))


def scan_taken(
    warehouse: Store, index: pl.DataFrame, source: str
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The current records of the agencies of ``index`` (rows of ``read_index``) of ``source``,
    and the rows and files quarantined when they were normalized, not yet read."""
    return _scan_live(warehouse, index, source), _scan_quarantine_of(warehouse, index)


def scan_records(
    warehouse: Store, source: str, agency_ids: Collection[str] | None = None
) -> pl.LazyFrame:
    """The current records of ``source`` (of these agencies, or of all), not yet read.

    Each segment is scanned for the agencies the index assigns to it: rows an agency's later
    run superseded are never seen. A local warehouse is scanned in place; any other store's
    segments are fetched (compressed) and scanned from memory.
    """
    try:
        index = read_parquet_bytes(warehouse.read_bytes(records_index_key(source)))
    except FileNotFoundError:
        legacy = records_key(source)
        if not warehouse.exists(legacy):
            return pl.LazyFrame(schema=record_schema(source))
        # A warehouse from before segments: its one file is read directly, with no index to
        # build (bench/count.py writes its 100 M records this way).
        scan = _scan_segment(warehouse, legacy)
        return scan if agency_ids is None else scan.filter(pl.col("agency_id").is_in(agency_ids))
    if agency_ids is not None:
        index = index.filter(pl.col("agency_id").is_in(list(agency_ids)))
    return _scan_live(warehouse, index, source)


def _scan_live(warehouse: Store, index: pl.DataFrame, source: str) -> pl.LazyFrame:
    """The rows of the agencies in ``index``, each from the segment the index names."""
    return _by_segment(warehouse, index, lambda segment: segment, record_schema(source))


def _scan_quarantine_of(warehouse: Store, index: pl.DataFrame) -> pl.LazyFrame:
    """What was quarantined normalizing the records of the agencies in ``index``, from beside
    each one's segment (a segment with nothing quarantined has nothing beside it)."""
    return _by_segment(warehouse, index, records_quarantine_key, QUARANTINE_SCHEMA, kept=True)


def _by_segment(
    warehouse: Store,
    index: pl.DataFrame,
    key_of: Callable[[str], str],
    schema: pl.Schema,
    kept: bool = False,
) -> pl.LazyFrame:
    """The rows of the agencies in ``index`` from the file ``key_of`` names for each one's
    segment; with ``kept``, a file that is not there has none."""
    by_segment = index.group_by("segment", maintain_order=True).agg("agency_id").sort("segment")
    frames = []
    for segment, ids in by_segment.iter_rows():
        key = key_of(segment)
        if not kept or warehouse.exists(key):
            frames.append(_scan_segment(warehouse, key).filter(pl.col("agency_id").is_in(ids)))
    if not frames:
        return pl.LazyFrame(schema=schema)
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")


def _scan_segment(warehouse: Store, key: str) -> pl.LazyFrame:
    if isinstance(warehouse, LocalStore):
        # In place, taken literally: a warehouse folder's name is no glob or hive partition.
        return pl.scan_parquet(warehouse.root / key, glob=False, hive_partitioning=False)
    return pl.scan_parquet(io.BytesIO(warehouse.read_bytes(key)), hive_partitioning=False)


def write_records(
    warehouse: Store,
    source: str,
    records: pl.DataFrame,
    agency_ids: Collection[str],
    provenance: pl.DataFrame | None = None,
    quarantine: pl.DataFrame | None = None,
) -> str | None:
    """Replace the records of ``agency_ids`` (those compiled) of ``source`` by ``records``,
    noting where each agency's came from (``provenance``, PROVENANCE_SCHEMA; none: nothing is
    known, so they are never taken for a later run's) and what was quarantined normalizing
    them (``quarantine``, QUARANTINE_SCHEMA, kept beside the segment).

    Writes one new segment (this run's records, with what compaction folds in) and its
    quarantine, then the index, then removes the segments nothing points to. Returns the
    index's uri, or None when there was nothing to replace or fold (nothing is written).
    """
    compiled = [str(a) for a in agency_ids]
    index = read_index(warehouse, source)
    kept = index.filter(~pl.col("agency_id").is_in(compiled))
    folded = _segments_to_fold(kept)
    if kept.height == index.height and not folded and records.is_empty():
        return None
    new = records.with_columns(pl.col("agency_id").cast(pl.String))
    carried = kept.filter(pl.col("segment").is_in(folded))
    set_aside = [] if quarantine is None else [quarantine.cast(QUARANTINE_SCHEMA)]
    if folded:
        rows = _scan_live(warehouse, carried, source).collect()
        new = pl.concat([rows.cast(new.schema), new])
        set_aside.insert(0, _scan_quarantine_of(warehouse, carried).collect())
        kept = kept.filter(~pl.col("segment").is_in(folded))
    added = pl.DataFrame(schema=INDEX_SCHEMA)
    if new.height:
        # Named by time first: listing a source's segments shows them oldest first.
        segment = records_segment_key(source, f"{time.time_ns():x}-{uuid.uuid4().hex[:8]}")
        # In order within each agency: its rows read back come in the order normalizing gave.
        warehouse.write_bytes(segment, parquet_bytes(new.sort("agency_id", maintain_order=True)))
        stored = set(new["agency_id"].unique().to_list())
        beside = pl.concat(set_aside or [pl.DataFrame(schema=QUARANTINE_SCHEMA)])
        beside = beside.filter(pl.col("agency_id").is_in(stored))
        if beside.height:
            warehouse.write_bytes(
                records_quarantine_key(segment),
                parquet_bytes(beside.sort("agency_id", maintain_order=True)),
            )
        known = pl.concat(
            [
                carried.select(PROVENANCE_SCHEMA.names()),
                pl.DataFrame(schema=PROVENANCE_SCHEMA)
                if provenance is None
                else provenance.cast(PROVENANCE_SCHEMA).filter(pl.col("agency_id").is_in(compiled)),
            ]
        )
        added = (
            new.group_by("agency_id")
            .agg(rows=pl.len().cast(pl.Int64))
            .with_columns(segment=pl.lit(segment), segment_rows=pl.lit(new.height, pl.Int64))
            .join(known, on="agency_id", how="left")
            .select(INDEX_SCHEMA.names())
        )
    current = pl.concat([kept, added]).sort("agency_id")
    uri = warehouse.write_bytes(records_index_key(source), parquet_bytes(current))
    segments = set(current["segment"])
    _remove_unreferenced(warehouse, source, segments | set(map(records_quarantine_key, segments)))
    return uri


def _segments_to_fold(kept: pl.DataFrame) -> list[str]:
    """Segments whose live rows are copied into the run's new segment: those mostly superseded
    (rewriting them frees more than it copies) and, when there would be more than
    ``MAX_SEGMENTS``, the smallest, down to half that."""
    sizes = kept.group_by("segment").agg(
        live=pl.col("rows").sum(), written=pl.first("segment_rows")
    )
    dead = sizes.filter(pl.col("live") * 2 < pl.col("written"))
    rest = sizes.join(dead, on="segment", how="anti").sort("live", "segment")
    folded = dead["segment"].to_list()
    if rest.height + 1 > MAX_SEGMENTS:
        folded += rest.head(rest.height + 1 - MAX_SEGMENTS // 2)["segment"].to_list()
    return sorted(folded)


def _remove_unreferenced(warehouse: Store, source: str, referenced: set[str]) -> None:
    """Delete the segments (and their quarantine) the index no longer names, and the
    pre-segment file once unused: superseded ones, and those of a run cut off before its index
    was written."""
    index_key = records_index_key(source)
    for key in warehouse.keys(records_prefix(source)):
        if key != index_key and key not in referenced:
            warehouse.remove(key)
    legacy = records_key(source)
    if legacy not in referenced:
        warehouse.remove(legacy)
