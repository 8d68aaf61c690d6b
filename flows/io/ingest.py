"""Landing zone → normalized records → statutory cells, with no orchestration around it.

The compile flow runs these steps as Prefect tasks and adds storing, checking and publishing;
``ingest_and_compile`` runs them as plain calls, so the counting of a landing folder can be
tested (and reasoned about) in seconds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from flows.io.landing import (
    Landing,
    LandingFile,
    LocalLanding,
    ParsedFileCache,
    SourceRead,
    group_files,
    is_narrative,
    read_source,
)
from flows.io.registry import load_registry
from transforms.normalize import QUARANTINE_SCHEMA, normalize_in_groups
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
) -> tuple[SourceRead, pl.DataFrame, pl.DataFrame]:
    """One source's files read, its records normalized and de-duplicated, and every row or file
    quarantined (the reader's rejections first)."""
    source = SOURCES[name]
    read = read_source(zone, source, files, channels, cache)
    records, quarantine = normalize_in_groups(read.raw, source, run_date, NORMALIZED_TOGETHER)
    return read, records, pl.concat([read.rejected, quarantine])


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
        _, records[name], quarantine = read_and_normalize(zone, name, files, channels, run_date)
        quarantines.append(quarantine)
    lazy = {name: frame.lazy() for name, frame in records.items()}
    cells = compile_report_cells(lazy, selected, period, rules or CountingRules()).collect()
    return cells, pl.concat(quarantines)
