"""Published and hand-filled reports: show, template, check, revisions."""

from __future__ import annotations

from enum import StrEnum
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

# Problems printed by check; all of them are in its result.json.
SHOWN_PROBLEMS = 40


class TemplateFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


@app.command()
def show(
    year: Year,
    agency: Annotated[str, typer.Option("--agency", "-a", help="agency_id of the report.")],
    out: Out = None,
) -> None:
    """Print a published report as its report.md lays it out: title, the six parts, the tables.

    report.md is rendered from the same document model as report.html/.docx/.xlsx, so the
    terminal shows the structure the office publishes (spanned labels printed once)."""
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
    format: Annotated[
        TemplateFormat,
        typer.Option(
            "--format",
            "-f",
            help="csv: the cell schema, one cell a line; xlsx: the report's statutory tables "
            "to fill in.",
        ),
    ] = TemplateFormat.csv,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: template-<agency>-<year>.…)."),
    ] = None,
) -> None:
    """Write an empty report for an office to fill in by hand: cells (CSV) or tables (XLSX)."""
    from flows.handfilled import (
        agency_for,
        registry_or_none,
        report_template,
        template_csv,
        template_document,
    )
    from flows.settings import load_settings

    with usage_errors():
        check_agency_options([agency])
        registry = registry_or_none(load_settings(landing=landing))
    row = agency_for(agency, registry, channel)
    frame = report_template(row, year)
    target = output or Path(f"template-{agency}-{year}.{format.value}")
    if format is TemplateFormat.xlsx:
        from flows.outputs.formats.xlsx import template_xlsx

        target.write_bytes(template_xlsx(template_document(row, year)))
    else:
        target.write_bytes(template_csv(frame))
    shown = escape(str(target))  # --output is the user's, and may hold "[…]"
    console.print(f"{frame.height} cells to fill in: {shown}\nCheck it with: nianbao check {shown}")


@app.command()
def check(
    file: Annotated[
        Path,
        typer.Argument(
            help="A report: cell-schema CSV or Parquet, a published report_cells/…/data.parquet, "
            "or a report.html, report.docx or report.xlsx (nianbao's, filled in by hand in the "
            "same layout, or the template --format xlsx workbook)."
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
    agency: Annotated[
        str | None,
        typer.Option(
            "--agency",
            "-a",
            help="agency_id of a report.html/.docx/.xlsx whose path (reports/year=<Y>/"
            "agency_id=<id>/) and title do not tell it.",
        ),
    ] = None,
    year: Annotated[
        int | None,
        typer.Option("--year", "-y", help="Report year of a report.html/.docx/.xlsx, likewise."),
    ] = None,
) -> None:
    """Check a report produced elsewhere (e.g. filled in by hand) with the same suites.

    Exit 0: passed. 1: refused (a blocking rule failed, or a cell of a report.html/.docx/.xlsx
    could not be read: blank, not a number, row missing). 2: the file is no report at all.
    """
    from flows.handfilled import (
        UnusableReport,
        check_report,
        default_results_folder,
        is_report_document,
        read_report_document,
        read_report_file,
        registry_or_none,
        write_check_results,
    )
    from flows.outputs.publish import published_cells
    from flows.settings import load_settings

    with usage_errors():
        settings = load_settings(landing=landing, out=out)
        check_agency_options([agency] if agency else None)
    with usage_errors():
        registry = registry_or_none(settings)
        if is_report_document(file):
            frame, problems = read_report_document(file, registry, agency, year)
        elif agency or year:
            raise UnusableReport(
                f"{file}: --agency and --year are for a report.html/.docx/.xlsx: a file of "
                "cells names them in its agency_id and year columns"
            )
        else:
            frame, problems = read_report_file(file), []
    year = int(frame["year"][0])
    agency_ids = frame["agency_id"].unique().to_list()
    previous = published_cells(settings.store(settings.out), year - 1, agency_ids)
    with console.status("Checking with the report suite…"):
        result = check_report(frame, registry, previous, problems)
    folder = results or default_results_folder(file, year, agency_ids)
    written = write_check_results(result, folder)
    for problem in result.problems[:SHOWN_PROBLEMS]:  # they quote the file: escaped, one line
        errors.print(f"[red]problem:[/red] {escape(problem)}", soft_wrap=True)
    if len(result.problems) > SHOWN_PROBLEMS:
        errors.print(f"… and {len(result.problems) - SHOWN_PROBLEMS} more problems in {written}")
    print_violations(result.validation.violations)
    for note in result.notes:  # the agency id comes from the file: escaped
        console.print(f"[yellow]note:[/yellow] {escape(note)}", soft_wrap=True)
    verdict = "[green]passed[/green]" if result.passed else "[red]refused[/red]"
    shown = escape(f"({year}, {', '.join(agency_ids)}). Results: {written}")  # hand-filled ids
    console.print(f"{escape(str(file))}: {verdict} {shown}")
    if not result.passed:
        raise typer.Exit(1)


@app.command()
def revisions(
    agency: Annotated[str, typer.Option("--agency", "-a", help="agency_id of the report.")],
    year: Year,
    out: Out = None,
    rollup: Annotated[
        bool,
        typer.Option("--rollup", help="The agency's roll-up (全区/全市汇总), not its own report."),
    ] = False,
) -> None:
    """Every published version of a report: run, time, status, and the cells it changed."""
    from flows.clock import shown_iso
    from flows.outputs.publish import revisions as list_revisions
    from flows.settings import load_settings

    with usage_errors():
        check_agency_options([agency])
        settings = load_settings(out=out)
        versions = list_revisions(settings.store(settings.out), year, agency, rollup)
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
            shown_iso(v["published_at"]),
            v["status"],
            v["as_of"],
            "✓" if v["current"] else "",
            escape(changed or "—"),
        )
    console.print(table)
