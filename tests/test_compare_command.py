"""``nianbao compare``: a published report beside last year's, section by section."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from flows.cli import app
from flows.io.store import parquet_bytes
from flows.outputs.layout import cells_key
from flows.outputs.publish import PUBLISHED_COLUMNS
from tests.factories import agencies, no_records
from transforms.period import Period
from transforms.report import compile_report_cells

HOSTILE = "[red]x[/red]"


def _publish(
    out: Path, year: int, values: dict[tuple[str, str, str], int], agency_id: str = "ag-a"
) -> None:
    """Write one agency's current cells as a publish would (the published schema), zeros but
    for ``values`` ((section, row, column) → value)."""
    registry = agencies(agency_id, channels=("政府网站", HOSTILE))
    cells = compile_report_cells(no_records(), registry, Period.of_year(year)).collect()
    for (section, row, column), value in values.items():
        hit = (pl.col("section") == section) & (pl.col("row") == row) & (pl.col("column") == column)
        cells = cells.with_columns(
            value=pl.when(hit).then(pl.lit(value, pl.Decimal(18, 4))).otherwise("value")
        )
    published = cells.with_columns(
        status=pl.lit("final"), as_of=pl.lit(dt.date(year, 12, 31)), run_id=pl.lit("r1")
    ).select(PUBLISHED_COLUMNS)
    target = out / cells_key(year, agency_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(parquet_bytes(published))


def _compare(out: Path, year: int = 2024, agency_id: str = "ag-a"):
    return CliRunner().invoke(
        app, ["compare", "--year", str(year), "--agency", agency_id, "--out", str(out)]
    )


def _line(output: str, label: str) -> list[str]:
    """The cells of the table line starting with ``label`` (Rich's │ separators dropped)."""
    line = next(line for line in output.splitlines() if line.strip("│ ").startswith(label))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_compare_prints_each_section_with_this_and_last_years_values_and_the_change(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    _publish(
        out, 2023, {("channels", "website", "items"): 20, ("proactive", "penalty", "decisions"): 4}
    )
    _publish(
        out, 2024, {("channels", "website", "items"): 30, ("proactive", "penalty", "decisions"): 4}
    )

    shown = _compare(out)

    assert shown.exit_code == 0, shown.output
    for title in (
        "一、总体情况",
        "二、主动公开政府信息情况",
        "三、收到和处理",
        "四、政府信息公开行政复议",
    ):
        assert title in shown.output
    assert "项目" in shown.output and "增减%" in shown.output
    assert _line(shown.output, "政府网站") == ["政府网站", "30", "20", "+10", "+50.0%"]
    assert _line(shown.output, "行政处罚 · 本年处理决定数量") == [
        "行政处罚 · 本年处理决定数量",
        "4",
        "4",
        "0",
        "+0.0%",
    ]
    # Last year zero: the change in % has nothing to divide by.
    assert _line(shown.output, "行政许可")[1:] == ["0", "0", "0", "—"]


def test_compare_escapes_registry_names_in_labels(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _publish(out, 2023, {("channels", f"wechat:{HOSTILE}", "items"): 3})
    _publish(out, 2024, {("channels", f"wechat:{HOSTILE}", "items"): 5})

    shown = _compare(out)

    assert shown.exit_code == 0, shown.output
    assert _line(shown.output, f"“{HOSTILE}”微信公众号") == [
        f"“{HOSTILE}”微信公众号",
        "5",
        "3",
        "+2",
        "+66.7%",
    ]


def test_compare_without_last_years_report_shows_a_dash_for_last_year(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _publish(out, 2024, {("channels", "website", "items"): 7})

    shown = _compare(out)

    assert shown.exit_code == 0, shown.output
    assert "2023 年没有已发布的报告" in shown.output
    assert _line(shown.output, "政府网站") == ["政府网站", "7", "—", "—", "—"]


def test_compare_without_a_published_report_of_the_year_is_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    _publish(out, 2023, {("channels", "website", "items"): 7})

    shown = _compare(out)

    assert shown.exit_code == 2
    assert shown.output.strip().startswith("error: no published report of ag-a for 2024")
    assert len(shown.output.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["report_cells"]  # nothing written


def test_compare_refuses_an_agency_that_is_not_an_id(tmp_path: Path) -> None:
    shown = _compare(tmp_path / "out", agency_id="../x")
    assert shown.exit_code == 2
    assert shown.output.strip().startswith("error: --agency: agency_id")
