"""Commands that run flows here: compile, nightly, and serve for the schedules."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from flows.results import CompileResult

from flows.cli.common import (
    Agencies,
    DaskAddress,
    Landing,
    Out,
    Warehouse,
    Year,
    app,
    check_agency_options,
    console,
    errors,
    print_violations,
    run_failures,
    usage_errors,
)


@contextmanager
def progress_bars():
    """Bars for rows read and reports published while a flow runs in this process."""
    from flows import progress

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bars:
        stages: dict[str, TaskID] = {}

        def update(stage: str, by: int, total: int | None) -> None:
            if stage not in stages:
                stages[stage] = bars.add_task(stage, total=total)
            if total is not None:
                bars.update(stages[stage], total=total)
            bars.advance(stages[stage], by)

        stop = progress.listen(update)
        try:
            yield
        finally:
            stop()


def preflight(
    agencies: list[str] | None = None, year: int | None = None, **locations: str | None
) -> None:
    """Check what a run needs before Prefect starts (settings, locations, storage access, the
    landing zone and its registry, the agencies asked for): a bad input then gives one line
    within seconds, not a stack trace after the temporary Prefect server's start.

    Imports nothing of Prefect. The registry is read by the same code as in the flow.
    """
    from flows.clock import beijing_today
    from flows.io.landing import LocalLanding
    from flows.io.registry import load_registry
    from flows.settings import check_locations, load_settings
    from transforms.period import check_report_year

    if year is not None:  # the flow checks it too, for deployments
        check_report_year(year, beijing_today())
    check_agency_options(agencies)
    settings = load_settings(**locations)
    check_locations(settings)
    for uri in (settings.landing, settings.out, settings.warehouse):
        store = settings.store(uri)
        if hasattr(store, "check_access"):
            store.check_access()
        elif uri != settings.landing:  # the landing zone is only read
            store.check_writable()
    zone = settings.landing_zone()
    if isinstance(zone, LocalLanding) and not zone.root.is_dir():
        raise FileNotFoundError(f"landing zone {zone.root} is not a folder")
    load_registry(zone, agencies)


def _run_flow(load_flow, dask_address: str | None, checked: bool = False, **parameters: object):
    """Check the inputs (unless ``checked`` already), then run a flow here, its tasks on
    threads or a Dask cluster."""
    if not checked:
        preflight(
            **{k: parameters.get(k) for k in ("year", "agencies", "landing", "out", "warehouse")}
        )
    # Prefect is imported (and its temporary server started) only once the inputs are known good.
    from flows.data_docs import builders_left_running
    from flows.runtime import with_task_runner
    from flows.settings import load_settings

    address = dask_address or load_settings().dask_address
    # The command returns once the reports are published; their Data Docs pages follow.
    with progress_bars(), builders_left_running(), _without_heartbeats():
        return with_task_runner(load_flow(), address)(**parameters)


@contextmanager
def _without_heartbeats():
    """No flow run heartbeats for a run started by hand, unless asked for
    (PREFECT_FLOWS_HEARTBEAT_FREQUENCY): Prefect's heartbeat thread wakes once a second, and
    the run waited up to that second for it to end (0.5 s on average, a fifth of a one-agency
    compile). Heartbeats let a server notice a crashed run; a run by hand has its terminal
    watching it, and the served deployments (`nianbao serve`) keep them."""
    if "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" in os.environ:
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def _compile_flow():
    from flows.compile import compile_reports

    return compile_reports


def _nightly_flow():
    from flows.nightly import nightly_year_to_date

    return nightly_year_to_date


def _nothing_new(**locations: str | None) -> bool:
    """Whether the landing zone holds just what the last nightly run left (the flow checks
    again under the lock before it compiles anything)."""
    from flows.io.ledger import landing_changes
    from flows.settings import load_settings

    settings = load_settings(**locations)
    return landing_changes(settings.landing_zone(), settings.store(settings.warehouse)).nothing_new


def _run_compile(dask_address: str | None = None, **parameters: object) -> CompileResult:
    return _run_flow(_compile_flow, dask_address, **parameters)


def _report_outcome(result: CompileResult) -> None:
    """Where things are, what was quarantined, which rules failed."""
    table = Table(title=f"Sources read for {result.year}", title_justify="left")
    for column in ("source", "files", "rows read", "quarantined rows", "rejected files", "kept"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, counts in result.source_counts.items():
        table.add_row(name, *(str(v) for v in counts.values()))
    console.print(table)
    if result.quarantine.height:
        shown = Table(
            title=f"Quarantined ({result.quarantine.height}; all in {result.quarantine_uri})",
            title_justify="left",
        )
        for column in ("file", "row", "column", "reason"):
            shown.add_column(column)
        for q in result.quarantine.head(15).iter_rows(named=True):
            shown.add_row(
                escape(q["file"]),
                str(q["row"] or "—"),
                escape(q["column"] or "—"),
                escape(q["reason"]),
            )
        console.print(shown)
    print_violations(result.violations)
    _report_registry_rejections(result.quarantine)
    if result.data_docs_uri:
        console.print(
            f"checks (Great Expectations Data Docs, ready a few seconds after this run): "
            f"{escape(result.data_docs_uri)}"
        )
    passed = len(set(result.cells["agency_id"])) - len(result.failed_agencies)
    kept = len(result.unchanged)
    console.print(
        f"{passed} report(s) published ({result.status}, as of {result.period.end})"
        + (f", {kept} of them unchanged (no new version)" if kept else "")
        + f"; {len(result.failed_agencies)} refused. Run {result.run_id}\n"
        f"manifest: {escape(result.manifest_uri)}"
    )


def _report_registry_rejections(quarantine: pl.DataFrame) -> None:
    """Registry rows rejected leave their agencies out of the run: say so, not just "0 refused"."""
    from flows.io.landing import AGENCIES_FILE
    from transforms.agencies import rejected_rows

    rejected = rejected_rows(quarantine)
    if rejected:
        console.print(
            f"[yellow]{AGENCIES_FILE}: {rejected} row(s) rejected (see the quarantine); "
            "their agencies were not compiled[/yellow]",
            soft_wrap=True,
        )


@app.command("compile")
def compile_command(
    year: Year,
    agency: Agencies = None,
    landing: Landing = None,
    out: Out = None,
    warehouse: Warehouse = None,
    dask_address: DaskAddress = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="Publish a final year in which no agency has a single record (all zeros).",
        ),
    ] = False,
) -> None:
    """Compile, check and publish the annual reports of YEAR from the landing zone."""
    with usage_errors(), run_failures():
        result = _run_compile(
            dask_address,
            year=year,
            agencies=agency,
            landing=landing,
            out=out,
            warehouse=warehouse,
            allow_empty=allow_empty,
        )
    _report_outcome(result)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def nightly(
    landing: Landing = None,
    out: Out = None,
    warehouse: Warehouse = None,
    dask_address: DaskAddress = None,
) -> None:
    """Run the nightly year-to-date update now (what the 02:00 schedule runs)."""
    with usage_errors(), run_failures():
        preflight(landing=landing, out=out, warehouse=warehouse)
        if _nothing_new(landing=landing, out=out, warehouse=warehouse):
            # Ends before Prefect is imported: by hand, such a night records no flow run (the
            # 02:00 schedule still does, in the served flow).
            console.print("Nothing new in the landing zone: no report recomputed.")
            return
        result = _run_flow(
            _nightly_flow, dask_address, checked=True, landing=landing, out=out, warehouse=warehouse
        )
    if not result.changed_files:
        console.print("Nothing new in the landing zone: no report recomputed.")
        return
    console.print(
        f"{len(result.changed_files)} new, changed or deleted file(s); recompiled {len(result.agencies)} agency(ies)."
    )
    for compiled in result.results:
        _report_outcome(compiled)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def serve() -> None:
    """Serve the deployments on a Prefect server: nightly-served (02:00 Asia/Shanghai) and
    annual-served (on demand); `python -m infra.deploy` registers the work-pool ones instead."""
    from flows.deployments import serve as serve_deployments

    if not os.environ.get("PREFECT_API_URL"):
        errors.print(
            "[red]error:[/red] PREFECT_API_URL is not set: schedules need a long-lived Prefect server "
            "(infra/prefect-server.sh starts one)"
        )
        raise typer.Exit(2)
    serve_deployments()
