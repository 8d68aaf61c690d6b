"""Tasks retry on transient IO errors only."""

from __future__ import annotations

import pytest
from prefect import flow, task

from flows.runtime import TRANSIENT_IO_RETRIES


def _flaky(error: Exception, failures: int):
    attempts = []

    @task(**(TRANSIENT_IO_RETRIES | {"retry_delay_seconds": 0}))
    def read() -> int:
        attempts.append(1)
        if len(attempts) <= failures:
            raise error
        return len(attempts)

    @flow
    def run() -> int:
        return read()

    return run, attempts


def test_a_dropped_connection_is_retried(prefect_api) -> None:
    run, attempts = _flaky(ConnectionResetError("connection reset by peer"), failures=2)
    assert run() == 3
    assert len(attempts) == 3


def test_a_missing_file_fails_at_once(prefect_api) -> None:
    run, attempts = _flaky(FileNotFoundError("landing/agencies.csv"), failures=1)
    with pytest.raises(FileNotFoundError):
        run()
    assert len(attempts) == 1
