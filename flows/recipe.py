"""The recipe every compilation follows: landing → records → cells → checked → published → recorded.

``compile_reports`` (annual, on demand) and ``nightly_year_to_date`` both run ``compile_and_publish``
on a ``Job``; what happens when a run stops part-way is in flows/runtime.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl
from prefect import get_run_logger

from expectations.run import ReportValidation
from flows import progress
from flows.data_docs import finish_building
from flows.io.landing import ParsedFileCache
from flows.io.store import StorageAccessError, Store
from flows.outputs.history import publish_run_artifacts
from flows.outputs.publish import (
    Release,
    begin_publishing,
    end_publishing,
    newly_published,
    render_ahead,
)
from flows.outputs.render import AheadRenders
from flows.outputs.snapshot import publish_snapshot
from flows.outputs.standing import (
    Standing,
    checking_digests,
    compare_with_published,
    drafting_digests,
    write_standing,
)
from flows.results import CompileResult, SourceOutcome
from flows.runtime import (
    dask_backed,
    new_run_id,
    results_in_order,
    run_failed,
    shipped,
    task_slots,
    unvisited,
)
from flows.settings import Settings
from flows.steps import (
    PUBLISH_BATCH,
    NarrativeRead,
    NothingToReport,
    Selection,
    check_records,
    check_reports,
    compile_cells,
    draft_documents,
    for_agencies,
    ingest_source,
    publish_changes,
    publish_data_docs,
    publish_reports,
    publish_rollups_of_run,
    publish_site,
    read_narratives,
    read_published_cells,
    record_run,
    refuse_empty_year,
    scan_stored_records,
    store_quarantine,
    store_records,
)
from transforms.changes import year_over_year_warnings
from transforms.document import Document
from transforms.normalize import QUARANTINE_SCHEMA
from transforms.period import Period


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Job:
    """One compilation: which agencies and files, which period, where from and to, as which run."""

    settings: Settings
    selection: Selection
    period: Period
    status: str  # final | provisional
    run_date: dt.date
    parameters: dict
    flow_name: str
    allow_empty: bool = False
    run_id: str = field(default_factory=new_run_id)
    started: dt.datetime = field(default_factory=_utc_now)

    @property
    def out(self) -> Store:
        return self.settings.store(self.settings.out)

    @property
    def warehouse(self) -> Store:
        return self.settings.store(self.settings.warehouse)

    @property
    def agency_ids(self) -> list[str]:
        return self.selection.agency_ids

    @property
    def run_parameters(self) -> dict:
        return self.parameters | {"run_date": self.run_date.isoformat()}


def compile_and_publish(job: Job) -> CompileResult:
    """Ingest, count, check and publish the selected agencies' reports, and record the run.

    A failure anywhere (a full disk, an unwritable output) ends the run with ``RunFailed``
    after an "interrupted" manifest saying which reports were and were not published. A final
    run with nothing to report (see :class:`NothingToReport`) stops before publishing anything.
    """
    try:
        return recipe(job)
    except NothingToReport:
        raise  # refused before anything was published: no manifest to write
    except Exception as error:
        failure = run_failed(
            job.out,
            error,
            run_id=job.run_id,
            year=job.period.year,
            agency_ids=job.agency_ids,
            started=job.started,
            flow_name=job.flow_name,
            parameters=job.run_parameters,
        )
        if isinstance(error, (OSError, StorageAccessError)):
            raise failure from error  # the machine or the store, not nianbao: one line will do
        get_run_logger().error("%s", failure)
        raise  # a bug keeps its traceback


def recipe(job: Job) -> CompileResult:
    """The data's path, one step per line."""
    outcomes = ingest(job)
    narratives = read_narratives(
        job.settings.landing_zone(), job.selection.narratives, job.agency_ids, job.period.year
    )
    store_records(job.warehouse, unvisited(outcomes), job.agency_ids)
    quarantine = all_quarantined(job.selection, outcomes, narratives)
    quarantine_uri = store_quarantine(job.warehouse, quarantine, job.run_id)
    cells = count(job, outcomes)
    previous = read_published_cells(job.out, job.period.year - 1, job.agency_ids)
    looked = look_for_standing(job, cells, previous, narratives, quarantine)
    documents, w4 = draft(job, cells, previous, narratives, looked)
    ahead = render_ahead_of_checks(job, documents, quarantine)
    record_results, checked, violations = check(job, outcomes, cells, previous, w4)
    standing = still_standing(job, looked, violations, checked)
    documents |= draft_late(job, cells, previous, narratives, standing)
    published, unchanged = publish(
        job, cells, violations, checked, documents, quarantine, ahead, standing
    )
    publish_changes(job.out, job.period.year, cells, previous, violations)
    docs_uri = publish_data_docs(job.out, checked, job.run_id, job.started)
    rollups = roll_up(job, violations)
    # The pages of the reports this run changed or refused (an unchanged one's page stands).
    kept = set(unchanged)
    paged = [a for a in job.agency_ids if a not in kept]
    publish_site(job.out, job.warehouse, job.selection.agencies, paged)
    result = CompileResult(
        run_id=job.run_id,
        year=job.period.year,
        period=job.period,
        status=job.status,
        cells=cells,
        violations=violations,
        quarantine=quarantine,
        published=published,
        unchanged=unchanged,
        failed_agencies=sorted(set(violations.filter(severity="error")["agency_id"])),
        quarantine_uri=quarantine_uri,
        source_counts={name: o.counts for name, o in outcomes.items()},
        data_docs_uri=docs_uri,
        record_checks=record_results,
        rollups=rollups,
    )
    recorded = record(job, result, outcomes)
    if any(finish_building()):  # the Data Docs (the command line leaves them building)
        get_run_logger().warning("the Data Docs pages were not built: see the error above")
    return recorded


