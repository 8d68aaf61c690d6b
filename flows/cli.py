"""The ``nianbao`` command line."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich import box
from rich.console import Console
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
from rich.text import Text

from flows.storage import StorageAccessError
from transforms.balance import VIOLATION_SCHEMA

if TYPE_CHECKING:
    from flows.results import CompileResult

app = typer.Typer(
    help="nianbao: compile 政府信息公开工作年度报告 from the raw records of an agency's systems.",
    no_args_is_help=True,
    add_completion=False,
)
# Statutory tables are wide (a label and seven columns): when the output is not a terminal
# (a log, a pipe), lay them out at 132 columns rather than Rich's default 80.
console = Console(width=None if sys.stdout.isatty() else 132)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 132)

# Prefect reads these when it is imported; a user's own values win.
PREFECT_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The temporary server migrates its database on first start; 20 s is too short on 2 cores.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # A failed run is reported by nianbao in one line; its traceback stays in the Prefect run's
    # logs (the API and UI), not printed again on the console.
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
}


def use_prefect_defaults() -> None:
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


@app.callback()
def main() -> None:
    use_prefect_defaults()


Year = Annotated[int, typer.Option("--year", "-y", help="Report year, e.g. 2024.")]
Agencies = Annotated[
    list[str] | None,
    typer.Option("--agency", "-a", help="agency_id to compile (repeatable); default: all."),
]


def setting_option(setting: str, help: str) -> typer.models.OptionInfo:
    """An option for one of nianbao's settings: Typer reads and shows its ``NIANBAO_*`` variable
    ("[env var: …]" in --help), the same variable flows/settings.py reads; the option wins."""
    return typer.Option(help=help, envvar=f"NIANBAO_{setting.upper()}", show_envvar=True)


Landing = Annotated[
    str | None,
    setting_option("landing", "Landing zone: a folder or s3://bucket/prefix (default: landing)."),
]
Out = Annotated[
    str | None,
    setting_option(
        "out", "Published dataset: a folder or s3://bucket/prefix (default: published)."
    ),
]
Warehouse = Annotated[
    str | None,
    setting_option(
        "warehouse", "Normalized records and quarantine: a folder or s3://… (default: warehouse)."
    ),
]
DaskAddress = Annotated[
    str | None,
    setting_option(
        "dask_address",
        "Run tasks on this Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: threads here).",
    ),
]


SHOWN_VIOLATIONS = 40


def print_violations(violations: pl.DataFrame) -> None:
    """Failed rules on stderr: agency, rule, severity, cells, expected and actual values."""
    if violations.is_empty():
        return
    errors_n = violations.filter(pl.col("severity") == "error").height
    table = Table(
        title=f"Checks not passed: {errors_n} errors, {violations.height - errors_n} warnings",
        title_justify="left",
    )
    for column in ("agency", "rule", "level", "cells", "expected", "actual"):
        table.add_column(column, overflow="fold")
    for v in violations.head(SHOWN_VIOLATIONS).iter_rows(named=True):
        style = "red" if v["severity"] == "error" else "yellow"
        # Cells and values carry registry names: "[red]" in a WeChat account is text, not markup.
        table.add_row(
            escape(v["agency_id"] or "—"),
            escape(v["rule"]),
            f"[{style}]{v['severity']}[/{style}]",
            escape(v["cells"]),
            escape(v["expected"]),
            escape(v["actual"]),
        )
    errors.print(table)
    if violations.height > SHOWN_VIOLATIONS:
        errors.print(f"… and {violations.height - SHOWN_VIOLATIONS} more in the validation results")


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


def check_agency_options(agency_ids: list[str] | None) -> None:
    """``--agency`` values become folder names and object keys: refuse any that is not an id."""
    from transforms.agencies import check_agency_ids

    try:
        check_agency_ids(agency_ids)
    except ValueError as error:
        raise ValueError(f"--agency: {error}") from None


def preflight(
    agencies: list[str] | None = None, year: int | None = None, **locations: str | None
) -> None:
    """Check what a run needs before Prefect starts (settings, locations, storage access, the
    landing zone and its registry, the agencies asked for): a bad input then gives one line
    within seconds, not a stack trace after the temporary Prefect server's start.

    Imports nothing of Prefect. The registry is read by the same code as in the flow.
    """
    from flows.clock import beijing_today
    from flows.landing import LocalLanding
    from flows.registry import load_registry
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


@contextmanager
def usage_errors():
    """A run that cannot start (no registry, unknown agency, storage refused): one line, exit 2."""
    try:
        yield
    except (FileNotFoundError, ValueError, StorageAccessError) as error:
        # Escaped: a message may quote an input ("[a-z0-9]", a hostile id) that Rich would
        # read as markup; never wrapped, so it stays one line in a log.
        errors.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None


@contextmanager
def run_failures():
    """A run that stopped part-way (disk full, output unwritable): one line; exit 3 when some
    reports were published before it stopped, else 2. The manifest lists both."""
    from flows.publish import RunFailed

    try:
        yield
    except RunFailed as failure:
        errors.print(f"[red]error:[/red] {escape(str(failure))}", soft_wrap=True)
        raise typer.Exit(3 if failure.published else 2) from None
    except OSError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None


def _run_flow(load_flow, dask_address: str | None, **parameters: object):
    """Check the inputs, then run a flow here, its tasks on threads or a Dask cluster."""
    preflight(**{k: parameters.get(k) for k in ("year", "agencies", "landing", "out", "warehouse")})
    # Prefect is imported (and its temporary server started) only once the inputs are known good.
    from flows.compile import with_task_runner
    from flows.settings import load_settings

    address = dask_address or load_settings().dask_address
    with progress_bars():
        return with_task_runner(load_flow(), address)(**parameters)


def _compile_flow():
    from flows.compile import compile_reports

    return compile_reports


def _nightly_flow():
    from flows.nightly import nightly_year_to_date

    return nightly_year_to_date


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
        console.print(f"checks (Great Expectations Data Docs): {escape(result.data_docs_uri)}")
    passed = len(set(result.cells["agency_id"])) - len(result.failed_agencies)
    console.print(
        f"{passed} report(s) published ({result.status}, as of {result.period.end}); "
        f"{len(result.failed_agencies)} refused. Run {result.run_id}\n"
        f"manifest: {escape(result.manifest_uri)}"
    )


def _report_registry_rejections(quarantine: pl.DataFrame) -> None:
    """Registry rows rejected leave their agencies out of the run: say so, not just "0 refused"."""
    from flows.landing import AGENCIES_FILE
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
        result = _run_flow(
            _nightly_flow, dask_address, landing=landing, out=out, warehouse=warehouse
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


runs_app = typer.Typer(help="Recent runs, from the Prefect API.", invoke_without_command=True)
app.add_typer(runs_app, name="runs")


Json = Annotated[
    bool, typer.Option("--json", help="Plain JSON on stdout for scripts (ISO times, +08:00).")
]


def _shown_reason(reason: str | None) -> str:
    # Prefect puts this in front of every exception it records; the exception itself is the news.
    return (reason or "").removeprefix("Flow run encountered an exception: ")


def _reason_in_brief(reason: str | None) -> Text:
    """The reason a run stopped, on one line cut short: `runs show` has it whole."""
    brief = re.sub(r"^(RunFailed: run \S+ stopped: )?(\[Errno \d+\] )?", "", _shown_reason(reason))
    return Text(brief, no_wrap=True, overflow="ellipsis")


def _runs_columns(width: int) -> list[tuple[str, dict, Callable[[dict, dict], str | Text]]]:
    """The columns of `nianbao runs` that fit ``width``: header, Rich options, cell of (run, outcome).

    The id, state and start never wrap (an id broken over lines cannot be copied); less important
    columns are left out or shortened when narrow, and the text columns wrap.
    """
    from flows.history import shown_time

    fixed = {"no_wrap": True}
    number = {"no_wrap": True, "justify": "right"}
    columns = [
        ("run", fixed | {"style": "bold"}, lambda r, o: r["short_id"]),
        ("name", fixed, lambda r, o: escape(r["name"])) if width >= 160 else None,
        # "compile" or "nightly" tells the two flows apart.
        ("flow", fixed, lambda r, o: escape(r["flow"].split("-")[0])),
        ("state", fixed, lambda r, o: escape(r["state"] or "")),
        ("start", fixed, lambda r, o: shown_time(r["start"], seconds=width >= 120)),
        ("s", number, lambda r, o: f"{r['duration_s']:.0f}") if width >= 100 else None,
        ("year", fixed, lambda r, o: escape(str(o.get("year", r["parameters"].get("year", ""))))),
        ("agencies", number, lambda r, o: escape(str(o.get("agencies", ""))))
        if width >= 100
        else None,
        ("read", number, lambda r, o: escape(str(o.get("rows_read", ""))))
        if width >= 120
        else None,
        ("quarantined", number, lambda r, o: escape(str(o.get("rows_quarantined", ""))))
        if width >= 120
        else None,
        # Lists of ids and rules wrap after their commas, and fold a long id rather than cut it.
        (
            "refused",
            {"min_width": 7, "overflow": "fold"},
            lambda r, o: escape(o.get("refused", "").replace(",", ", ")),
        ),
        (
            "failed rules / error",
            {"min_width": 12, "overflow": "fold"},
            lambda r, o: (
                escape(o.get("failed_rules", "").replace(",", ", "))
                or _reason_in_brief(r["reason"])
            ),
        ),
    ]
    return [c for c in columns if c]


@runs_app.callback()
def runs_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    as_json: Json = False,
) -> None:
    """List recent runs: id, flow, state, start (Beijing time), year, counts, failed rules or error.

    Ids are shown by their first 8 characters (more if two runs share them); `runs show` takes
    such a prefix, the whole id, or the run's name.
    """
    if ctx.invoked_subcommand:
        return
    import json

    from flows.history import recent_runs, run_json

    runs = recent_runs(limit)
    if as_json:
        typer.echo(json.dumps([run_json(r) for r in runs], ensure_ascii=False, default=str))
        return
    columns = _runs_columns(console.width)
    # Two spaces between columns and none at the edges: room for the columns that matter at 80.
    table = Table(
        title="Recent runs",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    for header, options, _ in columns:
        table.add_column(header, **options)
    for run in runs:
        for outcome in run["outcomes"] or [{}]:
            table.add_row(*(cell(run, outcome) for _, _, cell in columns))
    console.print(table)


@runs_app.command("show")
def runs_show(
    run_ref: Annotated[
        str,
        typer.Argument(
            metavar="RUN",
            help="A flow run id, the start of one as `nianbao runs` lists it, or its name.",
        ),
    ],
    out: Out = None,
    as_json: Json = False,
) -> None:
    """One run: its state (and why it failed), parameters, manifest counts, quarantine, failed checks.

    The manifest is read where the run wrote it (a folder or S3); a run that left no outcome is
    looked up under --out, else the run's own --out parameter, else NIANBAO_OUT.
    """
    import json

    from flows.history import UnknownRun, find_run, read_manifests, run_json
    from flows.settings import load_settings

    try:
        run = find_run(run_ref)
        settings = load_settings(out=out or run["parameters"].get("out"))
        manifests = read_manifests(run, settings)
    except (UnknownRun, ValueError, StorageAccessError) as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None
    unreadable = [m for m in manifests if "error" in m]
    if as_json:
        typer.echo(
            json.dumps(run_json(run) | {"manifests": manifests}, ensure_ascii=False, default=str)
        )
    else:
        _print_run(run, manifests)
    if unreadable:
        for m in unreadable:
            errors.print(
                f"[red]error:[/red] manifest {escape(m['uri'])}: {escape(m['error'])}",
                soft_wrap=True,
            )
        raise typer.Exit(2)


def _print_run(run: dict, manifests: list[dict]) -> None:
    from flows.history import shown_time

    console.print(
        f"[bold]{escape(run['flow'])}[/bold] {escape(run['name'])} ({run['flow_run_id']}) — "
        f"{escape(run['state'] or '')}, started {shown_time(run['start'])}, "
        f"{run['duration_s']:.1f} s",
        soft_wrap=True,  # ids, paths and uris stay whole, to be copied
    )
    if run["reason"]:
        console.print(f"[red]reason:[/red] {escape(_shown_reason(run['reason']))}", soft_wrap=True)
    console.print(f"parameters: {escape(str(run['parameters']))}", soft_wrap=True)
    for found in manifests:
        if "manifest" in found:
            _print_manifest(found["uri"], found["manifest"])


def _print_manifest(uri: str, manifest: dict) -> None:
    console.print(f"\n[bold]manifest[/bold] {escape(uri)}", soft_wrap=True)
    if manifest.get("status") == "interrupted":
        # Written by a run that stopped part-way: no counts, but what was and was not published.
        console.print(
            f"[red]interrupted:[/red] {escape(str(manifest.get('error', '')))}\n"
            f"published: {escape(', '.join(manifest.get('published') or []) or 'none')}\n"
            f"not published: {escape(', '.join(manifest.get('not_published') or []) or 'none')}",
            soft_wrap=True,
        )
        return
    sources = manifest.get("sources") or {}
    if sources:
        table = Table(title_justify="left")
        for column in (
            "source",
            "files",
            "rows read",
            "quarantined rows",
            "rejected files",
            "kept",
        ):
            table.add_column(column)
        for name, counts in sources.items():
            table.add_row(escape(name), *(escape(str(v)) for v in counts.values()))
        console.print(table)
    quarantine = manifest.get("quarantine") or {}
    if quarantine:
        console.print(
            f"quarantine: {escape(str(quarantine.get('rows')))} rows in {escape(str(quarantine.get('uri')))}",
            soft_wrap=True,
        )
    validation = manifest.get("validation") or {}
    if validation:
        console.print(
            f"reports passed: {len(validation.get('passed') or [])}, "
            f"refused: {escape(str(validation.get('failed') or 'none'))}",
            soft_wrap=True,
        )
        violations = validation.get("violations") or []
        print_violations(pl.DataFrame(violations, schema=VIOLATION_SCHEMA))


@app.command()
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="Where the demo writes.")] = Path("demo"),
) -> None:
    """Build the sample landing zone of 重庆市綦江区城市管理局, compile its 2024 report, print it.

    Its folders are nianbao's defaults seen from --dir (landing, warehouse, published): from
    there every command works on them without --landing or --out.
    """
    from flows.clock import beijing_today
    from flows.demo import AGENCY, DEMO_YEAR, build_demo_landing, is_demo_landing

    landing = folder / "landing"
    if landing.exists() and not is_demo_landing(landing):
        # Rebuilding replaces the landing folder: never one the demo did not write (--dir .
        # would otherwise delete a user's own landing zone).
        errors.print(
            f"[red]error:[/red] {escape(str(landing))} exists and was not written by the demo; "
            "choose another --dir",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    shutil.rmtree(landing, ignore_errors=True)
    build_demo_landing(landing)
    console.print(f"Sample landing zone written to {landing}")
    result = _run_compile(
        year=DEMO_YEAR,
        landing=str(landing),
        out=str(folder / "published"),
        warehouse=str(folder / "warehouse"),
        run_date=beijing_today(),
    )
    _report_outcome(result)
    show(year=DEMO_YEAR, agency=AGENCY, out=str(folder / "published"))
    others = sorted(set(result.cells["agency_id"]) - {AGENCY})
    console.print(f"Also published (no records: a report of explicit zeros): {', '.join(others)}")
    console.print(
        f"Next: cd {escape(str(folder))}, then nianbao show --year {DEMO_YEAR} --agency {AGENCY} "
        "(the demo's folders are the defaults there)",
        soft_wrap=True,
    )
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def show(
    year: Year,
    agency: Annotated[str, typer.Option("--agency", "-a", help="agency_id of the report.")],
    out: Out = None,
) -> None:
    """Print a published report's tables in the statutory layout."""
    from rich.markdown import Markdown

    from flows.settings import load_settings

    with usage_errors():
        check_agency_options([agency])
        settings = load_settings(out=out)
        store = settings.store(settings.out)
    key = f"reports/year={year}/agency_id={agency}/report.md"
    if not store.exists(key):
        errors.print(f"[red]error:[/red] no published report at {store.uri(key)}")
        raise typer.Exit(2)
    console.print(Markdown(store.read_bytes(key).decode("utf-8")))


