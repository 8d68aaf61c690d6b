"""A Prefect server backed by PostgreSQL (the production setup) runs nianbao's flow."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from infra import postgres
from tests.helpers import GOLDEN, lay_landing

ROOT = Path(__file__).parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_prefect_server():
    folder = Path(tempfile.mkdtemp(prefix="nianbao-pg-"))
    url = postgres.start(folder, _free_port())
    port = _free_port()
    env = os.environ | {
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": url,
        "PREFECT_HOME": str(folder / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, "the Prefect server exited"
            time.sleep(1)
        else:
            pytest.fail("the Prefect server did not answer within 180 s")
        yield api, url
    finally:
        server.terminate()
        server.wait(timeout=30)
        postgres.stop(folder)


def test_flow_runs_through_a_postgresql_backed_server(postgres_prefect_server, tmp_path) -> None:
    api, url = postgres_prefect_server
    landing = lay_landing(GOLDEN / "fee_rounding_half_up", tmp_path / "landing", {})
    script = (
        "import datetime as dt; from flows.compile import compile_reports; "
        f"r = compile_reports(year=2024, landing={str(landing)!r}, out={str(tmp_path / 'out')!r}, "
        f"warehouse={str(tmp_path / 'wh')!r}, run_date=dt.date(2026, 11, 27)); print(r.run_id)"
    )
    env = os.environ | {"PREFECT_API_URL": api}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = done.stdout.strip().splitlines()[-1]

    run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()
    assert run["state"]["type"] == "COMPLETED"
    # The run is stored in PostgreSQL, not in a SQLite file.
    port = url.split(":")[-1].split("/")[0]
    stored = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "postgres",
            "-d",
            "prefect",
            "-tAc",
            f"select count(*) from flow_run where id = '{run_id}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert stored == "1"
