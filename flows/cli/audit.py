"""``nianbao audit``: check published reports (any agency's) and compare them across years."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from flows.cli.common import Warehouse, app, console, errors, usage_errors


@app.command()
def audit(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Published reports: files or folders (searched recursively)."),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for cells.parquet, findings.parquet, index.html."),
    ] = Path("audit"),
    registry: Annotated[
        Path | None,
        typer.Option(
            help="agencies.csv: match reports by 机关名称 (for B9 and --import).",
        ),
    ] = None,
    import_: Annotated[
        bool,
        typer.Option(
            "--import",
            help="Store the cells of reports matching a registry agency in the warehouse "
            "as reported cells.",
        ),
    ] = False,
    warehouse: Warehouse = None,
) -> None:
    """Read published reports, check each and compare them across years and agencies.

    Exit 0 when no report has an error, 1 when one has, 2 when no input could be read."""
    from flows.audit.run import audit_reports
    from flows.cli.run import progress_bars
    from flows.settings import load_settings

    with usage_errors():
        if import_ and registry is None:
            raise typer.BadParameter("--import needs --registry (reports are stored by agency_id)")
        store = None
        if import_:
            settings = load_settings(warehouse=warehouse)
            store = settings.store(settings.warehouse)
        with progress_bars():
            result = audit_reports(paths, out, registry, store)
    for file, why in result.not_imported:
        errors.print(f"not imported: {escape(file)}: {escape(why)}", soft_wrap=True)
    if import_:
        console.print(f"imported {len(result.imported)} reports as reported cells")
    console.print(escape(result.summary), soft_wrap=True)
    console.print(f"see {escape(str(out / 'index.html'))}", soft_wrap=True)
    if result.readable == 0:
        raise typer.Exit(2)
    raise typer.Exit(1 if result.with_errors else 0)
