"""Golden scenarios: each folder under tests/golden pins one counting rule or input quirk.

A scenario folder holds ``landing/`` (raw files as upstream systems deliver them),
``expected.csv`` (every non-zero cell of the compiled reports; every other cell must be zero) and
``scenario.json`` (``year``, optional ``deliveries``: file → delivery time, optional
``quarantined``: the [file, row, column] triples that must be quarantined).
Files not named in ``deliveries`` are delivered at the same moment, so ties go by file name.

The scenarios run on the pure path (read, normalize, count: :func:`flows.io.ingest.ingest_and_compile`),
in seconds; one of them also runs through the whole compile flow, to pin that the flow counts and
quarantines exactly as the pure path does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.io.ingest import ingest_and_compile
from tests.helpers import (
    GOLDEN,
    RUN_DATE,
    SCENARIOS,
    assert_matches_scenario,
    lay_landing,
    scenario_spec,
)


@pytest.mark.parametrize("name", SCENARIOS)
def test_golden_scenario(name: str, tmp_path: Path) -> None:
    spec = scenario_spec(name)
    landing = lay_landing(GOLDEN / name, tmp_path / "landing", spec.get("deliveries", {}))

    cells, quarantine = ingest_and_compile(landing, spec["year"], RUN_DATE)

    assert_matches_scenario(name, cells, quarantine)


@pytest.mark.slow
def test_compile_flow_publishes_what_the_golden_scenario_expects(
    compile_landing, tmp_path: Path
) -> None:
    # Bad rows, misplaced files and an unknown agency's folder: the flow's own file selection
    # and quarantine, not only its counting.
    name = "bad_rows_quarantined_with_reason"
    spec = scenario_spec(name)
    landing = lay_landing(GOLDEN / name, tmp_path / "landing", spec.get("deliveries", {}))

    result = compile_landing(landing, spec["year"], **spec.get("compile", {}))

    assert_matches_scenario(name, result.cells, result.quarantine)
