"""Golden scenarios: each folder under tests/golden pins one counting rule or input quirk.

A scenario folder holds ``landing/`` (raw files as upstream systems deliver them),
``expected.csv`` (every non-zero cell of the compiled reports; every other cell must be zero) and
``scenario.json`` (``year``, optional ``deliveries``: file → delivery time, optional
``quarantined``: the [file, row, column] triples that must be quarantined).
Files not named in ``deliveries`` are delivered at the same moment, so ties go by file name.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import nonzero_cells

GOLDEN = Path(__file__).parent / "golden"
DEFAULT_DELIVERY = dt.datetime(2025, 1, 10, tzinfo=dt.UTC)
SCENARIOS = sorted(p.name for p in GOLDEN.iterdir() if (p / "scenario.json").is_file())


def lay_landing(scenario: Path, target: Path, deliveries: dict[str, str]) -> Path:
    """Copy a scenario's landing files and give each its delivery time (git keeps no mtimes)."""
    shutil.copytree(scenario / "landing", target)
    for path in target.rglob("*"):
        if path.is_file():
            relative = path.relative_to(target).as_posix()
            when = deliveries.get(relative)
            moment = dt.datetime.fromisoformat(when) if when else DEFAULT_DELIVERY
            os.utime(path, (moment.timestamp(), moment.timestamp()))
    return target


@pytest.mark.parametrize("name", SCENARIOS)
def test_golden_scenario(name: str, compile_landing, tmp_path: Path) -> None:
    scenario = GOLDEN / name
    spec = json.loads((scenario / "scenario.json").read_text(encoding="utf-8"))
    landing = lay_landing(scenario, tmp_path / "landing", spec.get("deliveries", {}))

    result = compile_landing(landing, spec["year"], **spec.get("compile", {}))

    expected = pl.read_csv(scenario / "expected.csv", infer_schema=False, comment_prefix="#").sort(
        pl.all()
    )
    assert nonzero_cells(result.cells).to_dicts() == expected.to_dicts()
    quarantined = [
        [q["file"], q["row"], q["column"]] for q in result.quarantine.iter_rows(named=True)
    ]
    assert sorted(quarantined, key=str) == sorted(spec.get("quarantined", []), key=str)
