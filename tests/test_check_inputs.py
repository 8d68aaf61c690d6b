"""What may refuse a report, and what `nianbao check` reads.

Only what makes a published cell wrong or impossible refuses a report; a plausibility bound warns,
naming the landing file and row. `check` treats an unknown rule-making power as unknown (B9 not
checked, said so), reads nianbao's own published cells back, and tells a blank
template in one line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from expectations.run import validate_source_records
from flows.cli import app
from flows.handfilled import read_report_file
from flows.steps import record_violations
from tests.factories import records
from tests.helpers import GOLDEN, REGISTRY_HEADER, RUN_DATE, compile_args, lay_landing

DELIVERED = dt.datetime(2025, 1, 10, tzinfo=dt.UTC).timestamp()


def _write(root: Path, path: str, text: str) -> Path:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    os.utime(target, (DELIVERED, DELIVERED))
    return target


# --- item 3: levels -------------------------------------------------------------------------


def test_implausible_records_warn_with_file_and_row_and_broken_keys_refuse() -> None:
    fees = records(
        "fees",
        [
            {"receipt_no": "F1", "paid_on": dt.date(2024, 2, 1), "amount_fen": 20_000_000_000},
            {"receipt_no": "F2", "paid_on": dt.date(1989, 5, 1), "amount_fen": 100},
            {"receipt_no": "F3", "paid_on": dt.date(2024, 2, 2), "amount_fen": 100},
            {"receipt_no": "F3", "paid_on": dt.date(2024, 2, 3), "amount_fen": 200},
        ],
    ).collect()

    found = record_violations("fees", validate_source_records(fees, "fees", RUN_DATE))

    by_rule = {v["rule"].split(":", 1)[1]: v for v in found}
    assert {rule: v["severity"] for rule, v in by_rule.items()} == {
        "column_values_to_be_between(amount_fen)": "warning",  # 2 亿元 in one payment: unusual
        "column_values_to_be_between(paid_on)": "warning",  # before 1990: implausible
        "compound_columns_to_be_unique(agency_id,receipt_no)": "error",  # counted twice
    }
    assert by_rule["column_values_to_be_between(amount_fen)"]["actual"] == (
        "1 records, e.g. f.csv:2 (20000000000)"
    )
    assert by_rule["column_values_to_be_between(paid_on)"]["actual"] == (
        "1 records, e.g. f.csv:3 (1989-05-01)"
    )
    assert {v["agency_id"] for v in found} == {"ag-a"}


def test_a_very_large_fee_payment_is_published_with_a_warning_naming_file_and_row(
    prefect_api, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    _write(landing, "agencies.csv", REGISTRY_HEADER + "ag-a,测试市人民政府,,,政府网站,是,2\n")
    _write(
        landing,
        "ag-a/fees/2024.csv",
        "票据号,收费项目,缴款日期,金额（元）\n"
        "F1,占道费,2024-02-01,100.00\n"
        "F2,土地出让,2024-03-04,200000000.00\n",  # 2 亿元 at once: above the 1 亿元 bound
    )
    out = tmp_path / "published"
    result = CliRunner().invoke(
        app,
        [
            *compile_args(str(landing), str(out), str(tmp_path / "warehouse")),
        ],
    )

    assert result.exit_code == 0, result.output
    cells = pl.read_parquet(out / "report_cells/year=2024/agency_id=ag-a/data.parquet")
    assert cells.filter(row="fees")["value"].cast(pl.String).to_list() == ["20000.0100"]
    saved = json.loads((out / "validation/year=2024/agency_id=ag-a/result.json").read_text("utf-8"))
    assert saved["passed"] is True
    [warning] = [v for v in saved["violations"] if v["rule"].startswith("records.fees")]
    assert warning["severity"] == "warning"
    assert warning["actual"] == "1 records, e.g. ag-a/fees/2024.csv:3 (20000000000)"


# --- item 4: check ----------------------------------------------------------------------------

# A city government's report: 3 requests answered, and 2 regulations (规章) it made this year.
CITY = {
    ("channels", "website", "items"): 12,
    ("channels", "total", "items"): 12,
    ("proactive", "regulations", "issued"): 2,
    ("proactive", "regulations", "in_force"): 40,
    **{
        ("requests", row, col): 3
        for row in ("new_received", "disclosed", "outcome_total")
        for col in ("natural_person", "total")
    },
}


@pytest.fixture
def bare_folder(tmp_path: Path, monkeypatch) -> Path:
    """A working folder with no landing zone and no published dataset, as a new user has."""
    for name in ("NIANBAO_LANDING", "NIANBAO_OUT", "NIANBAO_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _template(folder: Path, agency: str = "cq-city") -> Path:
    target = folder / "template.csv"
    result = CliRunner().invoke(
        app, ["template", "--agency", agency, "--year", "2024", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    return target


def _filled(template: Path, values: dict, target: Path) -> Path:
    frame = pl.read_csv(template, infer_schema=False)
    filled = [
        values.get((r["section"], r["row"], r["column"]), 0) for r in frame.iter_rows(named=True)
    ]
    frame.with_columns(value=pl.Series(filled).cast(pl.String)).write_csv(target)
    return target


def test_a_city_report_with_regulations_passes_without_a_registry_and_says_b9_was_not_checked(
    bare_folder: Path,
) -> None:
    report = _filled(_template(bare_folder), CITY, bare_folder / "filled.csv")

    result = CliRunner().invoke(app, ["check", str(report)])

    assert result.exit_code == 0, result.output
    assert "B9 not checked: no registry row for cq-city" in result.output
    saved = json.loads((bare_folder / "filled.validation/result.json").read_text("utf-8"))
    assert saved["passed"] is True and saved["violations"] == []
    assert saved["notes"] == [
        "B9 not checked: no registry row for cq-city; give --landing with agencies.csv "
        "(or a 规章制定权 column of 是/否 in the file)"
    ]


@pytest.mark.parametrize(
    ("power", "exit_code"),
    [pytest.param("否", 1, id="registry-says-no"), pytest.param("是", 0, id="registry-says-yes")],
)
def test_the_registry_decides_b9_when_it_has_the_agency(
    bare_folder: Path, power: str, exit_code: int
) -> None:
    landing = bare_folder / "registry"
    _write(
        landing, "agencies.csv", REGISTRY_HEADER + f"cq-city,某市人民政府,,,政府网站,{power},2\n"
    )
    report = _filled(_template(bare_folder), CITY, bare_folder / "filled.csv")

    result = CliRunner().invoke(app, ["check", str(report), "--landing", str(landing)])

    assert result.exit_code == exit_code, result.output
    assert "B9 not checked" not in result.output
    saved = json.loads((bare_folder / "filled.validation/result.json").read_text("utf-8"))
    assert {v["rule"] for v in saved["violations"]} == ({"B9"} if power == "否" else set())


@pytest.mark.parametrize(
    ("power", "exit_code"),
    [pytest.param("是", 0, id="file-says-yes"), pytest.param("否", 1, id="file-says-no")],
)
def test_the_files_own_rulemaking_column_is_used_without_a_registry(
    bare_folder: Path, power: str, exit_code: int
) -> None:
    report = _filled(_template(bare_folder), CITY, bare_folder / "filled.csv")
    frame = pl.read_csv(report, infer_schema=False)
    frame.with_columns(规章制定权=pl.lit(power)).write_csv(report)

    result = CliRunner().invoke(app, ["check", str(report)])

    assert result.exit_code == exit_code, result.output
    assert ("B9" in result.output) == (power == "否")
    assert "not checked" not in result.output


def test_a_blank_template_gets_one_message_not_an_error_per_cell(bare_folder: Path) -> None:
    template = _template(bare_folder)

    result = CliRunner().invoke(app, ["check", str(template)])

    assert result.exit_code == 2
    assert "the report has no values filled in: fill in the template" in result.output
    assert "B7" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (bare_folder / "template.validation").exists()


def _published_cells(out: Path, year: int) -> pl.DataFrame:
    return (
        pl.read_parquet(out / "report_cells/**/*.parquet", hive_partitioning=True)
        .select(
            pl.col("agency_id").cast(pl.String),
            pl.col("year").cast(pl.Int32),
            "section",
            "row",
            "column",
            "value",
        )
        .filter(year=year)
        .sort("agency_id", "section", "row", "column")
    )


@pytest.mark.parametrize(
    "scenario",
    ["fee_rounding_half_up", "wechat_time_is_beijing_time", "documents_in_force_at_year_end"],
)
def test_check_reads_published_cells_back_to_the_published_cells(
    scenario: str, compile_landing, tmp_path: Path
) -> None:
    landing = lay_landing(GOLDEN / scenario, tmp_path / "landing", {})
    out = tmp_path / "published"
    assert compile_landing(landing, 2024, out=str(out)).ok
    published = _published_cells(out, 2024)
    assert published.filter(pl.col("value") != 0).height > 0

    # report.html/.docx/.xlsx read back: tests/test_report_roundtrip.py, test_check_formats.py.
    read = pl.concat(
        read_report_file(path).drop("has_rulemaking_power")
        for path in sorted((out / "report_cells/year=2024").glob("agency_id=*/data.parquet"))
    ).sort("agency_id", "section", "row", "column")
    assert read.to_dicts() == published.to_dicts()


def test_check_passes_a_published_report_given_as_its_cells(
    compile_landing, tmp_path: Path
) -> None:
    landing = lay_landing(GOLDEN / "wechat_time_is_beijing_time", tmp_path / "landing", {})
    out = tmp_path / "published"
    assert compile_landing(landing, 2024, out=str(out)).ok

    for path in ("report_cells/year=2024/agency_id=ag-a/data.parquet",):
        results = tmp_path / f"check-{Path(path).suffix}"
        result = CliRunner().invoke(
            app, ["check", str(out / path), "--landing", str(landing), "--results", str(results)]
        )
        assert result.exit_code == 0, result.output
        assert json.loads((results / "result.json").read_text("utf-8"))["agencies"] == ["ag-a"]


def test_an_xlsx_of_another_layout_is_no_report_and_a_usage_error(tmp_path: Path) -> None:
    # The old flat report.xlsx layout is no longer read: a report workbook is the statutory one.
    import xlsxwriter

    target = tmp_path / "reports/year=2024/agency_id=ag-a/report.xlsx"
    target.parent.mkdir(parents=True)
    with xlsxwriter.Workbook(target) as book:
        sheet = book.add_worksheet()
        sheet.write_string(0, 0, "某局2024年政府信息公开工作年度报告")
        sheet.write_string(3, 0, "一、主动公开政府信息情况")

    result = CliRunner().invoke(app, ["check", str(target)])

    assert result.exit_code == 2
    assert str(target) in result.output and "not a report" in result.output


def test_checking_a_published_report_writes_nothing_into_the_published_dataset(
    compile_landing, tmp_path: Path, monkeypatch
) -> None:
    landing = lay_landing(GOLDEN / "wechat_time_is_beijing_time", tmp_path / "landing", {})
    out = tmp_path / "published"
    assert compile_landing(landing, 2024, out=str(out)).ok
    published = sorted(p for p in out.rglob("*"))
    monkeypatch.chdir(tmp_path)

    cells = out / "report_cells/year=2024/agency_id=ag-a/data.parquet"
    result = CliRunner().invoke(app, ["check", str(cells), "--landing", str(landing)])

    assert result.exit_code == 0, result.output
    assert sorted(p for p in out.rglob("*")) == published
    assert (tmp_path / "ag-a-2024.validation/result.json").is_file()