def ingest(job: Job) -> dict[str, SourceOutcome]:
    """Every source read and normalized: records kept, rows and files quarantined."""
    selection = job.selection
    zone = job.settings.landing_zone()
    get_run_logger().info(
        "compiling %s for %d agencies from %s", job.period.year, len(job.agency_ids), zone
    )
    channels = dict(zip(job.agency_ids, selection.agencies["channels"].to_list(), strict=True))
    args = (shipped(channels), job.run_date, ParsedFileCache(job.warehouse), job.warehouse)
    # Sources are read one after another: each read already uses every core (Polars, a thread
    # pool over files), and side by side they only contend (measured: 19 s instead of 12 s at
    # city scale). With --dask-address they go to the cluster's workers side by side.
    sources = selection.files_by_source.items()
    if dask_backed():
        futures = {
            name: ingest_source.submit(zone, name, shipped(files), *args) for name, files in sources
        }
        outcomes = {name: future.result() for name, future in futures.items()}
    else:
        outcomes = {
            name: ingest_source(zone, name, unvisited(files), *args) for name, files in sources
        }
    for outcome in outcomes.values():
        get_run_logger().info("%s: %s", outcome.name, outcome.counts)
        if outcome.reused:
            get_run_logger().info(
                "%s: the stored records of %d agencies taken as they are (same files, channels "
                "and code as when they were normalized)",
                outcome.name,
                len(outcome.reused),
            )
    return outcomes


def all_quarantined(
    selection: Selection, outcomes: dict[str, SourceOutcome], narratives: NarrativeRead
) -> pl.DataFrame:
    """The registry rows, misplaced files, source rows and files, and narrative files this run
    set aside."""
    return pl.concat(
        [
            selection.registry_quarantine,
            pl.DataFrame(selection.misplaced, schema=QUARANTINE_SCHEMA),
            *(o.quarantine for o in outcomes.values()),
            narratives.quarantine,
        ]
    )


