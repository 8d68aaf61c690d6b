"""The run manifest under ``<out>/runs/``: what a run read, kept, checked and wrote.

Written at a run's end (``completed_manifest``) or when it stopped part-way
(``interrupted_manifest``); ``nianbao runs show`` and the run history read them back.
"""

from __future__ import annotations

import datetime as dt
import json

from flows.io.landing import ManifestInput, RegistryInput
from flows.io.store import Store
from flows.outputs.layout import manifest_key
from flows.results import CompileResult


def completed_manifest(
    result: CompileResult,
    parameters: dict,
    inputs: list[RegistryInput | ManifestInput],
    started: dt.datetime,
    flow_name: str,
) -> dict:
    failed = result.failed_agencies
    return {
        "run_id": result.run_id,
        "flow": flow_name,
        "parameters": parameters,
        "status": result.status,
        "as_of": result.period.end.isoformat(),
        "started_at": started.isoformat(),
        "ended_at": dt.datetime.now(dt.UTC).isoformat(),
        "inputs": [i.to_json() for i in inputs],
        "sources": result.source_counts,
        "quarantine": {"rows": result.quarantine.height, "uri": result.quarantine_uri},
        "validation": {
            "passed": sorted(set(result.cells["agency_id"]) - set(failed)),
            "failed": failed,
            "violations": result.violations.to_dicts(),
            "record_checks": result.record_checks,
            "data_docs": result.data_docs_uri,
        },
        "outputs": result.published,
        "unchanged": result.unchanged,
        "rollups": result.rollups,
    }


def interrupted_manifest(
    run_id: str,
    flow_name: str,
    parameters: dict,
    error: Exception,
    started: dt.datetime,
    published: list[str],
    not_published: list[str],
) -> dict:
    return {
        "run_id": run_id,
        "flow": flow_name,
        "parameters": parameters,
        "status": "interrupted",
        "error": f"{type(error).__name__}: {error}",
        "started_at": started.isoformat(),
        "ended_at": dt.datetime.now(dt.UTC).isoformat(),
        "published": published,
        "not_published": not_published,
    }


def write_manifest(out: Store, manifest: dict, started: dt.datetime) -> str:
    """Write a manifest under ``runs/``; returns its URI."""
    return out.write_bytes(
        manifest_key(started, manifest["run_id"]),
        json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode(),
    )
