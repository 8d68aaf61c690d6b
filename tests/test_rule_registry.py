"""One home for validation: each rule is declared once with its level (transforms/rules.py), and
the normalizer, the suites and the report checks all take it from there."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from expectations.build import all_suites, load_suite
from expectations.polars_engine import validate_records
from expectations.run import validate_reports
from tests.factories import agencies, records
from tests.test_balance import _set, _valid_cells
from tests.test_hostile_values import _normalized
from transforms.balance import BALANCE_RULES, validation_frame
from transforms.rules import (
    EARLIEST_PLAUSIBLE_DATE,
    RECORD_RULES,
    REPORT_RULES,
    Level,
    record_rules,
    rule,
)
from transforms.sources import SOURCES

RUN_DATE = dt.date(2026, 11, 27)


def test_every_rule_is_declared_once_with_a_level() -> None:
    assert set(REPORT_RULES) >= {"C1", *(f"B{i}" for i in range(1, 10)), "W1", "W2", "W3"}
    assert all(isinstance(r.level, Level) for r in [*REPORT_RULES.values(), *RECORD_RULES.values()])
    with pytest.raises(ValueError, match="B1 is declared twice"):
        rule("B1", Level.WARNING, "again")(lambda cells: cells)
    assert REPORT_RULES["B1"].level is Level.ERROR  # the second declaration changed nothing


def test_the_report_suite_takes_each_rules_level_from_its_declaration() -> None:
    suite = load_suite("report")
    levels = {
        e["kwargs"]["rule_id"]: e["severity"]
        for e in suite["expectations"]
        if e["type"] == "expect_report_rule_to_hold"
    }
    assert levels == {r.id: r.level.gx for r in BALANCE_RULES}
    assert levels["B6"] == "warning" and levels["B1"] == "critical"


def test_the_record_suites_check_the_normalizers_cross_field_rules_with_a_suite_form() -> None:
    suites = all_suites()
    for name in SOURCES:
        pairs = {
            (e["kwargs"]["column_A"], e["kwargs"]["column_B"])
            for e in suites[f"records.{name}"]["expectations"]
            if e["type"] == "expect_column_pair_values_a_to_be_greater_than_b"
        }
        assert pairs == {r.pair for r in record_rules(name) if r.pair}, name
    assert ("concluded_on", "received_on") in {r.pair for r in record_rules("requests")}


def _request_row(received: str, concluded: str) -> dict:
    return {
        "row": [2],
        "申请编号": ["R1"],
        "收到日期": [received],
        "申请人类型": ["自然人"],
        "办结日期": [concluded],
        "办理结果": ["予以公开"],
        "具体情形": ["予以公开"],
    }


def test_a_conclusion_before_receipt_is_quarantined_and_fails_the_record_suite() -> None:
    kept, quarantine = _normalized(_request_row("2024-03-09", "2024-03-01"), "requests")
    assert kept.is_empty()
    assert quarantine.select("column", "reason").rows() == [
        ("办结日期", "办结日期 is before 收到日期")
    ]

    # The same declaration, as the record suite checks what reached the records.
    base = {
        "request_id": "R1",
        "received_on": dt.date(2024, 3, 9),
        "applicant_type": "natural_person",
        "concluded_on": dt.date(2024, 3, 1),
        "result": "disclosed",
        "reasons": None,
    }
    results = validate_records(
        records("requests", [base]),
        load_suite("records.requests"),
        {"run_date": f"{RUN_DATE}T00:00:00"},
    )
    failed = [r["type"] for r in results if not r["success"]]
    assert failed == ["expect_column_pair_values_a_to_be_greater_than_b"]


def test_the_earliest_plausible_date_is_one_bound_for_the_normalizer_and_the_suites() -> None:
    day_before = (EARLIEST_PLAUSIBLE_DATE - dt.timedelta(days=1)).isoformat()
    kept, quarantine = _normalized(_request_row(day_before, "2024-03-01"), "requests")
    assert kept.is_empty()
    assert quarantine["reason"].to_list() == [f"date before {EARLIEST_PLAUSIBLE_DATE.year}"]
    bounds = {
        e["kwargs"]["min_value"]
        for suite in all_suites().values()
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_between" and "run_date" in str(e["kwargs"])
    }
    assert bounds == {f"{EARLIEST_PLAUSIBLE_DATE}T00:00:00"}


def test_a_blank_cell_reports_one_violation() -> None:
    blank = _set(_valid_cells(), "proactive", "penalty", "decisions", None)
    checked = validate_reports(validation_frame(blank, agencies("ag-a"), None), build_docs=False)
    on_the_cell = checked.violations.filter(pl.col("cells") == "proactive/penalty/decisions")
    assert on_the_cell.select("rule", "severity", "actual").rows() == [("B7", "error", "blank")]
