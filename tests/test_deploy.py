"""What a new user and a Prefect user do first: the README's commands, --help, `prefect deploy`."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
README = REPO / "README.md"
NIANBAO = Path(sys.executable).parent / "nianbao"  # what `uv run nianbao` runs


def _api_environment(**extra: str) -> dict[str, str]:
    """The environment of a subprocess talking to the session's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    return os.environ | {"PREFECT_API_URL": PREFECT_API_URL.value(), "COLUMNS": "200"} | extra


def readme_first_commands() -> list[list[str]]:
    """The shell commands of README.md up to "Compiling your own reports", in order.

    Installing uv and running the test suite are left out (this is the test suite); any other
    command shape fails here, so a README edit cannot silently drop out of this test.
    """
    text = README.read_text(encoding="utf-8").split("## Compiling your own reports")[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            for command in filter(None, (c.strip() for c in line.split("&&"))):
                words = shlex.split(command)
                if words[:4] == ["python3", "-m", "pip", "install"] or "pytest" in words:
                    continue
                commands.append(words)
    return commands


def _as_run_here(words: list[str]) -> list[str]:
    """`uv run [--locked] nianbao …` as this environment runs it."""
    options = [w for w in words[2:] if w == "--locked"]
    assert words[:2] == ["uv", "run"] and words[2 + len(options)] == "nianbao", words
    return [str(NIANBAO), *words[3 + len(options) :]]


def test_readme_commands_after_the_demo_work_as_written(prefect_api, tmp_path: Path) -> None:
    commands = readme_first_commands()
    shown = [" ".join(c) for c in commands]
    # The README must keep showing the demo followed by the everyday commands on its output.
    assert shown[0] == "uv run --locked nianbao demo"
    assert "uv run nianbao show --year 2024 --agency cq-qijiang-cgj" in shown
    assert "uv run nianbao compile --year 2024 --agency cq-qijiang-cgj" in shown

    cwd = tmp_path
    outputs = {}
    for words in commands:
        if words[0] == "cd":
            cwd = cwd / words[1]
            continue
        run = subprocess.run(
            _as_run_here(words),
            cwd=cwd,
            env=_api_environment(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, f"{' '.join(words)}:\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
        outputs[" ".join(words[3:5])] = run.stdout

    # The demo says where the report to publish is, and it is there.
    report = "demo/published/reports/year=2024/agency_id=cq-qijiang-cgj/report.docx"
    assert f"The report to publish: {report}" in outputs["nianbao demo"]
    assert (tmp_path / report).is_file() and (tmp_path / "demo/published/index.html").is_file()
    shown = outputs["show --year"]
    assert "重庆市綦江区城市管理局" in shown and "2024年政府信息公开工作年度报告" in shown
    # The demo's narrative file fills every part only the office can write: nothing to fill in.
    assert "六、其他需要报告的事项" in shown and "待填写" not in shown
    # The compile read the demo's landing zone and found the report the demo published: the
    # same report, so no second version.
    assert "1 report(s) published (final" in outputs["compile --year"]
    assert "1 of them unchanged (no new version)" in outputs["compile --year"]
    assert "rows read" in outputs["compile --year"]
    versions = list(
        (tmp_path / "demo/published/history/year=2024/agency_id=cq-qijiang-cgj").iterdir()
    )
    assert len(versions) == 1
    # The demo wrote only under demo/: no landing zone or output of the user's own was made.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


@pytest.mark.slow
def test_demo_refuses_to_replace_a_landing_folder_it_did_not_write(tmp_path: Path) -> None:
    own = tmp_path / "landing" / "agencies.csv"
    own.parent.mkdir()
    own.write_text("agency_id,机关名称\nmy-agency,我的机关\n", encoding="utf-8")
    run = subprocess.run(
        [str(NIANBAO), "demo", "--dir", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=os.environ | {"COLUMNS": "200"},
        timeout=120,
    )
    assert run.returncode == 2
    assert "landing exists and was not written by the demo; choose another --dir" in run.stderr
    assert own.read_text(encoding="utf-8") == "agency_id,机关名称\nmy-agency,我的机关\n"


def test_demo_recognizes_its_own_landing_zone_to_rebuild_it(tmp_path: Path) -> None:
    from flows.demo.landing import build_demo_landing, is_demo_landing

    assert is_demo_landing(build_demo_landing(tmp_path / "demo" / "landing"))
    (tmp_path / "demo" / "landing" / "agencies.csv").write_text("agency_id\nmine\n")
    assert not is_demo_landing(tmp_path / "demo" / "landing")
    assert not is_demo_landing(tmp_path / "nothing")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["compile", "nightly"])
def test_help_names_the_environment_variable_of_each_location_option(command: str) -> None:
    run = subprocess.run(
        [str(NIANBAO), command, "--help"],
        capture_output=True,
        text=True,
        env=os.environ | {"COLUMNS": "200"},
        timeout=60,
    )
    assert run.returncode == 0
    for option, variable in [
        ("--landing", "NIANBAO_LANDING"),
        ("--out", "NIANBAO_OUT"),
        ("--warehouse", "NIANBAO_WAREHOUSE"),
        ("--dask-address", "NIANBAO_DASK_ADDRESS"),
    ]:
        assert option in run.stdout
        assert f"[env var: {variable}]" in run.stdout


# `prefect deploy` and a worker, as a Prefect user runs them against a real server.


def _read_deployments() -> tuple:
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            pool = await client.read_work_pool("nianbao")
            nightly = await client.read_deployment_by_name("nightly-year-to-date/nightly")
            annual = await client.read_deployment_by_name("compile-annual-reports/annual")
            return pool, nightly, annual

    return asyncio.run(read())


def test_prefect_yaml_pulls_from_the_workers_checkout_and_has_no_empty_schedules() -> None:
    import yaml

    document = yaml.safe_load((REPO / "infra" / "prefect.yaml").read_text(encoding="utf-8"))
    (step,) = document["pull"]
    assert step == {
        "prefect.deployments.steps.set_working_directory": {"directory": "{{ $NIANBAO_CHECKOUT }}"}
    }
    annual = next(d for d in document["deployments"] if d["name"] == "annual")
    assert "schedules" not in annual  # on demand; `schedules: []` is the deprecated form


@pytest.fixture(scope="module")
def deployed(prefect_api):
    """The deployments as `python -m infra.deploy` registers them on a server without a pool."""
    run = subprocess.run(
        [sys.executable, "-m", "infra.deploy"],
        cwd=REPO,
        env=_api_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def test_deploy_script_creates_the_work_pool_and_both_deployments(deployed) -> None:
    from flows.deployments import PULL_STEPS

    pool, nightly, annual = _read_deployments()
    assert (pool.name, pool.type) == ("nianbao", "process")
    (schedule,) = nightly.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Asia/Shanghai")
    assert annual.schedules == []
    for deployment, entrypoint in [
        (nightly, "flows/nightly.py:nightly_year_to_date"),
        (annual, "flows/compile.py:compile_reports"),
    ]:
        assert deployment.work_pool_name == "nianbao"
        assert deployment.entrypoint == entrypoint
        # Resolved on the worker at run time, not frozen to the deploying machine's folder.
        assert deployment.pull_steps == PULL_STEPS
        assert deployment.parameters == {}
        assert deployment.global_concurrency_limit.limit == 1
    assert annual.parameter_openapi_schema["required"] == ["year"]
    for location in ("landing", "out", "warehouse"):
        assert annual.parameter_openapi_schema["properties"][location]["default"] is None
        assert f"NIANBAO_{location.upper()}" in annual.description


def test_deploy_script_run_again_updates_and_keeps_the_pool(deployed) -> None:
    pool, nightly, _ = _read_deployments()
    again = subprocess.run(
        [sys.executable, "-m", "infra.deploy"],
        cwd=REPO,
        env=_api_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    pool_after, nightly_after, _ = _read_deployments()
    assert (pool_after.id, nightly_after.id) == (pool.id, nightly.id)


def test_served_and_deployed_deployments_do_not_replace_each_other(deployed) -> None:
    from prefect.client.orchestration import get_client

    from flows.deployments import runner_deployments

    for deployment in runner_deployments():
        deployment.apply()

    async def names():
        async with get_client() as client:
            return {d.name: d.work_pool_name for d in await client.read_deployments()}

    found = asyncio.run(names())
    assert found["nightly"] == found["annual"] == "nianbao"
    assert found["nightly-served"] is None and found["annual-served"] is None


def test_a_worker_of_the_pool_runs_the_annual_deployment_with_the_locations_of_its_environment(
    deployed, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.deployments import run_deployment

    from tests.helpers import GOLDEN, lay_landing

    landing = lay_landing(GOLDEN / "fee_rounding_half_up", tmp_path / "landing", {})
    scheduled = run_deployment(
        "compile-annual-reports/annual", parameters={"year": 2024}, timeout=0
    )
    # A worker started from elsewhere: only its environment says where the code and data are.
    worker = subprocess.run(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "nianbao", "--run-once"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=_api_environment(
            NIANBAO_CHECKOUT=str(REPO),
            NIANBAO_LANDING=str(landing),
            NIANBAO_OUT=str(tmp_path / "published"),
            NIANBAO_WAREHOUSE=str(tmp_path / "warehouse"),
        ),
    )
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]

    async def state():
        async with get_client() as client:
            return (await client.read_flow_run(scheduled.id)).state

    final = asyncio.run(state())
    assert final.type == StateType.COMPLETED, (final, worker.stdout[-3000:], worker.stderr[-3000:])
    assert list((tmp_path / "published" / "report_cells" / "year=2024").iterdir())
    assert (tmp_path / "warehouse" / "records").is_dir()
