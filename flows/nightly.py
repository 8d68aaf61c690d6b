"""The nightly year-to-date flow: only what changed in the landing zone is read and recompiled."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.clock import beijing_today
from flows.io.landing import AGENCIES_FILE
from flows.io.ledger import ListedLanding, landing_changes
from flows.io.store import Store, parquet_bytes, read_parquet_bytes
from flows.outputs.layout import LEDGER_KEY, cells_key
from flows.recipe import Job, compile_and_publish
from flows.results import CompileResult
from flows.runtime import default_task_runner, locked_locations, nianbao_flow
from flows.settings import Settings, check_locations, load_settings
from flows.steps import read_registry, select_inputs
from transforms.period import Period

NIGHTLY_FLOW = "nightly-year-to-date"


@dataclass
class NightlyResult:
    changed_files: list[str]  # new, changed and deleted
    agencies: list[str]
    deleted_files: list[str] = field(default_factory=list)
    results: list[CompileResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def years_to_refresh(run_date: dt.date) -> list[int]:
    """The year to date; in January also last year, whose final report comes later."""
    as_of = run_date - dt.timedelta(days=1)
    years = [as_of.year]
    if run_date.month == 1 and as_of.year == run_date.year:
        years.insert(0, run_date.year - 1)
    return years


def final_already(out: Store, year: int, agency_ids: list[str]) -> set[str]:
    """Agencies whose report of ``year`` the annual compilation has published as final."""
    return {
        agency_id
        for agency_id in agency_ids
        if out.exists(key := cells_key(year, agency_id))
        and read_parquet_bytes(out.read_bytes(key))["status"][0] == "final"
    }


@nianbao_flow(name=NIGHTLY_FLOW, log_prints=False, task_runner=default_task_runner())
def nightly_year_to_date(
    landing: str | None = None,
    out: str | None = None,
    warehouse: str | None = None,
    run_date: dt.date | None = None,
) -> NightlyResult:
    """Provisional reports up to yesterday for the agencies whose landing files changed."""
    settings = load_settings(landing=landing, out=out, warehouse=warehouse)
    check_locations(settings)
    with locked_locations(settings):
        return _nightly(settings, run_date or beijing_today())


def _nightly(settings: Settings, run_date: dt.date) -> NightlyResult:
    logger = get_run_logger()
    zone, warehouse_store = settings.landing_zone(), settings.store(settings.warehouse)
    out_store = settings.store(settings.out)

    # Plain calls, not tasks: a night with nothing new costs one listing and one ledger read.
    changes = landing_changes(zone, warehouse_store)
    changed, deleted = changes.changed, changes.deleted
    if AGENCIES_FILE in deleted:
        raise FileNotFoundError(
            f"{AGENCIES_FILE} was deleted from the landing zone {zone} since the last nightly run: "
            "nothing recompiled; put the registry back"
        )
    if changes.nothing_new:
        create_markdown_artifact(key="run-summary", markdown="Nothing new in the landing zone.")
        logger.info("nothing new in %s", zone)
        return NightlyResult([], [])

    registry, _, _ = read_registry(zone, None)
    known = registry["agency_id"].to_list()
    if any(f.path == AGENCIES_FILE for f in changed):
        affected = known  # a registry change (channels, precision, power) can change any report
    else:
        # A deleted file takes its rows out of its agency's report: that agency is recompiled.
        touched = {f.agency_id for f in changed} | {
            parts[0] for parts in (PurePosixPath(p).parts for p in deleted) if len(parts) > 1
        }
        affected = [a for a in known if a in touched]
    result = NightlyResult([f.path for f in changed] + deleted, affected, deleted)
    as_of = run_date - dt.timedelta(days=1)
    parameters = {
        "landing": str(settings.landing),
        "out": str(settings.out),
        "warehouse": str(settings.warehouse),
    }
    for year in years_to_refresh(run_date):
        final = final_already(out_store, year, affected)
        agencies = [a for a in affected if a not in final]
        if not agencies:
            continue
        period = Period.of_year(year, as_of=as_of)
        result.results.append(
            compile_and_publish(
                Job(
                    settings=settings,
                    selection=select_inputs(ListedLanding(zone, changes.listed), agencies),
                    period=period,
                    status="provisional",
                    run_date=run_date,
                    parameters=parameters | {"year": year, "agencies": agencies},
                    flow_name=NIGHTLY_FLOW,
                )
            )
        )
    # Written last: a run that fails before this point is repeated in full the next night.
    warehouse_store.write_bytes(LEDGER_KEY, parquet_bytes(changes.ledger))
    return result
