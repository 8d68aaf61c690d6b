"""The steps of a compilation, each a Prefect task: read, store, count, check, publish, record.

flows/recipe.py calls them in order; each can be called (and tested) alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from expectations.run import ReportValidation, validate_reports, validate_source_records
from flows import progress
from flows.data_docs import DocsJob, start_building
from flows.io.ingest import files_in_run, read_and_normalize
from flows.io.landing import (
    NARRATIVE_FOLDER,
    Landing,
    LandingFile,
    ManifestInput,
    ParsedFileCache,
    RegistryInput,
    UnreadableFile,
    file_problem,
    narrative_path,
    read_narrative,
)
from flows.io.records import scan_records, write_records
from flows.io.registry import load_registry
from flows.io.store import Store, parquet_bytes
from flows.outputs.changes import write_changes
from flows.outputs.layout import DATA_DOCS_INDEX, data_docs_key, quarantine_key
from flows.outputs.manifest import completed_manifest, write_manifest
from flows.outputs.publish import (
    Release,
    agency_document,
    publish_report,
    published_cells,
    render_published,
)
from flows.outputs.render import AheadRenders
from flows.outputs.site import build_site
from flows.results import CompileResult, SourceOutcome
from flows.runtime import TRANSIENT_IO_RETRIES
from transforms.balance import VIOLATION_SCHEMA, validation_frame, w2_overdue_open_requests
from transforms.document import Document, Narrative, parse_narrative
from transforms.errors import InputError
from transforms.normalize import QUARANTINE_SCHEMA
from transforms.period import Period
from transforms.report import CountingRules, compile_report_cells
from transforms.rules import level_of, w4_narrative

PUBLISH_BATCH = 100  # agencies per publishing task


@task(cache_policy=NO_CACHE)
def read_registry(
    landing: Landing, agency_ids: list[str] | None
) -> tuple[pl.DataFrame, pl.DataFrame, RegistryInput]:
    """The agencies to compile, the registry rows quarantined, and the registry file's checksum."""
    return load_registry(landing, agency_ids)


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def ingest_source(
    landing: Landing,
    name: str,
    files: list[LandingFile],
    channels: dict[str, list[str]],
    run_date: dt.date,
    cache: ParsedFileCache | None = None,
    warehouse: Store | None = None,
) -> SourceOutcome:
    """Normalized, de-duplicated records of one source and its quarantined rows and files;
    with a ``warehouse``, the stored records of agencies whose inputs did not change."""
    outcome = read_and_normalize(landing, name, files, channels, run_date, cache, warehouse)
    progress.advance("rows read", outcome.rows_read)
    return outcome


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def store_records(
    warehouse: Store, outcomes: Mapping[str, SourceOutcome], agency_ids: list[str]
) -> list[str]:
    """Replace the compiled agencies' normalized records of every source in the warehouse,
    but those taken from it unchanged (``SourceOutcome.reused``).

    Per source, one new segment and the index are written; other agencies' records are left
    as they are (flows/io/records.py). Sources are written side by side (each write waits on
    the disk or the network), in one task: a task per source cost a small run more than the
    writing.
    """

    def store(o: SourceOutcome) -> str | None:
        fresh, quarantine = o.records, o.quarantine
        if o.reused:
            fresh = fresh.filter(~pl.col("agency_id").cast(pl.String).is_in(o.reused))
            quarantine = quarantine.filter(~pl.col("agency_id").is_in(o.reused))
        replaced = sorted(set(agency_ids) - set(o.reused))
        return write_records(warehouse, o.name, fresh, replaced, o.provenance, quarantine)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return [uri for uri in pool.map(store, outcomes.values()) if uri is not None]


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def store_quarantine(warehouse: Store, quarantine: pl.DataFrame, run_id: str) -> str:
    """Every row and file this run quarantined, with its reason, in the warehouse (never in out)."""
    return warehouse.write_bytes(quarantine_key(run_id), parquet_bytes(quarantine))


def scan_stored_records(warehouse: Store, source: str, agency_ids: list[str]) -> pl.LazyFrame:
    """One source's records of these agencies as :func:`store_records` left them, not yet read.

    Whoever collects reads them: counting streams them in batches instead of holding every
    record in memory.
    """
    return scan_records(warehouse, source, agency_ids)


