"""`nianbao template` and `nianbao check`: hand-filled reports checked by the same suites."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from flows.cli import app
from tests.helpers import GOLDEN

LANDING = GOLDEN / "carried_over_request_concluded_this_year" / "landing"


def _filled(template: Path, values: dict[tuple[str, str, str], int]) -> pl.DataFrame:
    """The template filled in: the given cells, zeros elsewhere."""
    frame = pl.read_csv(template, infer_schema=False)
    filled = [
        values.get((r["section"], r["row"], r["column"]), 0) for r in frame.iter_rows(named=True)
    ]
    return frame.with_columns(value=pl.Series(filled).cast(pl.String))


# Section 三 of an agency that received 3 requests from natural persons and answered all three.
BALANCED = {
    ("channels", "website", "items"): 12,
    ("channels", "total", "items"): 12,
    **{
        ("requests", row, col): 3
        for row in ("new_received", "disclosed", "outcome_total")
        for col in ("natural_person", "total")
    },
}


def _template(tmp_path: Path) -> Path:
    target = tmp_path / "template.csv"
    result = CliRunner().invoke(
        app,
        [
            "template",
            "--agency",
            "ag-a",
            "--year",
            "2024",
            "--landing",
            str(LANDING),
            "-o",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    return target


def test_template_lists_every_cell_with_labels_and_no_values(tmp_path) -> None:
    template = pl.read_csv(_template(tmp_path), infer_schema=False)
    assert template.height == 3 + 10 + 25 * 7 + 3 * 5  # 政府网站, 测试公众号, 合计; 二; 三; 四
    assert template["value"].is_null().all()
    assert "一、本年新收政府信息公开申请数量" in template["row_label"].to_list()


def test_a_correct_hand_filled_report_passes(tmp_path) -> None:
    report = tmp_path / "filled.csv"
    _filled(_template(tmp_path), BALANCED).write_csv(report)

    result = CliRunner().invoke(app, ["check", str(report), "--landing", str(LANDING)])

    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "filled.validation" / "result.json").read_text("utf-8"))
    assert saved["passed"] is True
    assert (tmp_path / "filled.validation" / "data_docs" / "index.html").is_file()


def test_a_wrong_total_is_caught_with_the_rule_and_cells_named(tmp_path) -> None:
    report = tmp_path / "filled.csv"
    wrong = BALANCED | {("requests", "new_received", "total"): 4}  # 3 + 0 + … ≠ 4
    _filled(_template(tmp_path), wrong).write_csv(report)

    result = CliRunner().invoke(app, ["check", str(report), "--landing", str(LANDING)])

    assert result.exit_code == 1
    assert "B3" in result.output and "new_received" in result.output
    saved = json.loads((tmp_path / "filled.validation" / "result.json").read_text("utf-8"))
    rules = {v["rule"] for v in saved["violations"]}
    assert "B3" in rules and "B1" in rules  # the total column no longer balances either


def test_slash_instead_of_zero_is_a_blank_cell(tmp_path) -> None:
    report = tmp_path / "filled.csv"
    frame = _filled(_template(tmp_path), BALANCED)
    frame.with_columns(
        value=pl.when(pl.col("row") == "penalty").then(pl.lit("/")).otherwise("value")
    ).write_csv(report)

    result = CliRunner().invoke(app, ["check", str(report), "--landing", str(LANDING)])

    assert result.exit_code == 1
    assert "proactive/penalty/decisions" in result.output


def test_a_file_without_the_cell_columns_is_a_usage_error(tmp_path) -> None:
    report = tmp_path / "wrong.csv"
    report.write_text("a,b\n1,2\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(report)])
    assert result.exit_code == 2
    assert "agency_id" in result.output


def test_a_hand_filled_report_with_lone_cr_line_ends_is_read_whole(tmp_path) -> None:
    from flows.handfilled import read_report_file

    lines = [
        "agency_id,year,section,row,column,value",
        "ag-a,2024,channels,website,items,12",
        "ag-a,2024,channels,total,items,12",
    ]
    target = tmp_path / "old-mac.csv"
    target.write_bytes("\r".join(lines).encode("utf-8"))
    frame = read_report_file(target)
    assert frame.select("row", "value").rows() == [("website", 12), ("total", 12)]
