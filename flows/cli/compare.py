"""``nianbao compare``: a published report beside last year's, in the statutory layout."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from flows.cli.common import Out, Year, app, check_agency_options, console, usage_errors
from transforms.cells import CHANNEL_COLUMN, SECTION_TITLES, SECTIONS

NONE = "—"  # no value: no report last year, or a cell only one year has


def _number(value: Decimal | None) -> str:
    """A count as a whole number, a fee with the decimals it has (1.2500 → 1.25)."""
    if value is None:
        return NONE
    shown = f"{value.normalize():f}"
    return "0" if shown in ("-0", "0") else shown


def _change(value: Decimal | None) -> str:
    if value is None:
        return NONE
    return ("+" if value > 0 else "") + _number(value)


def _percent(ratio: float | None) -> str:
    return NONE if ratio is None else f"{ratio:+.1%}"


def _item(row_label: str | None, column_label: str | None, row: str, column: str) -> str:
    """The row's label, and the column's but in section 一 (one column): 规章 · 本年制发件数."""
    label = row_label or row
    if column == CHANNEL_COLUMN[0] and column_label in (None, CHANNEL_COLUMN[1]):
        return label
    return f"{label} · {column_label or column}"


def _section_table(section: str, changes: pl.DataFrame) -> Table:
    table = Table(title=SECTION_TITLES[section], title_justify="left")
    table.add_column("项目", overflow="fold")
    for header in ("本年", "上年", "增减", "增减%"):
        table.add_column(header, justify="right", no_wrap=True)
    for c in changes.iter_rows(named=True):
        # Labels carry registry names (a WeChat account): "[red]" in one is text, not markup.
        table.add_row(
            escape(_item(c["row_label"], c["column_label"], c["row"], c["column"])),
            _number(c["value"]),
            _number(c["last_year_value"]),
            _change(c["change"]),
            _percent(c["relative_change"]),
        )
    return table


@app.command()
def compare(
    year: Year,
    agency: Annotated[str, typer.Option("--agency", "-a", help="agency_id of the report.")],
    out: Out = None,
) -> None:
    """Print a published report beside last year's: each section's cells with this year's and
    last year's values, the change and the change in % (— where there is nothing to compare)."""
    from flows.outputs.changes import report_cells
    from flows.outputs.layout import cells_key
    from flows.settings import load_settings
    from transforms.changes import year_over_year
    from transforms.errors import InputError

    with usage_errors():
        check_agency_options([agency])
        settings = load_settings(out=out)
        store = settings.store(settings.out)
        current = report_cells(store, year, agency)
        if current is None:
            where = store.uri(cells_key(year, agency))
            raise InputError(f"no published report of {agency} for {year} at {where}")
        previous = report_cells(store, year - 1, agency)
    changes = year_over_year(current, previous)
    console.print(f"[bold]{escape(agency)}[/bold] {year} 与 {year - 1} 年比较", soft_wrap=True)
    if previous is None:
        console.print(f"{year - 1} 年没有已发布的报告：上年显示为 {NONE}")
    for section in SECTIONS:
        console.print(_section_table(section, changes.filter(section=section)))