def count(job: Job, outcomes: dict[str, SourceOutcome]) -> pl.DataFrame:
    """Every statutory cell; a final year of nothing but zeros stops here unless allowed."""
    # Counted from the records just stored, scanned lazily: counting streams them rather than
    # needing every record of every source in memory at once.
    records = {name: scan_stored_records(job.warehouse, name, job.agency_ids) for name in outcomes}
    cells = compile_cells(records, job.selection.agencies, job.period, job.settings.counting_rules)
    if job.status == "final" and not job.allow_empty:
        refuse_empty_year(cells, job.period, job.settings.landing_zone())
    return cells


def look_for_standing(
    job: Job,
    cells: pl.DataFrame,
    previous: pl.DataFrame | None,
    narratives: NarrativeRead,
    quarantine: pl.DataFrame,
) -> Standing:
    """Which reports are made from the very inputs of their current version (so far as is known
    before the checks): those are not drafted again (flows/outputs/standing.py)."""
    drafted = drafting_digests(
        job.selection.agencies, cells, previous, narratives, quarantine, job.period, job.status
    )
    return compare_with_published(job.out, job.period.year, drafted)


def draft(
    job: Job,
    cells: pl.DataFrame,
    previous: pl.DataFrame | None,
    narratives: NarrativeRead,
    looked: Standing,
) -> tuple[dict[str, Document], pl.DataFrame]:
    """Each report's document (part 一 drafted from the cells and last year's, the office's
    narrative), and the W4 warnings of what it still lacks; a report made from the inputs of
    its current version is not drafted, its warnings are those its version was given."""
    agencies = job.selection.agencies.filter(~pl.col("agency_id").is_in(looked.same_drafting))
    documents, w4 = draft_documents(cells, agencies, previous, narratives, job.period, job.status)
    return documents, pl.concat([w4, looked.w4()])


def still_standing(
    job: Job, looked: Standing, violations: pl.DataFrame, checked: ReportValidation
) -> Standing:
    """The reports that stand as published: not drafted again, and with the validation result
    of their current version."""
    standing = looked.after_checks(
        checking_digests(job.agency_ids, violations, checked.expectations)
    )
    if standing.stands:
        get_run_logger().info(
            "%d report(s) made from the inputs of their current version: left as published",
            len(standing.stands),
        )
    return standing


def draft_late(
    job: Job,
    cells: pl.DataFrame,
    previous: pl.DataFrame | None,
    narratives: NarrativeRead,
    standing: Standing,
) -> dict[str, Document]:
    """The documents of the reports not drafted before the checks that do not stand after
    them (their validation result changed): they are published as any other."""
    late = standing.drafted_late
    agencies = job.selection.agencies.filter(pl.col("agency_id").is_in(late))
    if agencies.is_empty():
        return {}
    return draft_documents(cells, agencies, previous, narratives, job.period, job.status)[0]


def render_ahead_of_checks(
    job: Job, documents: dict[str, Document], quarantine: pl.DataFrame
) -> AheadRenders | None:
    """Start rendering the reports in worker processes while the checks run (they leave cores
    idle); on a Dask cluster each publishing task renders its own batch instead."""
    if dask_backed():
        return None
    quarantine_of = quarantine.partition_by("agency_id", as_dict=True)
    reports = [
        (agency_id, document, quarantine_of.get((agency_id,), quarantine.clear()))
        for agency_id, document in documents.items()
    ]
    return render_ahead(job.out, job.period.year, reports)


def check(
    job: Job,
    outcomes: dict[str, SourceOutcome],
    cells: pl.DataFrame,
    previous: pl.DataFrame | None,
    w4: pl.DataFrame,
) -> tuple[dict, ReportValidation, pl.DataFrame]:
    """The record suites, the report suite against last year's published cells, W2, the
    documents' W4 warnings and the changes from last year (W5, W6), for every agency."""
    record_results, record_problems = check_records(unvisited(outcomes), job.run_date)
    checked = check_reports(
        cells, job.selection.agencies, previous, outcomes["requests"].records, job.period
    )
    # A year-to-date report is part of a year: against a whole year every channel "fell".
    last_year = previous if job.status == "final" else None
    changed = year_over_year_warnings(cells, last_year, job.settings.changes.bounds)
    found = pl.concat([checked.violations, record_problems, w4, changed])
    violations = for_agencies(found, job.agency_ids)
    return record_results, checked, violations


