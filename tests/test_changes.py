"""Year over year (transforms/changes.py): each cell beside last year's, and W5/W6."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from tests.factories import agencies, no_records
from transforms.changes import (
    ChangeBounds,
    changes_dataset_schema,
    changes_schema,
    year_over_year,
    year_over_year_warnings,
)
from transforms.period import Period
from transforms.report import compile_report_cells
from transforms.rules import REPORT_RULES, Level


def _report(*agency_ids: str, channels: tuple[str, ...] = ("政府网站",)) -> pl.DataFrame:
    """A whole report of zeros per agency, in report order."""
    registry = agencies(*agency_ids, channels=channels)
    return compile_report_cells(no_records(), registry, Period.of_year(2024)).collect()


def _set(cells: pl.DataFrame, cell: str, value: object, agency_id: str = "ag-a") -> pl.DataFrame:
    section, row, column = cell.split("/")
    hit = (
        (pl.col("agency_id") == agency_id)
        & (pl.col("section") == section)
        & (pl.col("row") == row)
        & (pl.col("column") == column)
    )
    return cells.with_columns(
        value=pl.when(hit).then(pl.lit(value, pl.Decimal(18, 4))).otherwise("value")
    )


def _cell(changes: pl.DataFrame, cell: str, agency_id: str = "ag-a") -> dict:
    section, row, column = cell.split("/")
    return changes.filter(agency_id=agency_id, section=section, row=row, column=column).to_dicts()[
        0
    ]


def test_each_cell_has_last_years_value_and_its_absolute_and_relative_change() -> None:
    last = _set(_report("ag-a"), "proactive/fees/amount_10k_yuan", Decimal("1.2500"))
    last = _set(last, "channels/website/items", 20)
    now = _set(_report("ag-a"), "proactive/fees/amount_10k_yuan", Decimal("1.0000"))
    now = _set(now, "channels/website/items", 30)
    changes = year_over_year(now, last)
    assert changes.schema == changes_schema()
    assert changes.height == now.height  # every cell, once
    website = _cell(changes, "channels/website/items")
    assert (website["value"], website["last_year_value"], website["change"]) == (30, 20, 10)
    assert website["relative_change"] == pytest.approx(0.5)
    fees = _cell(changes, "proactive/fees/amount_10k_yuan")
    assert fees["change"] == Decimal("-0.2500")  # exact, not a float
    assert fees["relative_change"] == pytest.approx(-0.2)
    assert website["row_label"] == "政府网站"  # labels travel with the cells


def test_relative_change_is_null_when_last_year_was_zero() -> None:
    now = _set(_report("ag-a"), "requests/new_received/total", 7)
    changes = year_over_year(now, _report("ag-a"))
    received = _cell(changes, "requests/new_received/total")
    assert (received["change"], received["relative_change"]) == (7, None)


def test_no_report_last_year_leaves_last_years_values_and_changes_null() -> None:
    now = _report("ag-a", "ag-b")
    last = _report("ag-a")  # ag-b is new this year
    for previous in (None, last):
        changes = year_over_year(now, previous).filter(agency_id="ag-b")
        assert changes.height == now.filter(agency_id="ag-b").height
        assert (
            changes.select("last_year_value", "change", "relative_change").null_count().row(0)
            == (changes.height,) * 3
        )


def test_a_cell_only_last_year_follows_with_no_value_and_other_agencies_are_left_out() -> None:
    last = _report("ag-a", "ag-z", channels=("政府网站", "旧号"))
    last = _set(last, "channels/wechat:旧号/items", 12)
    changes = year_over_year(_report("ag-a"), last)
    assert set(changes["agency_id"]) == {"ag-a"}
    closed = changes.row(-1, named=True)
    assert (closed["row"], closed["value"], closed["last_year_value"]) == ("wechat:旧号", None, 12)
    assert closed["row_label"] == "“旧号”微信公众号"
    # Last year's cells as the run reads them (no labels): the labels come from the dictionary.
    unlabelled = year_over_year(_report("ag-a"), last.drop("row_label", "column_label"))
    assert unlabelled.row(-1, named=True) == closed


def test_any_id_column_names_the_report() -> None:
    now = _report("ag-a").rename({"agency_id": "rollup_id"})
    changes = year_over_year(now, now, by="rollup_id")
    assert changes.columns[0] == "rollup_id" and changes["change"].unique().to_list() == [0]


def _warned(now: pl.DataFrame, last: pl.DataFrame | None) -> set:
    found = year_over_year_warnings(now, last)
    assert set(found["severity"]) <= {"warning"}  # never refuses a report
    return {(v["rule"], v["cells"]) for v in found.iter_rows(named=True)}


WEBSITE = "channels/website/items"
RECEIVED = "requests/new_received/total"
PENALTY = "proactive/penalty/decisions"


@pytest.mark.parametrize(
    ("cell", "last", "now", "warned"),
    [
        pytest.param(WEBSITE, 10, 1, True, id="channel-fell-90pct-from-10"),
        pytest.param(WEBSITE, 10, 2, False, id="channel-fell-80pct"),
        pytest.param(WEBSITE, 9, 0, False, id="channel-fell-from-below-the-floor"),
        pytest.param(RECEIVED, 5, 50, True, id="requests-up-tenfold-from-5"),
        pytest.param(RECEIVED, 5, 49, False, id="requests-up-less-than-tenfold"),
        pytest.param(RECEIVED, 4, 400, False, id="requests-up-from-below-the-floor"),
        pytest.param(PENALTY, 10, 100, True, id="decisions-up-tenfold"),
        pytest.param(PENALTY, 100, 10, True, id="decisions-down-tenfold"),
        pytest.param(PENALTY, 100, 11, False, id="decisions-down-less-than-tenfold"),
        pytest.param(PENALTY, 0, 50, False, id="decisions-from-none"),
    ],
)
def test_w5_warns_of_a_change_beyond_the_default_bounds(cell, last, now, warned) -> None:
    # Another cell differs too, so that W6 (identical report) stays out of the way.
    before = _set(_set(_report("ag-a"), cell, last), "appeals/review/upheld", 1)
    after = _set(_report("ag-a"), cell, now)
    assert (("W5", cell) in _warned(after, before)) is warned


def test_w5_says_last_years_value_and_the_change_and_its_bounds_are_settings() -> None:
    before, after = _set(_report("ag-a"), WEBSITE, 40), _set(_report("ag-a"), WEBSITE, 10)
    assert _warned(after, before) == set()  # -75%: within the default 90%
    found = year_over_year_warnings(after, before, ChangeBounds(channel_fall=0.5))
    assert found.select("rule", "cells", "actual").rows() == [
        ("W5", WEBSITE, "10.0000 (last year 40.0000, -75.0%)")
    ]
    assert REPORT_RULES["W5"].level is Level.WARNING


def test_w6_warns_of_a_report_identical_to_last_years() -> None:
    last = _set(_set(_report("ag-a", "ag-b"), WEBSITE, 3), WEBSITE, 3, "ag-b")
    now = _set(last, RECEIVED, 1, "ag-b")  # ag-b changed one cell; ag-a changed none
    found = year_over_year_warnings(now, last)
    assert found.select("agency_id", "rule", "cells").rows() == [("ag-a", "W6", "the whole report")]
    assert (
        found["actual"][0] == f"all {now.filter(agency_id='ag-a').height} cells equal last year's"
    )
    assert REPORT_RULES["W6"].level is Level.WARNING


def test_w6_is_silent_for_all_zeros_and_for_a_first_report() -> None:
    zeros = _report("ag-a")
    assert _warned(zeros, zeros) == set()
    some = _set(zeros, WEBSITE, 3)
    assert _warned(some, None) == set()
    assert _warned(some, _report("ag-b")) == set()  # last year is another agency's


# --- wired into a run: the changes dataset and W5 in the run's results ---------------------


def _landing(root: Path, items_2023: int, items_2024: int) -> Path:
    (root / "ag-a" / "website").mkdir(parents=True, exist_ok=True)
    (root / "agencies.csv").write_text(
        "agency_id,机关名称,统一社会信用代码,上级机关,渠道,规章制定权,收费小数位\n"
        "ag-a,测试局,,,政府网站,否,2\n",
        encoding="utf-8",
    )
    rows = [
        f"W{year}-{i},通知{i},通知公告,{year}-03-01,主动公开,已发布,"
        for year, n in ((2023, items_2023), (2024, items_2024))
        for i in range(n)
    ]
    (root / "ag-a" / "website" / "export.csv").write_text(
        "索引号,标题,栏目,发布日期,公开方式,状态,链接\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    return root


def _changes(out: Path, year: int) -> pl.DataFrame:
    return pl.read_parquet(out / f"changes/year={year}/data.parquet")


def test_a_run_publishes_the_changes_and_warns_of_a_channel_that_fell(
    compile_landing, tmp_path: Path
) -> None:
    out = tmp_path / "published"
    landing = _landing(tmp_path / "landing", items_2023=12, items_2024=1)
    assert compile_landing(landing, 2023, out=str(out)).ok
    first = _changes(out, 2023)
    assert (
        first.schema == changes_dataset_schema()
        and first["last_year_value"].null_count() == first.height
    )

    # Year to date (provisional): part of a year against a whole one, no W5.
    year_to_date = compile_landing(landing, 2024, run_date=dt.date(2024, 7, 2), out=str(out))
    assert year_to_date.ok and year_to_date.violations.filter(rule="W5").is_empty()
    assert _cell(_changes(out, 2024), WEBSITE)["last_year_value"] == 12

    result = compile_landing(landing, 2024, out=str(out))

    assert result.ok  # a W5 warning never refuses a report
    w5 = result.violations.filter(rule="W5")
    assert w5.select("agency_id", "severity", "cells").rows() == [
        ("ag-a", "warning", "channels/website/items")
    ]
    published = json.loads((out / "validation/year=2024/agency_id=ag-a/result.json").read_text())
    assert "W5" in {v["rule"] for v in published["violations"]}
    website = _cell(_changes(out, 2024), WEBSITE)
    assert (website["value"], website["last_year_value"], website["change"]) == (1, 12, -11)

    # Last year's report republished: this year's changes follow it.
    _landing(landing, items_2023=20, items_2024=1)
    assert compile_landing(landing, 2023, out=str(out)).ok
    assert _cell(_changes(out, 2024), WEBSITE)["last_year_value"] == 20
    assert _changes(out, 2024).height == _report_rows(out, 2024)


def _report_rows(out: Path, year: int) -> int:
    return pl.read_parquet(out / f"report_cells/year={year}/agency_id=ag-a/data.parquet").height
