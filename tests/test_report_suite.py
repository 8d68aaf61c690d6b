"""The report suite run by Great Expectations: each built-in check fails on its error, passes clean."""

from __future__ import annotations

import re

import polars as pl
import pytest

from expectations.run import validate_reports
from tests.factories import agencies
from tests.test_balance import _set, _valid_cells
from transforms.balance import validation_frame


def _frame(cells: pl.DataFrame) -> pl.DataFrame:
    return validation_frame(cells, agencies("ag-a"), None)


@pytest.fixture(scope="module")
def clean_run():
    return validate_reports(_frame(_valid_cells()))


def test_a_clean_report_passes_every_check_and_gets_data_docs(clean_run) -> None:
    assert clean_run.violations.is_empty()
    assert all(check["success"] for check in clean_run.expectations)
    index = clean_run.docs_files["index.html"].decode()
    page = re.search(r"(validations/[^'\"]+\.html)", index)
    assert page and page.group(1) in clean_run.docs_files  # the last run is listed and rendered


@pytest.mark.parametrize(
    ("break_it", "rule"),
    [
        pytest.param(
            lambda c: pl.concat([c, c.head(1)]),
            "compound_columns_to_be_unique(agency_id,section,row,column)",
            id="duplicate-cell",
        ),
        pytest.param(
            lambda c: _set(c, "proactive", "penalty", "decisions", None), "B7", id="blank"
        ),
        pytest.param(
            lambda c: _set(c, "proactive", "penalty", "decisions", -2),
            "column_values_to_be_between(value)",
            id="negative",
        ),
        pytest.param(
            lambda c: c.with_columns(
                section=pl.when(pl.col("section") == "appeals")
                .then(pl.lit("procurement"))
                .otherwise("section")
            ),
            "column_values_to_be_in_set(section)",
            id="old-template-section",
        ),
        pytest.param(
            lambda c: _set(c, "requests", "new_received", "total", 9), "B3", id="wrong-total"
        ),
    ],
)
def test_each_check_fails_on_its_error(break_it, rule: str) -> None:
    checked = validate_reports(_frame(break_it(_valid_cells())), build_docs=False)
    failed = {c["rule"] for c in checked.expectations if not c["success"]}
    assert rule in failed
    assert rule in set(checked.violations["rule"])
    assert set(checked.violations.filter(rule=rule)["agency_id"]) == {"ag-a"}


def test_warnings_are_reported_with_their_level() -> None:
    quiet = _set(
        _set(_valid_cells(), "channels", "website", "items", 0), "channels", "total", "items", 0
    )
    checked = validate_reports(_frame(quiet), build_docs=False)
    assert checked.violations.select("rule", "severity").rows() == [("W1", "warning")]
