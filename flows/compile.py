"""The annual compilation flow: landing → normalized records → statutory cells → checked → published."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from expectations.run import ReportValidation, validate_reports, validate_source_records
from flows import progress
from flows.clock import beijing_today
from flows.history import mark_crashed, publish_run_artifacts
from flows.ingest import files_in_run, read_and_normalize
from flows.landing import (
    Landing,
    LandingFile,
    ManifestInput,
    ParsedFileCache,
    RegistryInput,
)
from flows.publish import (
    Release,
    RunFailed,
    begin_publishing,
    current_run_id,
    end_publishing,
    publish_report,
    published_cells,
    restore_interrupted,
)
from flows.registry import load_registry
from flows.results import CompileResult, SourceOutcome
from flows.settings import Settings, check_locations, load_settings
from flows.storage import (
    LocalStore,
    StorageAccessError,
    Store,
    parquet_bytes,
    read_parquet_bytes,
)
from transforms.balance import VIOLATION_SCHEMA, validation_frame, w2_overdue_open_requests
from transforms.normalize import QUARANTINE_SCHEMA
from transforms.period import Period, check_report_year
from transforms.report import CountingRules, compile_report_cells
from transforms.rules import level_of

FLOW_NAME = "compile-annual-reports"
PUBLISH_BATCH = 100  # agencies per publishing task


def is_transient_io_error(task, task_run, state) -> bool:
    """Retry only what a second try can fix: a dropped connection, a timeout, a busy resource.

    A missing file, a permission refused or a bug fails at once: retrying would only delay it.
    """
    try:
        state.result()
    except (ConnectionError, TimeoutError, InterruptedError, BlockingIOError):
        return True
    except Exception:
        return False
    return False


TRANSIENT_IO_RETRIES = {
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": is_transient_io_error,
}


def new_run_id() -> str:
    """The Prefect flow run id when running in a flow, so the manifest and the UI agree."""
    return str(flow_run.get_id() or uuid.uuid4())


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
) -> SourceOutcome:
    """Normalized, de-duplicated records of one source and its quarantined rows and files."""
    read, records, quarantine = read_and_normalize(landing, name, files, channels, run_date, cache)
    progress.advance("rows read", read.rows_read)
    return SourceOutcome(name, records, quarantine, read.rows_read, read.inputs)


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def store_records(warehouse: Store, outcome: SourceOutcome, agency_ids: list[str]) -> str:
    """Replace the compiled agencies' normalized records of one source in the warehouse."""
    key = f"records/{outcome.name}.parquet"
    records = outcome.records.with_columns(pl.col("agency_id").cast(pl.String))
    if warehouse.exists(key):
        others = read_parquet_bytes(warehouse.read_bytes(key)).filter(
            ~pl.col("agency_id").cast(pl.String).is_in(agency_ids)
        )
        records = pl.concat([others.cast(records.schema), records])
    return warehouse.write_bytes(key, parquet_bytes(records.sort("agency_id")))


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def store_quarantine(warehouse: Store, quarantine: pl.DataFrame, run_id: str) -> str:
    """Every row and file this run quarantined, with its reason, in the warehouse (never in out)."""
    return warehouse.write_bytes(
        f"quarantine/run_id={run_id}/quarantine.parquet", parquet_bytes(quarantine)
    )


@task(cache_policy=NO_CACHE)
def compile_cells(
    records: dict[str, pl.DataFrame],
    agencies: pl.DataFrame,
    period: Period,
    rules: CountingRules,
) -> pl.DataFrame:
    """Every statutory cell of every selected agency's report."""
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
    """The report suite (Great Expectations) on every compiled report, plus the W2 warning."""
    checked = validate_reports(validation_frame(cells, agencies, previous))
    overdue = w2_overdue_open_requests(requests.lazy(), period).collect()
    checked.violations = pl.concat([checked.violations, overdue]).sort("agency_id", "rule")
    return checked