def publish(
    job: Job,
    cells: pl.DataFrame,
    violations: pl.DataFrame,
    checked: ReportValidation,
    documents: dict[str, Document],
    quarantine: pl.DataFrame,
    ahead: AheadRenders | None,
    standing: Standing,
) -> tuple[list[str], list[str]]:
    """Every report that passed, in batches, but those that stand as published; a refused one
    only gets its validation result. Returns the URIs written and the reports left at their
    current version (nothing changed).

    ``documents`` are handed over: each leaves the dict as its batch is submitted, so that
    memory goes as the reports are published (tens of thousands of documents at once do not
    fit one machine).
    """
    stand = standing.stands
    refused = set(violations.filter(severity="error")["agency_id"])
    passed = (set(documents) | stand) - refused  # documents: handed over below
    out = job.out
    agencies = job.selection.agencies.filter(~pl.col("agency_id").is_in(stand))
    progress.advance("reports published", len(stand), total=len(job.agency_ids))
    begin_publishing(out, job.period.year, job.agency_ids, job.run_id)
    release = Release(job.period, job.status, job.run_id, checked.expectations)
    handed_ahead = shipped(ahead)

    def submitted(batch: pl.DataFrame):
        ids = batch["agency_id"].to_list()
        return publish_reports.submit(
            out,
            batch,
            cells.join(batch.select("agency_id"), on="agency_id", how="semi"),
            violations.join(batch.select("agency_id"), on="agency_id", how="semi"),
            release,
            shipped({a: documents.pop(a) for a in ids if a in documents}),
            quarantine.join(batch.select("agency_id"), on="agency_id", how="semi"),
            handed_ahead,
        )

    # Two batches a task slot: none idles while the next batch is being sent.
    batches = (submitted(batch) for batch in agencies.iter_slices(PUBLISH_BATCH))
    written = [uri for uris in results_in_order(batches, 2 * task_slots()) for uri in uris]
    if ahead is not None:
        ahead.cancel()  # refused reports' renders: never published
    fresh = newly_published(out, job.period.year, job.agency_ids, written)
    publish_snapshot(out, release, fresh, cells)  # before the journal is done
    w4 = violations.filter(pl.col("rule") == "W4")
    write_standing(out, job.period.year, standing.next_table(job.agency_ids, passed, w4))
    end_publishing(out, job.run_id)
    kept = set(job.agency_ids) - set(fresh) - refused
    return written, [a for a in job.agency_ids if a in kept]


def roll_up(job: Job, violations: pl.DataFrame) -> dict:
    """The roll-ups of every parent (上级机关) of an agency this run compiled; a report it
    refused is summed at its previous current version."""
    refused = sorted(set(violations.filter(severity="error")["agency_id"]))
    return publish_rollups_of_run(
        job.out,
        job.warehouse,
        job.settings.landing_zone(),
        job.period,
        job.status,
        job.run_id,
        job.agency_ids,
        refused,
    )


def record(job: Job, result: CompileResult, outcomes: dict[str, SourceOutcome]) -> CompileResult:
    """The manifest, then the Prefect artifacts of the run."""
    inputs = [job.selection.registry_input, *(i for o in outcomes.values() for i in o.inputs)]
    result.manifest_uri = record_run(
        job.out,
        unvisited(result),
        job.run_parameters,
        unvisited(inputs),
        job.started,
        job.flow_name,
    )
    publish_run_artifacts(unvisited(result), job.selection.agencies)
    return result
