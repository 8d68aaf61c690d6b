"""Counting rules on normalized records, one behaviour per test."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tests.factories import agencies, no_records, records
from transforms.cells import report_skeleton
from transforms.counting import classify_request_outcome, round_fen_to_10k_yuan
from transforms.period import Period
from transforms.report import CountingRules, compile_report_cells

D = dt.date


def _outcomes(rows: list[dict], precedence=None) -> list[str]:
    frame = records("requests", rows)
    args = () if precedence is None else (precedence,)
    return classify_request_outcome(frame, *args).collect()["outcome_row"].to_list()


def _request(result: str, reasons: list[str] | None = None) -> dict:
    return {
        "request_id": f"R-{result}-{reasons}",
        "received_on": D(2024, 3, 1),
        "applicant_type": "natural_person",
        "concluded_on": D(2024, 3, 10),
        "result": result,
        "reasons": reasons,
    }


def test_outcome_precedence_is_configurable() -> None:
    mixed = _request("not_processed", ["not_processed_duplicate", "unavailable_not_held"])
    assert _outcomes([mixed]) == ["unavailable_not_held"]
    reordered = ("not_processed", "withheld", "unavailable", "other")
    assert _outcomes([mixed], reordered) == ["not_processed_duplicate"]


def test_precedence_must_name_every_refusal_group() -> None:
    with pytest.raises(ValueError, match="precedence"):
        _outcomes([_request("disclosed")], ("withheld", "unavailable"))


def test_open_request_has_no_outcome() -> None:
    open_request = _request("disclosed") | {"concluded_on": None, "result": None}
    assert _outcomes([open_request]) == [None]


@pytest.mark.parametrize(
    ("fen", "decimals", "expected"),
    [
        pytest.param(12_250_00, 2, "1.2300", id="half-up-not-bankers"),
        pytest.param(-12_250_00, 2, "-1.2300", id="negative-half-away-from-zero"),
        pytest.param(25_000_00, 0, "3.0000", id="zero-decimals"),
        pytest.param(1_234_56, 4, "0.1235", id="four-decimals"),
        pytest.param(1_234_49, 2, "0.1200", id="below-half-down"),
    ],
)
def test_fee_rounding_half_up(fen: int, decimals: int, expected: str) -> None:
    value = pl.select(round_fen_to_10k_yuan(pl.lit(fen), pl.lit(decimals))).item()
    assert str(value) == expected


def test_year_to_date_period_stops_at_as_of() -> None:
    period = Period.of_year(2025, as_of=D(2025, 6, 30))
    licences = records(
        "licensing",
        [
            {"decision_no": "L1", "decided_on": D(2025, 6, 30)},
            {"decision_no": "L2", "decided_on": D(2025, 7, 1)},
        ],
    )
    cells = compile_report_cells(no_records() | {"licensing": licences}, agencies("ag-a"), period)
    counted = cells.filter(pl.col("row") == "licensing").collect()["value"].item()
    assert counted == 1


def test_open_during_year_rule_counts_old_pending_cases() -> None:
    case = {"case_no": "C1", "case_type": "review", "filed_on": D(2023, 6, 1), "concluded_on": None}
    appeals = records("appeals", [case])
    period = Period.of_year(2024)
    for rule, pending in (("filed_or_concluded", 0), ("open_during_year", 1)):
        cells = compile_report_cells(
            no_records() | {"appeals": appeals},
            agencies("ag-a"),
            period,
            CountingRules(appeals_rule=rule),
        ).collect()
        got = cells.filter(row="review", column="pending")["value"].item()
        assert got == pending, rule


def test_every_agency_gets_every_cell_exactly_once() -> None:
    registry = agencies("ag-a", "ag-b", channels=("政府网站", "公众号甲"))
    cells = compile_report_cells(no_records(), registry, Period.of_year(2024)).collect()
    per_agency = 3 + 10 + 25 * 7 + 3 * 5  # channels (two + total), 二, 三, 四
    assert cells.height == 2 * per_agency
    assert cells.select("agency_id", "section", "row", "column").is_duplicated().sum() == 0
    assert (cells["value"] == 0).all()
    assert report_skeleton(registry).height == cells.height
