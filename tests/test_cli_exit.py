"""The ``nianbao`` command ends at once when done (flows/cli ``main``), with nothing lost:
its exit status, its whole output, every exit hook, and the run's logs on the Prefect API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.helpers import GOLDEN, compile_args

REPO = Path(__file__).parent.parent


def _nianbao(args: list[str], env: dict[str, str] | None = None, before: str = ""):
    """``nianbao ARGS`` in a new Python, as the installed command runs it (``main``);
    ``before``: code run first, after flows.cli is imported."""
    script = f"import sys\nfrom flows.cli import main\n{before}\nsys.argv = ['nianbao', *sys.argv[1:]]\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env=os.environ | {"COLUMNS": "200"} | (env or {}),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_command_keeps_its_exit_status_and_runs_every_exit_hook(tmp_path: Path) -> None:
    marker = tmp_path / "hook-ran"
    # A hook registered after flows.cli, as Prefect, logging and Polars register theirs.
    hook = f"import atexit\natexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))"

    usage_error = _nianbao(["show", "--year", "1999", "--agency", "../x"], before=hook)
    assert usage_error.returncode == 2
    assert usage_error.stderr.startswith("error:")
    assert marker.read_text() == "ran"

    marker.unlink()
    helped = _nianbao(["--help"], before=hook)
    assert helped.returncode == 0
    # The whole help, to its last command, though the process ends without tearing down.
    assert helped.stdout.rstrip().endswith("╯") and "runs" in helped.stdout
    assert marker.read_text() == "ran"


def test_a_compile_by_the_command_leaves_its_whole_run_on_the_prefect_api(
    prefect_api, tmp_path: Path
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL

    landing = GOLDEN / "fee_rounding_half_up" / "landing"
    run = _nianbao(
        compile_args(landing, tmp_path / "published", tmp_path / "warehouse"),
        env={"PREFECT_API_URL": PREFECT_API_URL.value()},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    run_id = uuid.UUID(re.search(r"Run ([0-9a-f-]{36})", run.stdout).group(1))

    # Task runs reach the API as events, sent by a thread the quick end must not cut off;
    # the server takes them in a moment later.
    of_run = FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run_id).state.is_completed()
        for _ in range(60):
            states = {
                t.task_key.split(".")[-1].split("-")[0]: t.state
                for t in client.read_task_runs(flow_run_filter=of_run)
            }
            if "record_run" in states and all(s.is_completed() for s in states.values()):
                break
            time.sleep(0.5)
    # The run's last task, the manifest, sent just before the process ended.
    assert states.get("record_run") and states["record_run"].is_completed(), states
    assert all(state.is_completed() for state in states.values()), states
