"""The report suite run by the Polars engine finds what Great Expectations finds, cell for cell.

Compiles run the report suite with the Polars engine (``expectations.polars_engine``) and never
import Great Expectations; these tests run both engines on the same validation frames (the
golden scenarios, the demo, and reports broken so that every expectation of the suite fails at
least once) and require the same violations and the same per-expectation results.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from expectations.build import REPORT_SUITE, load_suite
from expectations.run import (
    ReportValidation,
    _rule_name,
    validate_reports,
    validate_reports_with_great_expectations,
)
from flows.data_docs import DocsJob, build
from flows.demo.landing import build_demo_landing
from flows.io.ingest import ingest_and_compile
from flows.io.landing import LocalLanding
from flows.io.registry import load_registry
from flows.io.store import LocalStore
from tests.factories import agencies
from tests.helpers import GOLDEN, RUN_DATE, SCENARIOS, lay_landing, scenario_spec
from tests.test_balance import _set, _valid_cells
from transforms.balance import VIOLATION_SCHEMA, validation_frame


def _assert_same_outcome(frame: pl.DataFrame) -> ReportValidation:
    """Both engines on ``frame``: equal violations (as a set of rows) and equal results."""
    ours = validate_reports(frame, build_docs=False)
    theirs = validate_reports_with_great_expectations(frame)
    assert_frame_equal(
        ours.violations.sort(VIOLATION_SCHEMA.names(), nulls_last=True),
        theirs.violations.sort(VIOLATION_SCHEMA.names(), nulls_last=True),
    )

    def by_rule(checks: list[dict]) -> list[dict]:
        return sorted(checks, key=lambda c: (c["rule"], c["type"]))

    assert by_rule(ours.expectations) == by_rule(theirs.expectations)
    return ours


def _landing_frame(landing: Path, year: int) -> pl.DataFrame:
    cells, _ = ingest_and_compile(landing, year, RUN_DATE)
    registry, _, _ = load_registry(LocalLanding(landing), None)
    return validation_frame(cells, registry, None)


@pytest.mark.parametrize("name", SCENARIOS)
def test_engines_agree_on_the_golden_reports(name: str, tmp_path: Path) -> None:
    spec = scenario_spec(name)
    landing = lay_landing(GOLDEN / name, tmp_path / "landing", spec.get("deliveries", {}))
    _assert_same_outcome(_landing_frame(landing, spec["year"]))


def test_engines_agree_on_the_demo_reports(tmp_path: Path) -> None:
    checked = _assert_same_outcome(_landing_frame(build_demo_landing(tmp_path / "landing"), 2024))
    assert not checked.violations.filter(severity="error").height  # the demo publishes


def _cells(rulemaking: bool = False) -> pl.DataFrame:
    return _valid_cells(rulemaking)


def _frame(cells: pl.DataFrame, previous: pl.DataFrame | None = None, **registry) -> pl.DataFrame:
    return validation_frame(cells, agencies("ag-a", **registry), previous)


def _carried_last_year(other_org: int) -> pl.DataFrame:
    last = _set(_cells(), "requests", "carried_to_next_year", "other_org", other_org)
    return _set(last, "requests", "carried_to_next_year", "total", other_org)


def _two_agencies_one_broken() -> pl.DataFrame:
    good = _cells()
    bad = _set(good, "requests", "outcome_total", "other_org", 4).with_columns(
        agency_id=pl.lit("ag-b")
    )
    return validation_frame(pl.concat([good, bad]), agencies("ag-a", "ag-b"), None)


def _null_key_cell(cells: pl.DataFrame) -> pl.DataFrame:
    # A cell with no row: unknown to the format (C1), kept by `row != fees` as pandas keeps it.
    return pl.concat(
        [
            cells,
            cells.head(1).with_columns(
                row=pl.lit(None, pl.String), value=pl.lit(-4, pl.Decimal(18, 4))
            ),
        ]
    )


BROKEN = [
    pytest.param(lambda: _frame(pl.concat([_cells(), _cells().head(2)])), id="duplicate-cells"),
    pytest.param(
        lambda: _frame(
            _cells().with_columns(
                section=pl.when(pl.col("section") == "appeals")
                .then(pl.lit("procurement"))
                .otherwise("section")
            )
        ),
        id="old-template-section",
    ),
    pytest.param(
        lambda: _frame(_set(_cells(), "proactive", "penalty", "decisions", -2)), id="negative"
    ),
    pytest.param(
        # Fees may be negative (refunds, W3 warns): the range check leaves the money row out.
        lambda: _frame(_set(_cells(), "proactive", "fees", "amount_10k_yuan", -3)),
        id="negative-fees",
    ),
    pytest.param(
        lambda: _frame(_set(_cells(), "proactive", "penalty", "decisions", None)), id="blank"
    ),
    pytest.param(
        lambda: _frame(_set(_cells(), "proactive", "penalty", "decisions", 1.5)), id="fraction"
    ),
    pytest.param(
        lambda: _frame(_set(_cells(), "requests", "carried_to_next_year", "natural_person", 1)),
        id="unbalanced-B1",
    ),
    pytest.param(
        lambda: _frame(_set(_cells(), "requests", "outcome_total", "other_org", 1)),
        id="outcomes-B2",
    ),
    pytest.param(
        lambda: _frame(_set(_cells(), "requests", "new_received", "total", 5)), id="total-B3"
    ),
    pytest.param(lambda: _frame(_set(_cells(), "appeals", "review", "total", 2)), id="appeals-B4"),
    pytest.param(lambda: _frame(_cells(), _carried_last_year(2)), id="carried-over-B5"),
    pytest.param(
        lambda: _frame(
            _set(_cells(), "proactive", "normative_documents", "issued", 2),
            _set(_cells(), "proactive", "normative_documents", "in_force", 4),
        ),
        id="in-force-B6",
    ),
    pytest.param(lambda: _frame(_set(_cells(), "channels", "website", "items", 3)), id="B8"),
    pytest.param(
        lambda: _frame(_set(_cells(), "proactive", "regulations", "in_force", 1)), id="B9"
    ),
    pytest.param(
        lambda: _frame(
            _set(_set(_cells(), "channels", "website", "items", 0), "channels", "total", "items", 0)
        ),
        id="silent-channel-W1",
    ),
    pytest.param(lambda: _frame(_cells().filter(pl.col("row") != "penalty")), id="missing-C1"),
    pytest.param(lambda: _frame(_null_key_cell(_cells())), id="null-row"),
    pytest.param(_two_agencies_one_broken, id="two-agencies"),
]


@pytest.mark.parametrize("broken", BROKEN)
def test_engines_agree_on_a_broken_report(broken) -> None:
    checked = _assert_same_outcome(broken())
    assert not checked.violations.is_empty()


def test_every_expectation_of_the_suite_fails_in_some_broken_report() -> None:
    failed = set()
    for case in BROKEN:
        (make,) = case.values
        checked = validate_reports(make(), build_docs=False)
        failed |= {c["rule"] for c in checked.expectations if not c["success"]}
    suite = load_suite(REPORT_SUITE)["expectations"]
    assert failed == {_rule_name(e["type"], e["kwargs"]) for e in suite}


def test_engine_reports_a_failing_negative_fee_as_w3_but_never_as_a_negative_count() -> None:
    checked = validate_reports(
        _frame(_set(_cells(), "proactive", "fees", "amount_10k_yuan", -3)), build_docs=False
    )
    assert set(checked.violations["rule"]) == {"W3"}


@pytest.mark.slow
def test_compile_command_never_imports_great_expectations(tmp_path: Path) -> None:
    """The compile checks its reports without Great Expectations; only the Data Docs builder
    (another process) imports it."""
    landing = build_demo_landing(tmp_path / "landing")
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['nianbao', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('flows.cli', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "print('GX-IMPORTED' if 'great_expectations' in sys.modules else 'GX-NOT-IMPORTED')\n"
        "sys.exit(code)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    folders = ["--out", str(tmp_path / "published"), "--warehouse", str(tmp_path / "warehouse")]
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            "compile",
            "--year",
            "2024",
            "--landing",
            str(landing),
            *folders,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith("GX-NOT-IMPORTED")
    # The pages are built all the same, by the builder the command left running (its output is
    # the command's: the pipe closes once the site is complete).
    site = tmp_path / "published" / "validation" / "data_docs"
    assert (site / "index.html").is_file()
    assert list((site / "validations").rglob("*.html"))


def test_a_builder_of_an_older_run_adds_its_page_but_keeps_the_newer_runs_index(
    tmp_path: Path,
) -> None:
    out = LocalStore(tmp_path / "published")
    site = tmp_path / "published" / "validation" / "data_docs"
    newer = dt.datetime(2025, 3, 2, tzinfo=dt.UTC)
    build(DocsJob(_frame(_cells()), out, "run-new", newer))
    (shown,) = re.findall(r"validations/[^'\"]+\.html", (site / "index.html").read_text())

    build(DocsJob(_frame(_cells()), out, "run-old", newer - dt.timedelta(minutes=1)))

    pages = {p.relative_to(site).as_posix() for p in (site / "validations").rglob("*.html")}
    assert len(pages) == 2 and shown in pages
    assert re.findall(r"validations/[^'\"]+\.html", (site / "index.html").read_text()) == [shown]
    assert "run-new" in (site / "built_for.json").read_text()