@task(cache_policy=NO_CACHE)
def compile_cells(
    records: Mapping[str, pl.LazyFrame | pl.DataFrame],
    agencies: pl.DataFrame,
    period: Period,
    rules: CountingRules,
) -> pl.DataFrame:
    """Every statutory cell of every selected agency's report (records scanned or in memory)."""
    lazy = {name: frame.lazy() for name, frame in records.items()}
    return compile_report_cells(lazy, agencies, period, rules).collect()


@task(cache_policy=NO_CACHE)
def read_published_cells(out: Store, year: int, agency_ids: list[str]) -> pl.DataFrame | None:
    """The current published cells of ``year`` for these agencies (last year's, for B5 and B6)."""
    return published_cells(out, year, agency_ids)


def _records_named(failed: dict) -> str:
    """``N records, e.g. ag-a/fees/2024.csv:6 (200000000000)``: which landing rows to confirm."""
    examples = "; ".join(f"{e['where']} ({e['value']})" for e in failed["examples"])
    return f"{failed['unexpected_count']} records, e.g. {examples}"


def record_violations(source: str, results: list[dict]) -> list[dict]:
    """Failed record-suite expectations as violation rows, one per agency concerned, each
    naming the file and row of its first records that failed."""
    rows = []
    for r in results:
        if r["success"]:
            continue
        target = r["kwargs"].get("column") or ",".join(
            r["kwargs"].get("column_list")
            or [r["kwargs"].get("column_A", ""), r["kwargs"].get("column_B", "")]
        )
        shown = {
            "unexpected_count": r["unexpected_count"],
            "examples": [{"where": "?", "value": v} for v in r["partial_unexpected_list"][:3]],
        }
        for failed in r.get("by_agency") or [shown | {"agency_id": None}]:
            rows.append(
                {
                    "agency_id": failed["agency_id"],
                    "rule": f"records.{source}:{r['type'].removeprefix('expect_')}({target})",
                    "severity": level_of(r["severity"]),
                    "cells": f"{source} records",
                    "expected": "every record",
                    "actual": _records_named(failed),
                }
            )
    return rows


@task(cache_policy=NO_CACHE)
def check_records(
    outcomes: dict[str, SourceOutcome], run_date: dt.date
) -> tuple[dict, pl.DataFrame]:
    """Every source's record suite on the records this run kept (Polars engine)."""
    results = {
        name: validate_source_records(o.records, name, run_date) for name, o in outcomes.items()
    }
    violations = [v for name, r in results.items() for v in record_violations(name, r)]
    return results, pl.DataFrame(violations, schema=VIOLATION_SCHEMA)


@task(cache_policy=NO_CACHE)
def check_reports(
    cells: pl.DataFrame,
    agencies: pl.DataFrame,
    previous: pl.DataFrame | None,
    requests: pl.DataFrame,
    period: Period,
) -> ReportValidation:
    """The report suite (a Great Expectations suite, run by the Polars engine) on every compiled
    report, plus the W2 warning. Its Data Docs are built later (``publish_data_docs``)."""
    checked = validate_reports(validation_frame(cells, agencies, previous), build_docs=False)
    overdue = w2_overdue_open_requests(requests.lazy(), period).collect()
    checked.violations = pl.concat([checked.violations, overdue]).sort("agency_id", "rule")
    return checked


@task(cache_policy=NO_CACHE)
def publish_data_docs(
    out: Store, checked: ReportValidation, run_id: str, started: dt.datetime
) -> str | None:
    """Start building the Great Expectations Data Docs of this run's report checks, under
    validation/data_docs, in another process (``flows.data_docs``); where its index will be."""
    for path, data in checked.docs_files.items():  # built already (a hand-filled check)
        out.write_bytes(data_docs_key(path), data)
    if checked.docs_files:
        return out.uri(DATA_DOCS_INDEX)
    if checked.frame is None:
        return None
    return start_building(DocsJob(checked.frame, out, run_id, started))


@dataclass(frozen=True)
class NarrativeRead:
    """The narrative files of one run's agencies: parsed, or why one could not be read."""

    narratives: dict[str, Narrative]  # by agency id
    unreadable: dict[str, str]  # agency id → why its narrative file was not used
    quarantine: pl.DataFrame  # a row per unreadable file (QUARANTINE_SCHEMA)


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def read_narratives(
    landing: Landing, files: dict[str, LandingFile], agency_ids: list[str], year: int
) -> NarrativeRead:
    """Each agency's ``<agency_id>/narrative/<year>.md``, where there is one; a file that
    cannot be used is quarantined and its report shows placeholders."""
    narratives, unreadable, problems = {}, {}, []
    for agency_id in agency_ids:
        file = files.get(narrative_path(agency_id, year))
        if file is None:
            continue
        try:
            narratives[agency_id] = parse_narrative(read_narrative(landing, file), file.path)
        except UnreadableFile as error:
            unreadable[agency_id] = str(error)
            problems.append(file_problem(NARRATIVE_FOLDER, file, str(error)))
    return NarrativeRead(narratives, unreadable, pl.DataFrame(problems, schema=QUARANTINE_SCHEMA))


