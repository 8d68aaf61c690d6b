"""Published and hand-filled reports: show, template, check, revisions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    pass

from flows.cli.common import (
    Landing,
    Out,
    Year,
    app,
    check_agency_options,
    console,
    errors,
    print_violations,
    setting_option,
    usage_errors,
)
from flows.outputs.layout import report_key


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
    key = report_key(year, agency, "report.md")
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
        check_report,
        default_results_folder,
        read_report_file,
        registry_or_none,
        write_check_results,
    )
    from flows.outputs.publish import published_cells
    from flows.settings import load_settings

    with usage_errors():
        settings = load_settings(landing=landing, out=out)
    with usage_errors():
        frame = read_report_file(file)
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
    from flows.outputs.publish import revisions as list_revisions
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
