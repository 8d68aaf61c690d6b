"""The one place that lists nianbao's flows, deployments and schedules.

Two ways to run them, never both on one server: ``nianbao serve`` serves them from its own
process as ``<flow>/<name>-served``; ``python -m infra.deploy`` registers them from
``infra/prefect.yaml`` (written from here by ``python -m flows.deployments``) as ``<flow>/<name>``
for the workers of the ``nianbao`` work pool. The distinct names keep one from silently taking
over the other's deployments (and their schedules). A test keeps the file, and a reviewed
snapshot, equal to this list.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect.schedules import Cron
from prefect.utilities.callables import parameter_schema

from flows.compile import FLOW_NAME, compile_reports
from flows.nightly import NIGHTLY_FLOW, nightly_year_to_date
from transforms.parse import BEIJING as BEIJING_ZONE_NAME

TIMEZONE = BEIJING_ZONE_NAME
NIGHTLY_CRON = "0 2 * * *"  # 02:00 Beijing time: after the upstream systems' midnight exports
# One run of each deployment at a time: on S3 there is no lock on the warehouse and the output
# (local folders are locked by the flows themselves), so the scheduler must not overlap runs.
CONCURRENCY_LIMIT = 1
PREFECT_YAML = Path(__file__).parent.parent / "infra" / "prefect.yaml"
WORK_POOL = "nianbao"  # a process pool; infra/deploy.py creates it when the server has none
SERVED_SUFFIX = "-served"
# A worker runs a flow from its own checkout of this repository, in that checkout's environment
# (`uv sync`): it names the folder in NIANBAO_CHECKOUT. Prefect keeps the placeholder in the
# deployment and resolves it on the worker when a run starts.
PULL_STEPS = [
    {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $NIANBAO_CHECKOUT }}"}}
]
# Where runs read and write when a run gives no landing/out/warehouse: the flows read these
# settings (flows/settings.py) in the process that runs them — on a worker, its environment.
LOCATION_DEFAULTS = (
    "landing, out and warehouse default to NIANBAO_LANDING, NIANBAO_OUT and NIANBAO_WAREHOUSE "
    "where the run runs"
)

DEPLOYMENTS = (
    {
        "name": "nightly",
        "flow": nightly_year_to_date,
        "entrypoint": "flows/nightly.py:nightly_year_to_date",
        "description": "Provisional year-to-date reports of the agencies whose landing files "
        f"changed; {LOCATION_DEFAULTS}.",
        "cron": NIGHTLY_CRON,
        "parameters": {},
    },
    {
        "name": "annual",
        "flow": compile_reports,
        "entrypoint": "flows/compile.py:compile_reports",
        "description": "The annual compilation, on demand: -p year=2024 [-p agencies='[\"id\"]']; "
        f"{LOCATION_DEFAULTS}.",
        "cron": None,
        "parameters": {},
    },
)


def runner_deployments() -> list:
    """The deployments as Prefect builds them for ``serve``, named ``<name>-served``."""
    return [
        d["flow"].to_deployment(
            name=d["name"] + SERVED_SUFFIX,
            description=d["description"],
            schedules=[Cron(d["cron"], timezone=TIMEZONE)] if d["cron"] else [],
            parameters=d["parameters"],
            concurrency_limit=CONCURRENCY_LIMIT,
        )
        for d in DEPLOYMENTS
    ]


def orchestration_surface() -> dict:
    """Flows, deployments, schedules and parameters, as a reviewable document."""
    return {
        "flows": sorted([FLOW_NAME, NIGHTLY_FLOW]),
        "work_pool": WORK_POOL,
        "pull": PULL_STEPS,
        "deployments": [
            {
                "name": f"{d['flow'].name}/{d['name']}",
                "served_as": f"{d['flow'].name}/{d['name']}{SERVED_SUFFIX}",
                "entrypoint": d["entrypoint"],
                "schedules": [{"cron": d["cron"], "timezone": TIMEZONE}] if d["cron"] else [],
                "parameters": d["parameters"],
                "parameter_schema": {
                    name: {k: v for k, v in spec.items() if k != "position"}
                    for name, spec in parameter_schema(d["flow"].fn)
                    .model_dump()["properties"]
                    .items()
                },
                "required": parameter_schema(d["flow"].fn).model_dump()["required"],
            }
            for d in DEPLOYMENTS
        ],
    }


def prefect_yaml() -> str:
    """``infra/prefect.yaml`` for ``prefect deploy`` to a work pool, from the same list."""
    document = {
        "name": "nianbao",
        "prefect-version": "3.9",
        "pull": PULL_STEPS,
        "deployments": [
            {
                "name": d["name"],
                "entrypoint": d["entrypoint"],
                "description": d["description"],
                "parameters": d["parameters"],
                # On demand: no `schedules` key at all (`schedules: []` is the deprecated form).
                **({"schedules": [{"cron": d["cron"], "timezone": TIMEZONE}]} if d["cron"] else {}),
                "concurrency_limit": CONCURRENCY_LIMIT,
                "work_pool": {"name": WORK_POOL},
            }
            for d in DEPLOYMENTS
        ],
    }
    header = "# Written by `python -m flows.deployments` from flows/deployments.py; do not edit.\n"
    return header + yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def serve() -> None:
    """Serve every deployment from this process: the nightly schedule runs, annual runs on demand."""
    from prefect import serve as prefect_serve

    prefect_serve(*runner_deployments())


if __name__ == "__main__":
    PREFECT_YAML.write_text(prefect_yaml(), encoding="utf-8")
    print(f"wrote {PREFECT_YAML}")