@task(cache_policy=NO_CACHE)
def publish_data_docs(out: Store, checked: ReportValidation) -> str | None:
    """The Great Expectations Data Docs of this run's report checks, under validation/data_docs."""
    for path, data in checked.docs_files.items():
        out.write_bytes(f"validation/data_docs/{path}", data)
    return out.uri("validation/data_docs/index.html") if checked.docs_files else None


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def publish_reports(
    out: Store,
    agencies: pl.DataFrame,
    cells: pl.DataFrame,
    violations: pl.DataFrame,
    release: Release,
) -> list[str]:
    """Publish every agency's report (or only its validation result, when it failed)."""
    cells_of = cells.partition_by("agency_id", as_dict=True, include_key=False)
    violations_of = violations.partition_by("agency_id", as_dict=True)
    no_violations = violations.clear()

    def publish(agency: dict) -> list[str]:
        key = (agency["agency_id"],)
        progress.advance("reports published")
        return publish_report(
            out, agency, cells_of[key], violations_of.get(key, no_violations), release
        )

    # Writes wait on the disk or the network, not the CPU: overlap them.
    with ThreadPoolExecutor(max_workers=4) as pool:
        return [uri for uris in pool.map(publish, agencies.to_dicts()) for uri in uris]


def default_task_runner() -> ThreadPoolTaskRunner:
    """As many task threads as cores: Polars already fans out inside each task, and more threads
    only fight over the GIL in the Python parts."""
    return ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2)


