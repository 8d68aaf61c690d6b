"""Run ``nianbao compile`` (or ``nightly``) with each recipe step's wall time, CPU time and
memory printed to stderr (run by hand, never in CI).

    PREFECT_API_URL=http://127.0.0.1:4200/api \
        uv run python bench/steps.py compile --year 2024 --landing L --out O --warehouse W

Each step of ``flows/recipe.py`` (``ingest``, ``draft``, ``publish``, …) is wrapped before the
command runs, in this process: "cpu" is this process's user + system time plus that of the
child processes it has reaped (the render workers are counted when their pool ends, not while
they run), "rss"/"hwm" this process's resident memory now and at its peak. The timer adds
little but the figures are one run's: compare shares, and whole runs with ``bench/scale.py``.
"""

from __future__ import annotations

import functools
import resource
import sys
import time

import flows.recipe as recipe

STEPS = (
    "ingest",
    "read_narratives",
    "store_records",
    "all_quarantined",
    "store_quarantine",
    "count",
    "read_published_cells",
    "look_for_standing",
    "draft",
    "render_ahead_of_checks",
    "check",
    "still_standing",
    "draft_late",
    "publish",
    "publish_changes",
    "publish_data_docs",
    "roll_up",
    "publish_site",
    "record",
)
STARTED = time.perf_counter()


def _cpu() -> float:
    own, reaped = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


def _memory() -> str:
    with open("/proc/self/status", encoding="ascii") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM")))
    rss, hwm = (int(fields[k].split()[0]) // 1024 for k in ("VmRSS", "VmHWM"))
    return f"rss {rss:5d} MB hwm {hwm:5d} MB"


def _timed(name: str):
    step = getattr(recipe, name)

    @functools.wraps(step)
    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), _cpu()
        try:
            return step(*args, **kwargs)
        finally:
            print(
                f"STEP {name:24s} wall {time.perf_counter() - wall:7.2f} s  "
                f"cpu {_cpu() - cpu:7.2f} s  {_memory()}  at {time.perf_counter() - STARTED:7.2f} s",
                file=sys.stderr,
                flush=True,
            )

    return timed


if __name__ == "__main__":  # render workers import this module again: wrap only here
    for name in STEPS:
        if hasattr(recipe, name):
            setattr(recipe, name, _timed(name))
        else:
            print(f"(no step {name} in flows/recipe.py: not timed)", file=sys.stderr)
    from flows.cli import app

    sys.argv[0] = "nianbao"
    app()
