"""Run history: Prefect artifacts every run leaves, and reading runs back for ``nianbao runs``."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import polars as pl
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.clock import beijing
from flows.io.store import StorageAccessError
from flows.outputs.formats.markdown import escape_markdown
from flows.outputs.layout import MANIFESTS
from transforms.cells import HEADLINE_CELLS
from transforms.errors import InputError

if TYPE_CHECKING:
    from flows.results import CompileResult
    from flows.settings import Settings

OUTCOME_ARTIFACT = "run-outcome"
# The key-cells table's columns: "section/row/column" → the short name it is shown under.
KEY_CELLS = {"/".join(cell): label for cell, label in HEADLINE_CELLS}


def key_cells_table(cells: pl.DataFrame, refused: list[str]) -> list[dict]:
    """One row per agency with the cells people look at first.

    The Prefect UI renders table artifact cells as Markdown: the agency id is escaped like text.
    """
    keyed = cells.with_columns(key=pl.concat_str("section", "row", "column", separator="/")).filter(
        pl.col("key").is_in(list(KEY_CELLS))
    )
    rows = []
    for (agency_id,), part in keyed.partition_by("agency_id", as_dict=True).items():
        values = dict(zip(part["key"], part["value"].cast(pl.String), strict=True))
        rows.append(
            {"agency_id": escape_markdown(agency_id), "published": agency_id not in refused}
            | {label: values.get(key, "") for key, label in KEY_CELLS.items()}
        )
    return rows


def summary_markdown(result: CompileResult) -> str:
    # The Prefect UI renders this as Markdown: agency ids, cells (registry channel names) and
    # values, and the locations, are shown as text, never as markup or HTML.
    md = escape_markdown
    lines = [
        f"# {result.year} reports ({result.status}, as of {result.period.end})",
        "",
        "| source | files | rows read | rows quarantined | files rejected | records kept |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | " + " | ".join(str(v) for v in c.values()) + " |"
        for name, c in result.source_counts.items()
    ]
    failed = result.violations.filter(pl.col("severity") == "error")
    lines += [
        "",
        f"**Validation**: {len(result.failed_agencies)} report(s) refused, "
        f"{result.violations.height - failed.height} warning(s).",
    ]
    for v in failed.head(20).iter_rows(named=True):
        lines.append(
            f"- {md(v['agency_id'] or '—')} {md(v['rule'])}: {md(v['cells'])} "
            f"(expected {md(v['expected'])}, got {md(v['actual'])})"
        )
    lines += [
        "",
        f"- manifest: {md(result.manifest_uri)}",
        f"- quarantine: {md(result.quarantine_uri)}",
    ]
    if result.data_docs_uri:
        lines.append(f"- Data Docs: {md(result.data_docs_uri)}")
    lines.append(f"- {len(result.published)} objects written")
    if result.unchanged:
        lines.append(f"- {len(result.unchanged)} report(s) unchanged: their current version kept")
    return "\n".join(lines)


def outcome_row(result: CompileResult) -> dict:
    """The few facts ``nianbao runs`` lists, kept with the run in Prefect."""
    counts = result.source_counts.values()
    return {
        "run_id": result.run_id,
        "year": result.year,
        "status": result.status,
        "agencies": result.cells["agency_id"].n_unique(),
        "refused": ",".join(result.failed_agencies),
        "failed_rules": ",".join(sorted(set(result.violations.filter(severity="error")["rule"]))),
        "rows_read": sum(c["rows_read"] for c in counts),
        "rows_quarantined": sum(c["rows_quarantined"] for c in counts),
        "manifest": result.manifest_uri,
    }


@task(cache_policy=NO_CACHE)
def publish_run_artifacts(result: CompileResult, agencies: pl.DataFrame) -> None:
    """Artifacts in the Prefect UI: key cells per agency, a summary, and the run's outcome row."""
    create_table_artifact(
        key="report-key-cells",
        table=key_cells_table(result.cells, result.failed_agencies),
        description=f"Key cells of the {result.year} reports",
    )
    create_markdown_artifact(key="run-summary", markdown=summary_markdown(result))
    create_table_artifact(key=OUTCOME_ARTIFACT, table=[outcome_row(result)])


# Times people read are Beijing time, with the zone named; scripts get ISO times with the offset.
# A short id is at least this many characters of the run id, like git's abbreviated hashes.
SHORT_ID = 8
# The latest runs searched for an id prefix (the API filters ids only whole, names exactly).
PREFIX_SEARCH = 200
_STOPPED = {"FAILED", "CRASHED", "CANCELLED"}


def short_ids(run_ids: list[str]) -> dict[str, str]:
    """Each id's shortest prefix of at least ``SHORT_ID`` characters no other listed id shares."""
    shown = {}
    for run_id in run_ids:
        length = SHORT_ID
        while any(o != run_id and o.startswith(run_id[:length]) for o in run_ids):
            length += 1
        shown[run_id] = run_id[:length]
    return shown


def _record(run, flows: dict, outcomes: dict) -> dict:
    state_type = run.state.type.value if run.state else None
    return {
        "flow_run_id": str(run.id),
        "name": run.name,
        "flow": flows.get(run.flow_id, "?"),
        "state": run.state_name,
        "state_type": state_type,
        # Why a run failed, crashed or was cancelled; a completed run's message says nothing.
        "reason": run.state.message if run.state and state_type in _STOPPED else None,
        "start": beijing(run.start_time),
        "end": beijing(run.end_time),
        "duration_s": run.total_run_time.total_seconds(),
        "parameters": run.parameters,
        "outcomes": outcomes.get(run.id, []),
    }


