"""What every command shares: the app, the consoles, the options, the one error path."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flows.io.store import StorageAccessError
from transforms.errors import InputError

if TYPE_CHECKING:
    pass


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


def check_agency_options(agency_ids: list[str] | None) -> None:
    """``--agency`` values become folder names and object keys: refuse any that is not an id."""
    from transforms.agencies import check_agency_ids

    try:
        check_agency_ids(agency_ids)
    except ValueError as error:
        raise InputError(f"--agency: {error}") from None


@contextmanager
def usage_errors():
    """A run that cannot start (no registry, unknown agency, storage refused): one line, exit 2.

    Only errors in what the user gave (``InputError``), a missing file and a refused store are
    caught: any other exception is a bug and keeps its traceback."""
    try:
        yield
    except (FileNotFoundError, InputError, StorageAccessError) as error:
        # Escaped: a message may quote an input ("[a-z0-9]", a hostile id) that Rich would
        # read as markup; never wrapped, so it stays one line in a log.
        errors.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None


@contextmanager
def run_failures():
    """A run that stopped part-way (disk full, output unwritable): one line; exit 3 when some
    reports were published before it stopped, else 2. The manifest lists both."""
    from flows.outputs.publish import RunFailed

    try:
        yield
    except RunFailed as failure:
        errors.print(f"[red]error:[/red] {escape(str(failure))}", soft_wrap=True)
        raise typer.Exit(3 if failure.published else 2) from None
    except OSError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None
