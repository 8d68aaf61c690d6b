"""Build a run's Data Docs pages in another process, off the compile's critical path.

The pages are Great Expectations' own, and importing it costs 3–4.5 s: a compile hands the
validation frame its report suite ran on to a builder process (``python -m flows.data_docs``)
and goes on publishing. Called as a library (a flow, a test), the run
waits for the builder at its very end, so its output is complete when it returns. The command
line leaves the builder running (``builders_left_running``): the command returns once the
reports are published, and the pages follow a few seconds later, written by a process that
outlives the command.

A site is never half-written: every page is written whole (a temporary file renamed, or one S3
PUT) and the index last, so until the new index lands the old one lists the previous run's
pages, which stay in place. Of two builders racing, the older run never overwrites the newer
run's index.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from flows.io.store import Store
from flows.outputs.layout import DATA_DOCS_INDEX, data_docs_key

BUILT_FOR = "built_for.json"  # under the site: the run whose pages the index lists
_running: list[subprocess.Popen] = []
_leave_running = False


@dataclass(frozen=True)
class DocsJob:
    """What a builder needs: the frame, where the site goes, and which run it shows."""

    frame: pl.DataFrame
    out: Store
    run_id: str
    started: dt.datetime


@contextmanager
def builders_left_running() -> Iterator[None]:
    """Runs within do not wait for their Data Docs builders (the command line's runs)."""
    global _leave_running
    before, _leave_running = _leave_running, True
    try:
        yield
    finally:
        _leave_running = before


def start_building(job: DocsJob) -> str:
    """Start the builder of ``job``'s pages; the uri its index will have."""
    handle, path = tempfile.mkstemp(prefix="nianbao-docs-", suffix=".pickle")
    with os.fdopen(handle, "wb") as file:
        pickle.dump(job, file)
    builder = subprocess.Popen(
        [sys.executable, "-m", "flows.data_docs", path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        # Its own session: a Ctrl-C that stops the command does not cut the site off midway.
        # Its errors go where the command's go.
        start_new_session=True,
    )
    _running.append(builder)
    return job.out.uri(DATA_DOCS_INDEX)


def finish_building() -> list[int]:
    """Wait for this process's builders (unless left running); their exit codes."""
    if _leave_running:
        return []
    codes = [builder.wait() for builder in _running]
    _running.clear()
    return codes


def _newer_run_shown(out: Store, started: dt.datetime) -> bool:
    try:
        shown = json.loads(out.read_bytes(data_docs_key(BUILT_FOR)))
    except (FileNotFoundError, ValueError):
        return False
    return dt.datetime.fromisoformat(shown["started"]) > started


def build(job: DocsJob) -> None:
    """Build the pages (Great Expectations) and write them: pages first, the index last."""
    from expectations.run import build_data_docs

    files = build_data_docs(job.frame)
    index = files.pop("index.html")
    for path, data in sorted(files.items()):
        job.out.write_bytes(data_docs_key(path), data)
    if _newer_run_shown(job.out, job.started):
        return  # a later run's builder finished first: its index stays
    shown = {"run_id": job.run_id, "started": job.started.isoformat()}
    job.out.write_bytes(data_docs_key(BUILT_FOR), json.dumps(shown).encode())
    job.out.write_bytes(data_docs_key("index.html"), index)


def main(path: str) -> None:
    job_file = Path(path)
    try:
        job = pickle.loads(job_file.read_bytes())
    finally:
        job_file.unlink(missing_ok=True)
    build(job)


if __name__ == "__main__":
    main(sys.argv[1])