def narrative_findings(
    agency_id: str, year: int, document: Document, read: NarrativeRead
) -> list[dict]:
    """The W4 findings of one report: each placeholder it shows and each problem of its
    narrative file, naming the file."""
    path = narrative_path(agency_id, year)
    found = []
    if agency_id in read.unreadable:
        found.append(
            {
                "cells": path,
                "expected": "a narrative file nianbao can read (docs/report-document.md)",
                "actual": f"叙述文件无法读取，已隔离（{read.unreadable[agency_id]}）",
            }
        )
    narrative = read.narratives.get(agency_id)
    for warning in narrative.warnings if narrative else ():
        found.append(
            {"cells": path, "expected": "headings of docs/report-document.md", "actual": warning}
        )
    if document.placeholders:
        state = "未填写这些部分" if narrative else "叙述文件不存在"
        found.append(
            {
                "cells": path,
                "expected": "叙述文件填写：" + "、".join(document.placeholders),
                "actual": f"{state}：报告中显示占位文字【待填写：…】，不可直接发布",
            }
        )
    return [{"agency_id": agency_id} | f for f in found]


@task(cache_policy=NO_CACHE)
def draft_documents(
    cells: pl.DataFrame,
    agencies: pl.DataFrame,
    previous: pl.DataFrame | None,
    read: NarrativeRead,
    period: Period,
    status: str,
) -> tuple[dict[str, Document], pl.DataFrame]:
    """Every agency's report document (pure and cheap), and its W4 warnings."""
    cells_of = cells.partition_by("agency_id", as_dict=True, include_key=False)
    previous_of = (
        previous.partition_by("agency_id", as_dict=True, include_key=False)
        if previous is not None
        else {}
    )
    documents, findings = {}, []
    for agency in agencies.to_dicts():
        key = (agency["agency_id"],)
        if key not in cells_of:
            continue
        document = agency_document(
            agency,
            cells_of[key],
            previous_of.get(key),
            read.narratives.get(agency["agency_id"]),
            period,
            status,
        )
        documents[agency["agency_id"]] = document
        findings += narrative_findings(agency["agency_id"], period.year, document, read)
    schema = {c: pl.String for c in ("agency_id", "cells", "expected", "actual")}
    w4 = w4_narrative(pl.LazyFrame(findings, schema=schema)).collect()
    return documents, w4


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def publish_reports(
    out: Store,
    agencies: pl.DataFrame,
    cells: pl.DataFrame,
    violations: pl.DataFrame,
    release: Release,
    documents: dict[str, Document] | None = None,
    quarantine: pl.DataFrame | None = None,
    ahead: AheadRenders | None = None,
) -> list[str]:
    """Publish every agency's report (or only its validation result, when it failed).

    The reports that pass are rendered first: taken from those rendered ahead, copied from
    their current version when unchanged, the rest all of the batch at once in worker
    processes; then the files are written.
    """
    cells_of = cells.partition_by("agency_id", as_dict=True, include_key=False)
    violations_of = violations.partition_by("agency_id", as_dict=True)
    no_violations = violations.clear()
    documents = documents or {}
    if quarantine is None:
        quarantine = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    quarantine_of = quarantine.partition_by("agency_id", as_dict=True)
    rows = agencies.to_dicts()
    passing = [
        a["agency_id"]
        for a in rows
        if a["agency_id"] in documents
        and violations_of.get((a["agency_id"],), no_violations)
        .filter(pl.col("severity") == "error")
        .is_empty()
    ]
    renders = render_published(
        out,
        release.period.year,
        [
            (agency_id, documents[agency_id], quarantine_of.get((agency_id,), quarantine.clear()))
            for agency_id in passing
        ],
        ahead,
    )
    rendered = dict(zip(passing, renders, strict=True))

    def publish(agency: dict) -> list[str]:
        key = (agency["agency_id"],)
        progress.advance("reports published")
        return publish_report(
            out,
            agency,
            cells_of[key],
            violations_of.get(key, no_violations),
            release,
            rendered.get(agency["agency_id"]),
        )

    # Writes wait on the disk or the network, not the CPU: overlap them.
    with ThreadPoolExecutor(max_workers=4) as pool:
        return [uri for uris in pool.map(publish, rows) for uri in uris]


