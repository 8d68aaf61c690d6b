"""The ``nianbao`` command line: one module per command group, one error path (flows/cli/common.py)."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys

_exit_status: list[int] = []  # set by main(): the process then ends without tearing down


def _end_now() -> None:
    """The last exit hook: end the process without freeing its objects one by one.

    Python's own end frees every object Prefect, pydantic and Polars made (0.3 s of a one-agency
    compile, for a process about to vanish). By now every other exit hook has run: the thread
    hooks (Prefect sent its last events and logs to the API), the other atexit hooks (logging
    flushed, a temporary Prefect server stopped); only the streams are left to flush.
    """
    if not _exit_status:
        return  # not the command (a test, a library user): Python ends as usual
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe or stream: nothing more can be said.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(_exit_status[0])


# Registered before anything else is imported, so it runs after every other hook (last in,
# first out).
atexit.register(_end_now)

from flows.cli import audit, compare, demo, history, reports, run, runs  # noqa: E402, F401  (each registers its commands)
from flows.cli.common import app  # noqa: E402

__all__ = ["app", "main"]


def main() -> None:
    """``nianbao``: run the command, then end quickly (``_end_now``) with its exit status."""
    try:
        app()
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            _exit_status.append(stop.code or 0)
        raise
    # Anything else (an uncaught exception, Ctrl-C): Python reports it and ends as usual.


if __name__ == "__main__":  # pragma: no cover
    main()
