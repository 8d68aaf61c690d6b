"""The orchestration surface: deployments, schedules and parameters, pinned by a reviewed snapshot."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from flows.deployments import PREFECT_YAML, orchestration_surface, prefect_yaml, runner_deployments

SNAPSHOT = Path(__file__).parent / "snapshots" / "orchestration.json"


def test_orchestration_surface_matches_the_reviewed_snapshot() -> None:
    # A rename, a new parameter or a moved schedule shows up here as a reviewed diff.
    assert orchestration_surface() == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_infra_prefect_yaml_is_written_from_the_deployment_list() -> None:
    assert PREFECT_YAML.read_text(encoding="utf-8") == prefect_yaml()


def test_nightly_runs_at_two_in_the_morning_beijing_time(prefect_api) -> None:
    from prefect.client.orchestration import get_client

    for deployment in runner_deployments():
        deployment.apply()

    async def read():
        async with get_client() as client:
            nightly = await client.read_deployment_by_name("nightly-year-to-date/nightly-served")
            annual = await client.read_deployment_by_name("compile-annual-reports/annual-served")
            return nightly, annual

    nightly, annual = asyncio.run(read())
    (schedule,) = nightly.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Asia/Shanghai")
    assert annual.schedules == []
    assert "year" in annual.parameter_openapi_schema["required"]
    limits = [d.global_concurrency_limit.limit for d in (nightly, annual)]
    assert limits == [1, 1]  # one run of each at a time: S3 has no lock