def for_agencies(violations: pl.DataFrame, agency_ids: list[str]) -> pl.DataFrame:
    """Run-level problems (no agency) concern every report of the run."""
    everyone = pl.DataFrame({"agency_id": agency_ids}, schema={"agency_id": pl.String})
    general = violations.filter(pl.col("agency_id").is_null()).drop("agency_id")
    return pl.concat(
        [violations.filter(pl.col("agency_id").is_not_null()), everyone.join(general, how="cross")]
    ).select(violations.columns)


class NothingToReport(InputError):
    """A final compile in which every cell of every report is zero: most likely the wrong year
    or landing zone, so nothing is published unless an empty year is asked for."""


def refuse_empty_year(cells: pl.DataFrame, period: Period, zone: object) -> None:
    """Stop a final compile whose reports would all be zeros (a nil return for some agencies
    is normal; for every agency at once it is a mistake until said otherwise)."""
    if cells.is_empty() or (cells["value"] != 0).any():
        return
    raise NothingToReport(
        f"no record of {period.year} in the landing zone {zone}: every report would be all "
        f"zeros, nothing published (if the year really had no records: --allow-empty, flow "
        f"parameter allow_empty)"
    )


@dataclass(frozen=True)
class Selection:
    """What one compilation reads: the agencies, and the landing files that belong to it."""

    agencies: pl.DataFrame
    files_by_source: dict[str, list[LandingFile]]
    misplaced: list[dict]
    registry_quarantine: pl.DataFrame
    registry_input: RegistryInput
    # The agencies' narrative files (of any year) by path: <agency_id>/narrative/<year>.md.
    narratives: dict[str, LandingFile] = field(default_factory=dict)

    @property
    def agency_ids(self) -> list[str]:
        return self.agencies["agency_id"].to_list()


def select_inputs(zone: Landing, agencies: list[str] | None) -> Selection:
    """The registry rows to compile and their landing files, grouped by source."""
    selected, registry_quarantine, registry_input = read_registry(zone, agencies)
    files_by_source, misplaced, narratives = files_in_run(
        zone, selected["agency_id"].to_list(), bool(agencies)
    )
    return Selection(
        selected, files_by_source, misplaced, registry_quarantine, registry_input, narratives
    )


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def record_run(
    out: Store,
    result: CompileResult,
    parameters: dict,
    inputs: list[RegistryInput | ManifestInput],
    started: dt.datetime,
    flow_name: str,
) -> str:
    """The run manifest under ``<out>/runs/``: what was read, kept, checked and written."""
    manifest = completed_manifest(result, parameters, inputs, started, flow_name)
    return write_manifest(out, manifest, started)


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def publish_rollups_of_run(
    out: Store,
    warehouse: Store,
    landing: Landing,
    period: Period,
    status: str,
    run_id: str,
    agency_ids: list[str],
    refused: list[str] | None = None,
) -> dict:
    """The roll-ups of every parent (上级机关, whole registry) of an agency this run compiled;
    ``refused``: the agencies it refused (their previous version is summed, the manifest says so)."""
    from flows.outputs.rollups import publish_rollups

    registry, _, _ = load_registry(landing, None)
    return publish_rollups(
        out, warehouse, registry, period, status, run_id, agency_ids, refused or []
    )


# --- year over year (issue 13) ---------------------------------------------------------------


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def publish_changes(
    out: Store,
    year: int,
    cells: pl.DataFrame,
    previous: pl.DataFrame | None,
    violations: pl.DataFrame,
) -> list[str]:
    """``changes/year=<Y>`` (and Y+1) for the reports this run published: each cell beside
    last year's; refused reports (a blocking violation) keep their rows."""
    refused = set(violations.filter(pl.col("severity") == "error")["agency_id"])
    published = [a for a in cells["agency_id"].unique(maintain_order=True) if a not in refused]
    return write_changes(out, year, cells, previous, published)


# --- the browsable index (issue 13: site) -----------------------------------------------------


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def publish_site(
    out: Store, warehouse: Store, agencies: pl.DataFrame, agency_ids: list[str]
) -> list[str]:
    """index.html of every published agency and roll-up, and the pages of this run's agencies
    (after everything else is published, so it lists what is there now)."""
    return build_site(out, agencies, agency_ids, warehouse)
