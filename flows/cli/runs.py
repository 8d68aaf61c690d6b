"""Run history: ``nianbao runs`` and ``nianbao runs show``, from the Prefect API and the manifests."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from transforms.balance import VIOLATION_SCHEMA

if TYPE_CHECKING:
    pass

from flows.cli.common import (
    Out,
    app,
    console,
    errors,
    print_violations,
    usage_errors,
)

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
    from flows.clock import shown_time

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

    from flows.outputs.history import recent_runs, run_json

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

    from flows.outputs.history import find_run, read_manifests, run_json
    from flows.settings import load_settings

    with usage_errors():
        run = find_run(run_ref)
        settings = load_settings(out=out or run["parameters"].get("out"))
        manifests = read_manifests(run, settings)
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
    from flows.clock import shown_time

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
