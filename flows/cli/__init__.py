"""The ``nianbao`` command line: one module per command group, one error path (flows/cli/common.py)."""

from __future__ import annotations

import sys

from flows.cli import audit, compare, demo, history, reports, run, runs  # noqa: F401  (each registers its commands)
from flows.cli.common import app

__all__ = ["app"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
