"""A report that fails a blocking rule is refused: nothing of it becomes current, the command fails."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from flows.cli import app
from tests.helpers import DEFAULT_DELIVERY, ONE_AGENCY_REGISTRY, compile_args

REGISTRY = ONE_AGENCY_REGISTRY
REGISTER = (
    "申请编号,收到日期,申请人类型,办结日期,办理结果,具体情形\n"
    "Q1,2023-12-20,自然人,2024-01-10,予以公开,\n"
    "Q2,2024-02-01,自然人,2024-02-10,予以公开,\n"
)


def _landing(root: Path) -> Path:
    (root / "ag-a" / "requests").mkdir(parents=True)
    (root / "agencies.csv").write_text(REGISTRY, encoding="utf-8")
    (root / "ag-a" / "requests" / "register.csv").write_text(REGISTER, encoding="utf-8")
    stamp = DEFAULT_DELIVERY.timestamp()
    for path in root.rglob("*.csv"):
        os.utime(path, (stamp, stamp))
    return root


def _current(out: Path, year: int) -> pl.DataFrame:
    return pl.read_parquet(out / f"report_cells/year={year}/agency_id=ag-a/data.parquet")


def _republish_2023_with(out: Path, carried: int) -> None:
    """The 2023 report as it was published (by hand, or by an older run) with another carry-forward."""
    path = out / "report_cells/year=2023/agency_id=ag-a/data.parquet"
    cells = pl.read_parquet(path)
    hit = (pl.col("row") == "carried_to_next_year") & pl.col("column").is_in(
        ["natural_person", "total"]
    )
    cells.with_columns(
        value=pl.when(hit).then(pl.lit(carried).cast(pl.Decimal(18, 4))).otherwise("value")
    ).write_parquet(path)


def test_carry_over_disagreeing_with_last_years_report_is_refused(
    compile_landing, tmp_path
) -> None:
    landing = _landing(tmp_path / "landing")
    out = tmp_path / "published"
    assert compile_landing(landing, 2023).ok
    first = compile_landing(landing, 2024)
    assert first.ok, first.violations

    _republish_2023_with(out, carried=2)
    refused = compile_landing(landing, 2024)

    assert not refused.ok
    b5 = refused.violations.filter(rule="B5")
    assert sorted(b5["cells"].str.extract(r"@ (\w+)$").to_list()) == ["natural_person", "total"]
    assert b5["expected"].to_list() == ["2.0000", "2.0000"] and set(b5["actual"]) == {"1.0000"}
    # The version published by the first run stays current.
    assert set(_current(out, 2024)["run_id"]) == {first.run_id}
    result = json.loads(
        (out / "validation/year=2024/agency_id=ag-a/result.json").read_text("utf-8")
    )
    assert result["passed"] is False and result["run_id"] == refused.run_id


def test_compile_command_exits_non_zero_and_names_the_rule(prefect_api, tmp_path) -> None:
    landing = _landing(tmp_path / "landing")
    out, warehouse = tmp_path / "published", tmp_path / "warehouse"
    common = ["--landing", str(landing), "--out", str(out), "--warehouse", str(warehouse)]
    runner = CliRunner()
    assert runner.invoke(app, ["compile", "--year", "2023", *common]).exit_code == 0
    _republish_2023_with(out, carried=3)

    refused = runner.invoke(app, ["compile", "--year", "2024", *common])

    assert refused.exit_code == 1
    assert "B5" in refused.output and "ag-a" in refused.output


def test_unknown_agency_is_a_clear_usage_error(prefect_api, tmp_path) -> None:
    landing = _landing(tmp_path / "landing")
    result = CliRunner().invoke(
        app,
        [
            *compile_args(
                str(landing), str(tmp_path / "o"), str(tmp_path / "w"), "--agency", "nope"
            ),
        ],
    )
    assert result.exit_code == 2
    assert "nope" in result.output and "agencies.csv" in result.output


def test_published_run_date_drives_status(compile_landing, tmp_path) -> None:
    landing = _landing(tmp_path / "landing")
    provisional = compile_landing(landing, 2024, run_date=dt.date(2024, 7, 1))
    assert provisional.status == "provisional" and provisional.period.end == dt.date(2024, 6, 30)
    cells = _current(tmp_path / "published", 2024)
    assert set(cells["status"]) == {"provisional"} and set(cells["as_of"]) == {dt.date(2024, 6, 30)}


def test_runs_lists_a_finished_run_with_its_counts_and_failed_rules(
    compile_landing, tmp_path
) -> None:
    landing = _landing(tmp_path / "landing")
    out = tmp_path / "published"
    compile_landing(landing, 2023)
    _republish_2023_with(out, carried=2)
    refused = compile_landing(landing, 2024)

    listed = CliRunner().invoke(app, ["runs", "--limit", "5"])
    assert listed.exit_code == 0, listed.output
    line = next(row for row in listed.output.splitlines() if refused.run_id[:8] in row)
    assert "Completed" in line and "2024" in line and "ag-a" in line and "B5" in line
    assert " 2 " in line  # rows read: the two requests of the register

    shown = CliRunner().invoke(app, ["runs", "show", refused.run_id])
    assert shown.exit_code == 0, shown.output
    assert "requests" in shown.output and "quarantine: 0 rows" in shown.output
    assert "refused: ['ag-a']" in shown.output
