"""Shared fixtures: one real Prefect API for the session, and a helper that compiles a landing zone."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from flows.cli.common import use_prefect_defaults
from tests.helpers import RUN_DATE

use_prefect_defaults()
# Property tests: the ci profile (HYPOTHESIS_PROFILE=ci, and the default where CI=true, as CI
# runs) tries more registers, in the same order on every run; dev (the default elsewhere) fewer,
# for a quick local loop. Counting a register
# takes longer than Hypothesis's default deadline on a loaded machine: no deadline.
settings.register_profile(
    "ci",
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)
# Tests never touch a developer's own Prefect server or ~/.prefect.
os.environ.pop("PREFECT_API_URL", None)


# A test that needs one of these starts a Prefect API or flow, an S3 server, a PostgreSQL cluster
# or a Dask cluster: seconds to minutes each. It is in the slow layer (`-m "not slow"` skips it);
# tests that start Chromium or the command line in a process say so with @pytest.mark.slow.
SLOW_FIXTURES = {"prefect_api", "s3_server", "postgres_prefect_server", "dask_cluster"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect API (a temporary server on loopback with its own SQLite database)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def compile_landing(prefect_api, tmp_path: Path):
    """Run the compile flow on a landing folder into fresh output folders; returns the result."""
    from flows.compile import compile_reports

    def run(landing: Path, year: int, run_date: dt.date = RUN_DATE, **kwargs):
        kwargs.setdefault("out", str(tmp_path / "published"))
        kwargs.setdefault("warehouse", str(tmp_path / "warehouse"))
        return compile_reports(year=year, landing=str(landing), run_date=run_date, **kwargs)

    return run


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """SeaweedFS on loopback for the whole session, with its data in a temp folder."""
    from tests.s3server import S3Server

    server = S3Server(tmp_path_factory.mktemp("seaweedfs")).start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """nianbao configured for the test S3 server, through the environment as a user would."""
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture(scope="module")
def dask_cluster():
    """The scheduler address of an in-process Dask cluster (tests/test_dask*.py)."""
    from distributed import LocalCluster

    # Threads, not processes: the test process is not a script with a __main__ guard.
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address