@app.command()
def template(
    agency: Annotated[str, typer.Option("--agency", "-a", help="agency_id of the report.")],
    year: Year,
    landing: Landing = None,
    channel: Annotated[
        list[str] | None,
        typer.Option(
            help="A channel (政府网站 or a WeChat account) when the agency is not in the registry."
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV to write.")] = None,
) -> None:
    """Write an empty report in the cell schema, for an office to fill in by hand."""
    from flows.handfilled import agency_for, registry_or_none, report_template, template_csv
    from flows.settings import load_settings

    with usage_errors():
        check_agency_options([agency])
        registry = registry_or_none(load_settings(landing=landing))
    frame = report_template(agency_for(agency, registry, channel), year)
    target = output or Path(f"template-{agency}-{year}.csv")
    target.write_bytes(template_csv(frame))
    console.print(
        f"{frame.height} cells to fill in: {target}\nCheck it with: nianbao check {target}"
    )


@app.command()
def check(
    file: Annotated[
        Path,
        typer.Argument(
            help="A report: cell-schema CSV or Parquet, or a published "
            "report_cells/…/data.parquet or reports/…/report.xlsx."
        ),
    ],
    landing: Landing = None,
    out: Annotated[
        str | None,
        setting_option("out", "Published dataset holding last year's report."),
    ] = None,
    results: Annotated[
        Path | None,
        typer.Option(
            help="Where result.json and Data Docs go (default: FILE.validation/; for a published "
            "report, <agency_id>-<year>.validation/ in the working folder)."
        ),
    ] = None,
) -> None:
    """Check a report produced elsewhere (e.g. filled in by hand) with the same suites."""
    from flows.handfilled import (
        UnusableReport,
        check_report,
        default_results_folder,
        read_report_file,
        registry_or_none,
        write_check_results,
    )
    from flows.publish import published_cells
    from flows.settings import load_settings

    with usage_errors():
        settings = load_settings(landing=landing, out=out)
    try:
        frame = read_report_file(file)
    except (UnusableReport, FileNotFoundError) as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None
    year = int(frame["year"][0])
    agency_ids = frame["agency_id"].unique().to_list()
    previous = published_cells(settings.store(settings.out), year - 1, agency_ids)
    with console.status("Checking with the report suite…"):
        result = check_report(frame, registry_or_none(settings), previous)
    folder = results or default_results_folder(file, year, agency_ids)
    written = write_check_results(result, folder)
    print_violations(result.validation.violations)
    for note in result.notes:  # the agency id comes from the file: escaped
        console.print(f"[yellow]note:[/yellow] {escape(note)}", soft_wrap=True)
    verdict = "[green]passed[/green]" if result.blocking.is_empty() else "[red]refused[/red]"
    shown = escape(f"({year}, {', '.join(agency_ids)}). Results: {written}")  # hand-filled ids
    console.print(f"{escape(str(file))}: {verdict} {shown}")
    if not result.blocking.is_empty():
        raise typer.Exit(1)


@app.command()
def revisions(
    agency: Annotated[str, typer.Option("--agency", "-a", help="agency_id of the report.")],
    year: Year,
    out: Out = None,
) -> None:
    """Every published version of a report: run, time, status, and the cells it changed."""
    from flows.publish import revisions as list_revisions
    from flows.settings import load_settings

    with usage_errors():
        check_agency_options([agency])
        settings = load_settings(out=out)
        versions = list_revisions(settings.store(settings.out), year, agency)
    if not versions:
        errors.print(f"[red]error:[/red] no published version of {agency} {year}")
        raise typer.Exit(2)
    table = Table(title=f"Revisions of {agency} {year}", title_justify="left")
    for column in ("run", "published at", "status", "as of", "current", "changed cells"):
        table.add_column(column, overflow="fold")
    for v in versions:
        changed = "; ".join(
            f"{c['section']}/{c['row']}/{c['column']}: {c['old']} → {c['new']}"
            for c in v["changed"][:8]
        ) + (f" (+{len(v['changed']) - 8} more)" if len(v["changed"]) > 8 else "")
        table.add_row(
            v["run_id"],
            v["published_at"],
            v["status"],
            v["as_of"],
            "✓" if v["current"] else "",
            escape(changed or "—"),
        )
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
