"""Run history: Prefect artifacts every run leaves, and reading runs back for ``nianbao runs``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import polars as pl
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.render import escape_markdown

if TYPE_CHECKING:
    from flows.compile import CompileResult

OUTCOME_ARTIFACT = "run-outcome"
KEY_CELLS = {
    "channels/total/items": "主动公开条数",
    "proactive/licensing/decisions": "行政许可",
    "proactive/penalty/decisions": "行政处罚",
    "proactive/fees/amount_10k_yuan": "收费（万元）",
    "requests/new_received/total": "新收申请",
    "requests/outcome_total/total": "办结",
    "requests/carried_to_next_year/total": "结转下年",
}


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
    lines += ["", f"**Validation**: {len(result.failed_agencies)} report(s) refused, "
              f"{result.violations.height - failed.height} warning(s)."]  # fmt: skip
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


async def _recent_runs(limit: int) -> list[dict]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        runs = await client.read_flow_runs(limit=limit, sort=FlowRunSort.START_TIME_DESC)
        flows = {f.id: f.name for f in await client.read_flows(limit=200)}
        ids = [r.id for r in runs]
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        )
    outcome = {}
    for artifact in artifacts:
        if artifact.key == OUTCOME_ARTIFACT and artifact.flow_run_id:
            data = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
            outcome.setdefault(artifact.flow_run_id, []).extend(data)
    return [
        {
            "flow_run_id": str(r.id),
            "flow": flows.get(r.flow_id, "?"),
            "name": r.name,
            "state": r.state_name,
            "start": r.start_time,
            "duration_s": r.total_run_time.total_seconds(),
            "parameters": r.parameters,
            "outcomes": outcome.get(r.id, []),
        }
        for r in runs
    ]


def recent_runs(limit: int = 20) -> list[dict]:
    """The latest flow runs from the Prefect API, with what each compiled."""
    import asyncio

    return asyncio.run(_recent_runs(limit))


def mark_crashed(run_ids: list[str], by: str) -> list[str]:
    """Mark runs that were killed holding the lock (they could not say so) Crashed in Prefect.

    Only runs the API still shows as running or pending change; returns their ids.
    """
    import uuid

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
