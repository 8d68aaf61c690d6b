"""``nianbao demo``: the sample landing zone, compiled and shown."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

if TYPE_CHECKING:
    pass

from flows.cli.common import (
    app,
    console,
    errors,
)
from flows.cli.reports import show
from flows.cli.run import _report_outcome, _run_compile
from flows.outputs.layout import SITE_INDEX_KEY, report_key


@app.command()
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="Where the demo writes.")] = Path("demo"),
) -> None:
    """Build the sample landing zone of 重庆市綦江区城市管理局, compile its 2024 report, print it.

    Its folders are nianbao's defaults seen from --dir (landing, warehouse, published): from
    there every command works on them without --landing or --out.
    """
    from flows.clock import beijing_today
    from flows.demo.landing import AGENCY, DEMO_YEAR, build_demo_landing, is_demo_landing

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
    published = folder / "published"
    report = published / report_key(DEMO_YEAR, AGENCY, "report.docx")
    console.print(
        f"The report to publish: {escape(str(report))} (also .pdf, .html, .xlsx beside it); "
        f"every report: {escape(str(published / SITE_INDEX_KEY))}",
        soft_wrap=True,
    )
    console.print(
        f"Next: cd {escape(str(folder))}, then nianbao show --year {DEMO_YEAR} --agency {AGENCY} "
        "(the demo's folders are the defaults there)",
        soft_wrap=True,
    )
    if not result.ok:
        raise typer.Exit(1)