def dask_backed() -> bool:
    """Whether this flow run's tasks go to a Dask cluster."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return bool(context and type(context.task_runner).__name__ == "DaskTaskRunner")


def with_task_runner(flow_, dask_address: str | None):
    """The flow as it runs its tasks: threads here, or on the Dask cluster at ``dask_address``."""
    if not dask_address:
        return flow_
    from prefect_dask import DaskTaskRunner

    return flow_.with_options(task_runner=DaskTaskRunner(address=dask_address))


def _for_agencies(violations: pl.DataFrame, agency_ids: list[str]) -> pl.DataFrame:
    """Run-level problems (no agency) concern every report of the run."""
    everyone = pl.DataFrame({"agency_id": agency_ids}, schema={"agency_id": pl.String})
    general = violations.filter(pl.col("agency_id").is_null()).drop("agency_id")
    return pl.concat(
        [violations.filter(pl.col("agency_id").is_not_null()), everyone.join(general, how="cross")]
    ).select(violations.columns)


def _lock_order(store: Store) -> str:
    return str(store.root.resolve()) if isinstance(store, LocalStore) else str(store)


@contextmanager
def locked_locations(settings: Settings) -> Iterator[None]:
    """Hold the warehouse and the published output for one run, and repair what a run cut off
    before it left behind (temporary files, a half-published report)."""
    logger = get_run_logger() if flow_run.get_id() else None
    run_id = new_run_id()
    out_store = settings.store(settings.out)
    stores = [settings.store(settings.warehouse), out_store]
    with ExitStack() as stack:
        # Always in the same order (by real path), so two runs sharing both never deadlock.
        cut_off_runs = set()
        for store in sorted(stores, key=_lock_order):
            if cut_off := stack.enter_context(store.lock(run_id)):
                cut_off_runs.add(cut_off.get("run_id"))
                removed = store.remove_partial_writes()
                if logger and removed:
                    logger.warning("removed %d unfinished writes in %s", len(removed), store)
        mark_crashed(sorted(r for r in cut_off_runs if r), by=run_id)
        restored = restore_interrupted(out_store)
        if logger and restored:
            logger.warning(
                "restored the current version of %d report(s) a cut-off run left half-written: %s",
                len(restored),
                ", ".join(restored[:10]),
            )
        yield


def _listed(agency_ids: list[str], most: int = 5) -> str:
    shown = ", ".join(agency_ids[:most])
    return shown + (f" and {len(agency_ids) - most} more" if len(agency_ids) > most else "")


def run_failed(
    out: Store,
    error: Exception,
    *,
    run_id: str,
    year: int,
    agency_ids: list[str],
    parameters: dict,
    started: dt.datetime,
    flow_name: str,
) -> RunFailed:
    """After a run stopped part-way: repair, write an "interrupted" manifest, say what happened."""
    try:
        published = [a for a in agency_ids if current_run_id(out, year, a) == run_id]
    except Exception:  # the output cannot even be read: say nothing was confirmed published
        published = []
    not_published = [a for a in agency_ids if a not in published]
    with suppress(Exception):  # a full disk may refuse this too: the next run's start retries
        restore_interrupted(out)
    manifest = {
        "run_id": run_id,
        "flow": flow_name,
        "parameters": parameters,
        "status": "interrupted",
        "error": f"{type(error).__name__}: {error}",
        "started_at": started.isoformat(),
        "ended_at": dt.datetime.now(dt.UTC).isoformat(),
        "published": published,
        "not_published": not_published,
    }
    counts = f"{len(published)} of {len(agency_ids)} report(s) published"
    if published:
        counts += f" ({_listed(published)})"
    if not_published:
        counts += f"; not published: {_listed(not_published)}"
    try:
        uri = out.write_bytes(
            f"runs/{started:%Y%m%dT%H%M%SZ}-{run_id}.json",
            json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode(),
        )
        where = f"manifest: {uri}"
    except Exception as manifest_error:
        uri, where = None, f"the manifest could not be written either ({manifest_error})"
    return RunFailed(
        f"run {run_id} stopped: {error}; {counts}; {where}", published, not_published, uri
    )


@task(cache_policy=NO_CACHE, **TRANSIENT_IO_RETRIES)
def write_manifest(
    out: Store,
    result: CompileResult,
    parameters: dict,
    inputs: list[RegistryInput | ManifestInput],
    started: dt.datetime,
    flow_name: str,
) -> str:
    """The run manifest under ``<out>/runs/``: what was read, kept, checked and written."""
    failed = result.failed_agencies
    manifest = {
        "run_id": result.run_id,
        "flow": flow_name,
        "parameters": parameters,
        "status": result.status,
        "as_of": result.period.end.isoformat(),
        "started_at": started.isoformat(),
        "ended_at": dt.datetime.now(dt.UTC).isoformat(),
        "inputs": [i.to_json() for i in inputs],
        "sources": result.source_counts,
        "quarantine": {"rows": result.quarantine.height, "uri": result.quarantine_uri},
        "validation": {
            "passed": sorted(set(result.cells["agency_id"]) - set(failed)),
            "failed": failed,
            "violations": result.violations.to_dicts(),
            "record_checks": result.record_checks,
            "data_docs": result.data_docs_uri,
        },
        "outputs": result.published,
    }
    return out.write_bytes(
        f"runs/{started:%Y%m%dT%H%M%SZ}-{result.run_id}.json",
        json.dumps(manifest, ensure_ascii=False, indent=2).encode(),
    )


class NothingToReport(ValueError):
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

    @property
    def agency_ids(self) -> list[str]:
        return self.agencies["agency_id"].to_list()


def select_inputs(zone: Landing, agencies: list[str] | None) -> Selection:
    """The registry rows to compile and their landing files, grouped by source."""
    selected, registry_quarantine, registry_input = read_registry(zone, agencies)
    files_by_source, misplaced = files_in_run(zone, selected["agency_id"].to_list(), bool(agencies))
    return Selection(selected, files_by_source, misplaced, registry_quarantine, registry_input)


def compile_and_publish(
    settings: Settings,
    selection: Selection,
    period: Period,
    status: str,
    run_date: dt.date,
    parameters: dict,
    flow_name: str,
    *,
    allow_empty: bool = False,
) -> CompileResult:
    """Ingest, count, check and publish: the path every flow takes, for the selected agencies.

    A failure anywhere (a full disk, an unwritable output) ends the run with ``RunFailed``
    after an "interrupted" manifest saying which reports were and were not published. A final
    run with nothing to report (see :class:`NothingToReport`) stops before publishing anything.
    """
    started = dt.datetime.now(dt.UTC)
    run_id = new_run_id()
    try:
        return _compile_and_publish(
            settings,
            selection,
            period,
            status,
            run_date,
            parameters,
            flow_name,
            started,
            run_id,
            allow_empty,
        )
    except NothingToReport:
        raise  # refused before anything was published: no manifest to write
    except Exception as error:
        failure = run_failed(
            settings.store(settings.out),
            error,
            run_id=run_id,
            year=period.year,
            agency_ids=selection.agency_ids,
            started=started,
            flow_name=flow_name,
            parameters=parameters | {"run_date": run_date.isoformat()},
        )
        if isinstance(error, (OSError, StorageAccessError)):
            raise failure from error  # the machine or the store, not nianbao: one line will do
        get_run_logger().error("%s", failure)
        raise  # a bug keeps its traceback


def _compile_and_publish(
    settings: Settings,
    selection: Selection,
    period: Period,
    status: str,
    run_date: dt.date,
    parameters: dict,
    flow_name: str,
    started: dt.datetime,
    run_id: str,
    allow_empty: bool,
) -> CompileResult:
    logger = get_run_logger()
    zone = settings.landing_zone()
    out_store, warehouse_store = settings.store(settings.out), settings.store(settings.warehouse)
    cache = ParsedFileCache(warehouse_store)
    selected, agency_ids = selection.agencies, selection.agency_ids
    channels = dict(zip(agency_ids, selected["channels"].to_list(), strict=True))
    logger.info("compiling %s for %d agencies from %s", period.year, len(agency_ids), zone)

    # Sources are read one after another: each read already uses every core (Polars, a thread
    # pool over files), and side by side they only contend (measured: 19 s instead of 12 s at
    # city scale). With --dask-address they go to the cluster's workers side by side.
    sources = selection.files_by_source.items()
    args = (channels, run_date, cache)
    if dask_backed():
        futures = {name: ingest_source.submit(zone, name, files, *args) for name, files in sources}
        outcomes = {name: future.result() for name, future in futures.items()}
    else:
        outcomes = {name: ingest_source(zone, name, files, *args) for name, files in sources}
    for outcome in outcomes.values():
        store_records(warehouse_store, outcome, agency_ids)
        logger.info("%s: %s", outcome.name, outcome.counts)
    quarantine = pl.concat(
        [
            selection.registry_quarantine,
            pl.DataFrame(selection.misplaced, schema=QUARANTINE_SCHEMA),
            *(o.quarantine for o in outcomes.values()),
        ]
    )
    quarantine_uri = store_quarantine(warehouse_store, quarantine, run_id)

    cells = compile_cells(
        {name: o.records for name, o in outcomes.items()}, selected, period, settings.counting_rules
    )
    if status == "final" and not allow_empty:
        refuse_empty_year(cells, period, zone)
    previous = read_published_cells(out_store, period.year - 1, agency_ids)
    record_results, record_problems = check_records(outcomes, run_date)
    checked = check_reports(cells, selected, previous, outcomes["requests"].records, period)
    violations = _for_agencies(pl.concat([checked.violations, record_problems]), agency_ids)
    progress.advance("reports published", 0, total=len(agency_ids))
    begin_publishing(out_store, period.year, agency_ids, run_id)
    batches = [
        publish_reports.submit(
            out_store,
            batch,
            cells.join(batch.select("agency_id"), on="agency_id", how="semi"),
            violations.join(batch.select("agency_id"), on="agency_id", how="semi"),
            Release(period, status, run_id, checked.expectations),
        )
        for batch in selected.iter_slices(PUBLISH_BATCH)
    ]
    written = [uri for batch in batches for uri in batch.result()]
    end_publishing(out_store, run_id)
    docs_uri = publish_data_docs(out_store, checked)

    result = CompileResult(
        run_id=run_id,
        year=period.year,
        period=period,
        status=status,
        cells=cells,
        violations=violations,
        quarantine=quarantine,
        published=written,
        failed_agencies=sorted(set(violations.filter(severity="error")["agency_id"])),
        quarantine_uri=quarantine_uri,
        source_counts={name: o.counts for name, o in outcomes.items()},
        data_docs_uri=docs_uri,
        record_checks=record_results,
    )
    inputs = [selection.registry_input, *(i for o in outcomes.values() for i in o.inputs)]
    result.manifest_uri = write_manifest(
        out_store,
        result,
        parameters | {"run_date": run_date.isoformat()},
        inputs,
        started,
        flow_name,
    )
    publish_run_artifacts(result, selected)
    return result


@flow(name=FLOW_NAME, log_prints=False, task_runner=default_task_runner())
def compile_reports(
    year: int,
    agencies: list[str] | None = None,
    landing: str | None = None,
    out: str | None = None,
    warehouse: str | None = None,
    run_date: dt.date | None = None,
    allow_empty: bool = False,
) -> CompileResult:
    """Compile, check and publish the reports of ``year`` for the named agencies (default: all).

    After the year's end the reports are final; during the year, provisional up to yesterday.
    A final compile in which every report would be all zeros stops unless ``allow_empty``.
    """
    run_date = run_date or beijing_today()
    check_report_year(year, run_date)
    settings = load_settings(landing=landing, out=out, warehouse=warehouse)
    check_locations(settings)
    period = Period.of_year(year, as_of=run_date - dt.timedelta(days=1))
    status = "final" if period.is_full_year else "provisional"
    with locked_locations(settings):
        selection = select_inputs(settings.landing_zone(), agencies)
        parameters = {
            "year": year,
            "agencies": agencies,
            "landing": str(settings.landing),
            "out": str(settings.out),
            "warehouse": str(settings.warehouse),
        }
        return compile_and_publish(
            settings,
            selection,
            period,
            status,
            run_date,
            parameters,
            FLOW_NAME,
            allow_empty=allow_empty,
        )


__all__ = ["CompileResult", "compile_reports"]
