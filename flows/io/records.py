"""The warehouse's normalized records: per source, a few segment files and the index of them.

``records/<source>/index.parquet`` says, for each agency, which segment holds its rows; a
segment (``records/<source>/segment-<name>.parquet``) holds the records of the agencies one run
compiled. A run writes one new segment and then the index (the commit point): the other
agencies' records are not rewritten, and a run cut off before the index leaves the previous
index, and every segment it names, as they were. Segments no agency points to any more are
removed after the index is written. Files are not split per agency (thousands of tiny files
read slower than a few large ones): the count stays bounded by compaction, which folds small
and mostly superseded segments into the run's new segment.

Every reader goes through :func:`scan_records`.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Collection

import polars as pl

from flows.io.store import LocalStore, Store, parquet_bytes, read_parquet_bytes
from flows.outputs.layout import (
    records_index_key,
    records_key,
    records_prefix,
    records_segment_key,
)
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
        return read_parquet_bytes(warehouse.read_bytes(records_index_key(source)))
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
    return rows.with_columns(
        segment=pl.lit(legacy), segment_rows=pl.lit(rows["rows"].sum(), pl.Int64)
    ).select(INDEX_SCHEMA.names())


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
    by_segment = index.group_by("segment", maintain_order=True).agg("agency_id").sort("segment")
    frames = [
        _scan_segment(warehouse, segment).filter(pl.col("agency_id").is_in(ids))
        for segment, ids in by_segment.iter_rows()
    ]
    if not frames:
        return pl.LazyFrame(schema=record_schema(source))
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")


def _scan_segment(warehouse: Store, key: str) -> pl.LazyFrame:
    if isinstance(warehouse, LocalStore):
        # In place, taken literally: a warehouse folder's name is no glob or hive partition.
        return pl.scan_parquet(warehouse.root / key, glob=False, hive_partitioning=False)
    return pl.scan_parquet(io.BytesIO(warehouse.read_bytes(key)), hive_partitioning=False)


def write_records(
    warehouse: Store, source: str, records: pl.DataFrame, agency_ids: Collection[str]
) -> str:
    """Replace the records of ``agency_ids`` (those compiled) of ``source`` by ``records``.

    Writes one new segment (this run's records, with what compaction folds in), then the
    index, then removes the segments nothing points to. Returns the index's uri.
    """
    compiled = [str(a) for a in agency_ids]
    index = read_index(warehouse, source)
    kept = index.filter(~pl.col("agency_id").is_in(compiled))
    folded = _segments_to_fold(kept)
    new = records.with_columns(pl.col("agency_id").cast(pl.String))
    if folded:
        carried = _scan_live(warehouse, kept.filter(pl.col("segment").is_in(folded)), source)
        new = pl.concat([carried.collect().cast(new.schema), new])
        kept = kept.filter(~pl.col("segment").is_in(folded))
    added = pl.DataFrame(schema=INDEX_SCHEMA)
    if new.height:
        # Named by time first: listing a source's segments shows them oldest first.
        segment = records_segment_key(source, f"{time.time_ns():x}-{uuid.uuid4().hex[:8]}")
        warehouse.write_bytes(segment, parquet_bytes(new.sort("agency_id")))
        added = (
            new.group_by("agency_id")
            .agg(rows=pl.len().cast(pl.Int64))
            .with_columns(segment=pl.lit(segment), segment_rows=pl.lit(new.height, pl.Int64))
            .select(INDEX_SCHEMA.names())
        )
    current = pl.concat([kept, added]).sort("agency_id")
    uri = warehouse.write_bytes(records_index_key(source), parquet_bytes(current))
    _remove_unreferenced(warehouse, source, set(current["segment"]))
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
    """Delete the segments the index no longer names, and the pre-segment file once unused:
    superseded ones, and those of a run cut off before its index was written."""
    index_key = records_index_key(source)
    for key in warehouse.keys(records_prefix(source)):
        if key != index_key and key not in referenced:
            warehouse.remove(key)
    legacy = records_key(source)
    if legacy not in referenced:
        warehouse.remove(legacy)