async def _records(client, runs: list) -> list[dict]:
    """Runs as ``nianbao runs`` shows them: with their flow's name and their outcome rows."""
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
        FlowFilter,
        FlowFilterId,
    )

    if not runs:
        return []
    flow_ids = list({r.flow_id for r in runs})
    flows = {
        f.id: f.name
        for f in await client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=flow_ids)))
    }
    # Only the outcome rows: the other artifacts of many runs would pass the API's page size.
    artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[r.id for r in runs]),
            key=ArtifactFilterKey(any_=[OUTCOME_ARTIFACT]),
        )
    )
    outcomes: dict = {}
    for artifact in artifacts:
        if artifact.flow_run_id:
            data = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
            outcomes.setdefault(artifact.flow_run_id, []).extend(data)
    short = short_ids([str(r.id) for r in runs])
    return [_record(r, flows, outcomes) | {"short_id": short[str(r.id)]} for r in runs]


async def _recent_runs(limit: int) -> list[dict]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        runs = await client.read_flow_runs(limit=limit, sort=FlowRunSort.START_TIME_DESC)
        return await _records(client, runs)


def recent_runs(limit: int = 20) -> list[dict]:
    """The latest flow runs from the Prefect API, with what each compiled."""
    import asyncio

    return asyncio.run(_recent_runs(limit))


class UnknownRun(InputError):
    """No run, or more than one, answers to what was asked for (the message is one line)."""


async def _find_run(ref: str) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    wanted = ref.strip().lower()
    async with get_client() as client:
        recent = await client.read_flow_runs(limit=PREFIX_SEARCH, sort=FlowRunSort.START_TIME_DESC)
        named = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[ref.strip()]))
        )
        found = {r.id: r for r in named}
        found |= {r.id: r for r in recent if wanted and str(r.id).startswith(wanted)}
        if not found:
            try:  # a whole id of a run older than the latest ones
                run = await client.read_flow_run(uuid.UUID(wanted))
                found[run.id] = run
            except Exception:  # not an id, or no such run
                pass
        if len(found) == 1:
            return (await _records(client, list(found.values())))[0]
    if not found:
        raise UnknownRun(
            f"no flow run has the id, id prefix or name {ref!r} "
            f"(prefixes are looked up among the latest {PREFIX_SEARCH} runs)"
        )
    runs = sorted(found.values(), key=lambda r: str(r.id))
    short = short_ids([str(r.id) for r in runs])
    listed = ", ".join(f"{short[str(r.id)]} ({r.name})" for r in runs[:10])
    more = f" and {len(runs) - 10} more" if len(runs) > 10 else ""
    raise UnknownRun(f"{ref!r} matches {len(runs)} flow runs: {listed}{more}; give more of the id")


def find_run(ref: str) -> dict:
    """The run a whole id, a unique id prefix or a name names; ``UnknownRun`` if none or several."""
    import asyncio

    return asyncio.run(_find_run(ref))


def run_json(run: dict) -> dict:
    """A run as plain JSON values: ISO times with their +08:00 offset."""
    return run | {
        "start": run["start"].isoformat() if run["start"] else None,
        "end": run["end"].isoformat() if run["end"] else None,
    }


def read_manifests(run: dict, settings: Settings) -> list[dict]:
    """The run's manifests, read through the store they were written to (a folder or S3).

    Each is ``{"uri", "manifest"}``, or ``{"uri", "error"}`` when it cannot be read. A run that
    left no outcome row (it failed, or a nightly run found nothing new) is looked up under
    ``<settings.out>/runs/`` by its id.
    """
    recorded = [o["manifest"] for o in run["outcomes"] if o.get("manifest")]
    if recorded:
        # A recorded manifest is a whole uri, "s3://bucket/prefix/runs/<name>.json" or a path.
        places = []
        for uri in recorded:
            parent, _, key = uri.rpartition("/")
            places.append((uri, parent, key))
    else:
        out = settings.store(settings.out)
        suffix = f"-{run['flow_run_id']}.json"
        places = [(out.uri(k), settings.out, k) for k in out.keys(MANIFESTS) if k.endswith(suffix)]
    manifests = []
    for uri, parent, key in places:
        try:
            manifest = json.loads(settings.store(parent).read_bytes(key))
            if not isinstance(manifest, dict):
                raise ValueError("not a JSON object")
            manifests.append({"uri": uri, "manifest": manifest})
        except FileNotFoundError:
            manifests.append({"uri": uri, "error": "not found"})
        except (OSError, ValueError, StorageAccessError) as error:
            manifests.append({"uri": uri, "error": f"{type(error).__name__}: {error}"})
    return manifests


def mark_crashed(run_ids: list[str], by: str) -> list[str]:
    """Mark runs that were killed holding the lock (they could not say so) Crashed in Prefect.

    Only runs the API still shows as running or pending change; returns their ids.
    """
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    marked = []
    if not run_ids:
        return marked
    with get_client(sync_client=True) as client:
        for run_id in run_ids:
            try:
                run = client.read_flow_run(uuid.UUID(run_id))
            except Exception:  # not a Prefect run id, or a run of another API: nothing to mark
                continue
            if run.state and (run.state.is_running() or run.state.is_pending()):
                client.set_flow_run_state(
                    run.id,
                    Crashed(message=f"killed while holding the run lock; found by run {by}"),
                    force=True,
                )
                marked.append(run_id)
    return marked
