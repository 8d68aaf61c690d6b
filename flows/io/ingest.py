"""Landing zone → normalized records → statutory cells, with no orchestration around it.

The compile flow runs these steps as Prefect tasks and adds storing, checking and publishing;
``ingest_and_compile`` runs them as plain calls, so the counting of a landing folder can be
tested (and reasoned about) in seconds.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

import flows.io.landing
import transforms.normalize
import transforms.parse
import transforms.rules
import transforms.sources
from flows.io.landing import (
    Landing,
    LandingFile,
    LocalLanding,
    ManifestInput,
    ParsedFileCache,
    SourceRead,
    group_files,
    in_delivery_order,
    is_narrative,
    manifest_inputs,
    read_source,
    sha256,
)
from flows.io.records import PROVENANCE_SCHEMA, read_index, reusable, scan_taken
from flows.io.registry import load_registry
from flows.io.store import Store
from flows.results import SourceOutcome
from transforms.normalize import DATED_AFTER_RUN, QUARANTINE_SCHEMA, normalize_in_groups
from transforms.period import Period
from transforms.report import CountingRules, compile_report_cells
from transforms.sources import SOURCES


def files_in_run(
    zone: Landing, agency_ids: list[str], named: bool
) -> tuple[dict[str, list[LandingFile]], list[dict], dict[str, LandingFile]]:
    """The landing files a run reads, by source, the misplaced files it reports, and the
    narrative files of its agencies by path.

    A run for named agencies leaves the others' files alone; a run for all reports every file,
    including folders of agencies the registry does not know.
    """
    listed = zone.files()
    by_source, misplaced = group_files(listed)
    selected = set(agency_ids)
    in_run = (lambda agency_id: agency_id in selected) if named else (lambda _: True)
    return (
        {name: [f for f in files if in_run(f.agency_id)] for name, files in by_source.items()},
        [m for m in misplaced if m["agency_id"] is None or in_run(m["agency_id"])],
        {f.path: f for f in listed if is_narrative(f) and f.agency_id in selected},
    )


# Rows of one source normalized in one query (a group of whole agencies): 4 M penalty rows peak
# at 1.2 GiB in groups of 250,000 against 2.7 GiB at once, and take less CPU (bench figures in
# docs/benchmarks.md).
NORMALIZED_TOGETHER = 250_000


def read_and_normalize(
    zone: Landing,
    name: str,
    files: list[LandingFile],
    channels: dict[str, list[str]],
    run_date: dt.date,
    cache: ParsedFileCache | None = None,
    warehouse: Store | None = None,
) -> SourceOutcome:
    """One source's files read, its records normalized and de-duplicated, and every row or file
    quarantined (the reader's rejections first).

    With a ``warehouse``, an agency whose stored records were normalized from the very inputs
    it has now (:func:`taken_from_warehouse`) keeps them: its files are read only to check.
    """
    source = SOURCES[name]
    taken = (
        taken_from_warehouse(zone, warehouse, name, files, channels, run_date)
        if warehouse is not None
        else Taken.nothing(name)
    )
    fresh = [f for f in files if f.agency_id not in taken.agencies]
    read = read_source(zone, source, fresh, channels, cache)
    records, quarantine = normalize_in_groups(read.raw, source, run_date, NORMALIZED_TOGETHER)
    quarantine = pl.concat([read.rejected, quarantine])
    place = {f.path: i for i, f in enumerate(in_delivery_order(files))}
    return SourceOutcome(
        name,
        pl.concat([taken.records.cast(records.schema), records]),
        pl.concat([taken.quarantine, quarantine]),
        read.rows_read + taken.rows_read,
        sorted([*taken.inputs, *read.inputs], key=lambda i: place[i.path]),
        provenance=provenance(read, quarantine, channels, run_date),
        reused=sorted(taken.agencies),
    )


# The code that turns landing bytes into records. Stored records normalized by other code (or
# another Polars) are never taken for a run's: any change to these files normalizes again.
_NORMALIZING_MODULES = (
    flows.io.landing,
    transforms.normalize,
    transforms.parse,
    transforms.rules,
    transforms.sources,
)


@functools.cache
def normalizing_code() -> str:
    """A digest of the normalizing modules' source and the Polars version."""
    digest = hashlib.sha256(pl.__version__.encode())
    for module in _NORMALIZING_MODULES:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def inputs_digest(source: str, channels: list[str], inputs: list[ManifestInput]) -> str:
    """What one agency's records of ``source`` are normalized from: its landing files (path,
    content and delivery time, in delivery order), its registry channels (which decide what is
    refused) and the normalizing code."""
    described = [
        normalizing_code(),
        source,
        sorted(channels),
        [[i.path, i.sha256, i.modified] for i in inputs],
    ]
    return hashlib.sha256(json.dumps(described, ensure_ascii=False).encode()).hexdigest()


def provenance(
    read: SourceRead, quarantine: pl.DataFrame, channels: dict[str, list[str]], run_date: dt.date
) -> pl.DataFrame:
    """Where each agency's freshly normalized records come from (PROVENANCE_SCHEMA), as the
    records index keeps it."""
    inputs_of: dict[str, list[ManifestInput]] = {}
    for i in read.inputs:
        inputs_of.setdefault(i.path.split("/", 1)[0], []).append(i)
    # Rows read: those handed to the normalizer and those the reader could not split.
    split = read.rejected.filter(pl.col("row").is_not_null()).select("agency_id")
    rows = dict(pl.concat([read.raw.select("agency_id"), split]).group_by("agency_id").len().rows())
    refused = quarantine.filter(pl.col("reason").str.starts_with(DATED_AFTER_RUN))
    dated_after_run = set(refused["agency_id"].to_list())
    name = read.source.name
    return pl.DataFrame(
        [
            (
                agency_id,
                inputs_digest(name, channels[agency_id], inputs) if agency_id in channels else None,
                run_date,
                agency_id in dated_after_run,
                rows.get(agency_id, 0),
            )
            for agency_id, inputs in inputs_of.items()
        ],
        schema=PROVENANCE_SCHEMA,
        orient="row",
    )


CHECKSUMS_AT_ONCE = 64  # objects a thread reads and checksums per task


@dataclass(frozen=True)
class Taken:
    """Stored records a run takes instead of normalizing the same inputs again."""

    records: pl.DataFrame
    quarantine: pl.DataFrame
    inputs: list[ManifestInput]
    rows_read: int
    agencies: frozenset[str]

    @classmethod
    def nothing(cls, source: str) -> Taken:
        records = pl.DataFrame(schema=SOURCES[source].record_schema)
        return cls(records, pl.DataFrame(schema=QUARANTINE_SCHEMA), [], 0, frozenset())


def taken_from_warehouse(
    zone: Landing,
    warehouse: Store,
    name: str,
    files: list[LandingFile],
    channels: dict[str, list[str]],
    run_date: dt.date,
) -> Taken:
    """The stored records of ``name``, and what was quarantined normalizing them, of every
    agency whose landing files, channels and normalizing code have the digest its records were
    stored with (and that a run on ``run_date`` may take: see ``reusable``).

    Each such agency's files are read and checksummed again (their content decides, not their
    size or time); an agency whose files cannot all be read is normalized, and quarantined.
    """
    stored = reusable(read_index(warehouse, name), run_date)  # the index read once
    digest_of = dict(zip(stored["agency_id"], stored["inputs"], strict=True))
    files_of: dict[str, list[LandingFile]] = {}
    for file in in_delivery_order(files):
        if file.agency_id in digest_of and file.agency_id in channels:
            files_of.setdefault(file.agency_id, []).append(file)
    if not files_of:
        return Taken.nothing(name)
    paths = [f.path for of_agency in files_of.values() for f in of_agency]
    checksums = _checksums(zone, paths)
    checksum_of = dict(zip(paths, checksums, strict=True))
    taken, inputs = set(), []
    for agency_id, of_agency in files_of.items():
        checksums = [checksum_of[f.path] for f in of_agency]
        if None in checksums:
            continue
        its_inputs = manifest_inputs(name, of_agency, checksums)
        if inputs_digest(name, channels[agency_id], its_inputs) == digest_of[agency_id]:
            taken.add(agency_id)
            inputs += its_inputs
    if not taken:
        return Taken.nothing(name)
    of_taken = stored.filter(pl.col("agency_id").is_in(sorted(taken)))
    records, quarantine = pl.collect_all(scan_taken(warehouse, of_taken, name))
    rows_read = of_taken["rows_read"].sum()
    return Taken(records, quarantine, inputs, int(rows_read), frozenset(taken))


def _checksums(zone: Landing, paths: list[str]) -> list[str | None]:
    """The SHA-256 of each file (None: it cannot be read). A local zone's files one after
    another: from the page cache a small file takes ~35 µs, and threads only contend for the
    interpreter (45,000 files: 2.2 s alone, 3.9 s in four threads). Object storage waits on the
    network for each: side by side, a batch a thread."""
    if isinstance(zone, LocalLanding):
        return [_checksum(zone, p) for p in paths]
    batches = [paths[i : i + CHECKSUMS_AT_ONCE] for i in range(0, len(paths), CHECKSUMS_AT_ONCE)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        done = pool.map(lambda batch: [_checksum(zone, p) for p in batch], batches)
        return [checksum for batch in done for checksum in batch]


def _checksum(zone: Landing, path: str) -> str | None:
    try:
        return sha256(zone.read_bytes(path))
    except OSError:
        return None


def ingest_and_compile(
    landing: str | Path | Landing,
    year: int,
    run_date: dt.date,
    rules: CountingRules | None = None,
    agencies: list[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every cell of the year's reports compiled from a local landing folder, and everything
    quarantined on the way (registry rows, misplaced files, bad files and rows), as the compile
    flow would count them on ``run_date``; nothing is stored, checked or published."""
    zone = landing if isinstance(landing, Landing) else LocalLanding(landing)
    period = Period.of_year(year, as_of=run_date - dt.timedelta(days=1))
    selected, registry_quarantine, _ = load_registry(zone, agencies)
    agency_ids = selected["agency_id"].to_list()
    channels = dict(zip(agency_ids, selected["channels"].to_list(), strict=True))
    files_by_source, misplaced, _ = files_in_run(zone, agency_ids, bool(agencies))
    records: dict[str, pl.DataFrame] = {}
    quarantines = [registry_quarantine, pl.DataFrame(misplaced, schema=QUARANTINE_SCHEMA)]
    for name, files in files_by_source.items():
        outcome = read_and_normalize(zone, name, files, channels, run_date)
        records[name] = outcome.records
        quarantines.append(outcome.quarantine)
    lazy = {name: frame.lazy() for name, frame in records.items()}
    cells = compile_report_cells(lazy, selected, period, rules or CountingRules()).collect()
    return cells, pl.concat(quarantines)
