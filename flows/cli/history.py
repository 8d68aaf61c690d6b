"""Old published versions: ``nianbao history prune``."""

from __future__ import annotations

import os
from contextlib import suppress
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from flows.cli.common import Out, app, console, usage_errors

if TYPE_CHECKING:
    from flows.io.store import Store

history_app = typer.Typer(help="Published versions kept under history/ and rollup_history/.")
app.add_typer(history_app, name="history")


@history_app.command()
def prune(
    out: Out = None,
    year: Annotated[
        int | None, typer.Option("--year", "-y", help="Only this year's reports (default: all).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be removed; remove nothing.")
    ] = False,
) -> None:
    """Remove old provisional versions the retention rule does not keep (NIANBAO_HISTORY__*).

    Final versions, each report's current version and the versions holding a kept version's
    files are never removed; see docs/published-output.md.
    """
    import datetime as dt
    import uuid
    from contextlib import nullcontext

    from flows.clock import shown_iso
    from flows.outputs.retention import RetentionRule, prune_history
    from flows.settings import load_settings

    with usage_errors():
        settings = load_settings(out=out)
        store = settings.store(settings.out)
        rule = RetentionRule(settings.history.provisional_days, settings.history.keep_provisional)
        # Removing takes the output's lock: never beside a run that is publishing.
        prune_id = f"prune-{uuid.uuid4()}"
        with nullcontext() if dry_run else store.lock(prune_id) as cut_off:
            if cut_off:
                repair_cut_off_run(store, cut_off, prune_id)
            removed, kept = prune_history(store, rule, dt.datetime.now(dt.UTC), year, dry_run)
    verb = "would remove" if dry_run else "removed"
    for version in removed:
        console.print(
            f"{verb} {escape(store.uri(version.key))} ({escape(version.status)}, "
            f"published {shown_iso(version.published_at)})",
            soft_wrap=True,
        )
    console.print(f"{verb} {len(removed)} version(s), kept {kept}", soft_wrap=True)


def repair_cut_off_run(store: Store, cut_off: dict, by: str) -> None:
    """What a run's start does when the lock names a run that was killed holding it: taking
    the lock hides that from the next run, so its leftovers are repaired here."""
    from flows.outputs.history import mark_crashed  # imports Prefect: only when needed
    from flows.outputs.publish import restore_interrupted

    store.remove_partial_writes()
    restore_interrupted(store)
    # Only against a running API: without one Prefect would start a temporary server.
    if os.environ.get("PREFECT_API_URL") and cut_off.get("run_id"):
        with suppress(Exception):  # the API unreachable: the run stays shown as it was
            mark_crashed([cut_off["run_id"]], by=by)
