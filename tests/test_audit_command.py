"""``nianbao audit``: published reports read back, checked one by one and across years and
agencies, and written as cells.parquet, findings.parquet and an offline index.html.

Inputs are nianbao's own report.html/.docx/.xlsx rendered from cells built here, with planted
errors of each rule.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from flows.audit.run import IN_PROCESS_FILES
from flows.cli import app
from flows.outputs.formats.docx import to_docx
from flows.outputs.formats.html import to_html
from flows.outputs.formats.xlsx import to_xlsx
from tests.helpers import REGISTRY_HEADER, headless_chromium
from transforms.cells import VALUE_DTYPE, report_skeleton
from transforms.document import final_report
from transforms.rules import REPORT_RULES
from transforms.sources import AGENCY_SCHEMA

runner = CliRunner()
Key = tuple[str, str, str]


def report_cells(k: int = 1, wechat: str | None = "政务发布", **changes: object) -> pl.DataFrame:
    """A balanced report (every rule holds) scaled by ``k``; ``changes`` set cells by
    ``section__row__column`` = value."""
    channels = ["政府网站", *([wechat] if wechat else [])]
    agency = pl.DataFrame(
        [{"agency_id": "x", "name": "x", "channels": channels, "fee_decimals": 2}],
        schema=AGENCY_SCHEMA,
    )
    values: dict[Key, object] = {
        ("channels", "website", "items"): 10 * k,
        ("channels", "total", "items"): 10 * k + (4 * k if wechat else 0),
        ("proactive", "licensing", "decisions"): 7 * k,
        ("proactive", "penalty", "decisions"): 3 * k,
        ("proactive", "normative_documents", "issued"): 2,
        ("proactive", "normative_documents", "in_force"): 10 + k,
        ("proactive", "fees", "amount_10k_yuan"): "1.25",
        ("requests", "new_received", "natural_person"): 3 * k,
        ("requests", "new_received", "total"): 3 * k,
        ("requests", "disclosed", "natural_person"): 2 * k,
        ("requests", "disclosed", "total"): 2 * k,
        ("requests", "outcome_total", "natural_person"): 2 * k,
        ("requests", "outcome_total", "total"): 2 * k,
        ("requests", "carried_to_next_year", "natural_person"): k,
        ("requests", "carried_to_next_year", "total"): k,
        ("appeals", "review", "upheld"): 1,
        ("appeals", "review", "total"): 1,
    }
    if wechat:
        values[("channels", f"wechat:{wechat}", "items")] = 4 * k
    for name, value in changes.items():
        values[tuple(name.split("__"))] = value  # type: ignore[index]
    keys = ["section", "row", "column"]
    given = pl.DataFrame(
        [(*key, str(value)) for key, value in values.items()],
        schema=[*keys, "value"],
        orient="row",
    )
    return (
        report_skeleton(agency)
        .drop("agency_id")
        .join(given, on=keys, how="left", maintain_order="left")
        .with_columns(pl.col("value").fill_null("0").cast(VALUE_DTYPE))
    )


def render(
    cells: pl.DataFrame,
    folder: Path,
    name: str,
    year: int = 2024,
    fmt: str = "html",
    file: str | None = None,
) -> Path:
    doc = final_report("x", name, year, cells)
    data = {"html": lambda d: to_html(d).encode(), "docx": to_docx, "xlsx": to_xlsx}[fmt](doc)
    path = folder / (file or f"{name}-{year}.{fmt}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run_audit(*args: str | Path):
    return runner.invoke(app, ["audit", *map(str, args)])


def findings_of(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "findings.parquet")


def rules_of(out: Path, file: Path) -> set[str]:
    return set(findings_of(out).filter(pl.col("source_file") == str(file))["rule"])


def test_a_folder_of_correct_reports_passes_and_its_cells_are_what_was_rendered(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    expected = {}
    for i, fmt in enumerate(("html", "docx", "xlsx"), start=1):
        cells = report_cells(i)
        expected[str(render(cells, reports, f"测试局{i}", fmt=fmt))] = cells
    out = tmp_path / "audit"
    result = run_audit(reports, "--out", out)
    assert result.exit_code == 0, result.output
    assert "3 reports, 0 with errors, 0 with warnings" in result.output
    assert findings_of(out).is_empty()
    read = pl.read_parquet(out / "cells.parquet")
    assert read.schema["value"] == VALUE_DTYPE
    for file, cells in expected.items():
        own = read.filter(pl.col("source_file") == file)
        assert own["year"].unique().to_list() == [2024]
        assert own["agency_name"].unique().to_list() == [Path(file).stem.split("-")[0]]
        assert_frame_equal(
            own.select("section", "row", "column", "value"),
            cells.select("section", "row", "column", "value"),
        )


PLANTED = [
    pytest.param(
        {"requests__new_received__natural_person": 4, "requests__new_received__total": 4},
        "B1",
        [
            "requests: new_received+carried_over_from_last_year vs "
            f"outcome_total+carried_to_next_year @ {column}"
            for column in ("natural_person", "total")
        ],
        id="B1_new_received_edited",
    ),
    pytest.param(
        {
            "requests__outcome_total__total": 3,
            "requests__carried_to_next_year__total": 0,
        },
        "B2",
        "requests: sum of 21 outcome rows vs outcome_total @ total",
        id="B2_outcome_total_wrong",
    ),
    pytest.param(
        {"requests__disclosed__total": 5},
        "B3",
        "requests: sum of applicant columns vs total @ disclosed",
        id="B3_row_total_wrong",
    ),
    pytest.param(
        {"appeals__review__total": 2},
        "B4",
        "appeals: upheld+corrected+other+pending vs total @ review",
        id="B4_appeals_total_wrong",
    ),
    pytest.param(
        {"proactive__licensing__decisions": -3},
        "B7",
        "proactive/licensing/decisions",
        id="B7_negative_count",
    ),
    pytest.param(
        {"proactive__penalty__decisions": "2.5"},
        "B7",
        "proactive/penalty/decisions",
        id="B7_fractional_count",
    ),
    pytest.param(
        {"channels__total__items": 15},
        "B8",
        "channels: sum of channels vs total @ items",
        id="B8_channel_total_wrong",
    ),
]


@pytest.mark.parametrize(("changes", "rule", "cells"), PLANTED)
def test_a_planted_error_is_flagged_with_its_rule_and_cells(
    tmp_path: Path, changes: dict, rule: str, cells: str | list[str]
) -> None:
    folder = tmp_path / "in"
    good = render(report_cells(1), folder, "好局")
    bad = render(report_cells(2, **changes), folder, "坏局")
    out = tmp_path / "out"
    result = run_audit(folder, "--out", out)
    assert result.exit_code == 1, result.output
    assert "2 reports, 1 with errors, 0 with warnings" in result.output
    found = findings_of(out)
    assert found.filter(pl.col("source_file") == str(good)).is_empty()
    flagged = found.filter(pl.col("source_file") == str(bad), pl.col("rule") == rule)
    expected = cells if isinstance(cells, list) else [cells]
    assert sorted(flagged["cells"]) == expected
    assert set(flagged["level"]) == {"error"}
    assert set(flagged["agency_name"]) == {"坏局"} and set(flagged["year"]) == {2024}
    assert flagged["message"][0].startswith(REPORT_RULES[rule].summary_zh)


def _registry(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "registry" / "名录.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(REGISTRY_HEADER + rows, encoding="utf-8")
    return path


def test_b9_flags_regulations_of_an_agency_without_rulemaking_power_in_the_registry(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "in"
    changes = {"proactive__regulations__issued": 1, "proactive__regulations__in_force": 1}
    powerless = render(report_cells(1, **changes), folder, "无权局")
    empowered = render(report_cells(2, **changes), folder, "有权政府")
    registry = _registry(tmp_path, "ag-a,无权局,,,政府网站,否,2\nag-b,有权政府,,,政府网站,是,2\n")
    out = tmp_path / "out"
    without = run_audit(folder, "--out", out)
    assert without.exit_code == 0, without.output  # unknown power is not "no"
    result = run_audit(folder, "--out", out, "--registry", registry)
    assert result.exit_code == 1, result.output
    found = findings_of(out).filter(pl.col("rule") == "B9")
    assert set(found["source_file"]) == {str(powerless)}
    assert sorted(found["cells"]) == [
        "proactive/regulations/in_force",
        "proactive/regulations/issued",
    ]
    assert str(empowered) not in findings_of(out)["source_file"].to_list()


def test_b5_and_b6_compare_a_report_with_its_agencys_report_of_the_year_before(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "in"
    # 2023 carried 1 request to 2024 and had 11 normative documents in force.
    render(report_cells(1), folder, "两年局", year=2023)
    agreeing = report_cells(
        3,
        requests__carried_over_from_last_year__natural_person=1,
        requests__carried_over_from_last_year__total=1,
        requests__new_received__natural_person=8,
        requests__new_received__total=8,
        proactive__normative_documents__in_force=13,  # 11 + 2 issued
    )
    render(agreeing, folder, "两年局", year=2024)
    out = tmp_path / "out"
    result = run_audit(folder, "--out", out)
    assert result.exit_code == 0, result.output + str(findings_of(out).to_dicts())

    disagreeing = report_cells(3, proactive__normative_documents__in_force=20)
    bad = render(disagreeing, folder, "两年局", year=2024)
    result = run_audit(folder, "--out", out)
    assert result.exit_code == 1
    found = findings_of(out).filter(pl.col("source_file") == str(bad))
    b5 = found.filter(pl.col("rule") == "B5")
    assert b5["cells"].to_list() == [
        "requests: carried_over_from_last_year vs last year's carried_to_next_year @ " + column
        for column in ("natural_person", "total")
    ]
    assert b5["expected"].cast(pl.Float64).to_list() == [1.0, 1.0]
    b6 = found.filter(pl.col("rule") == "B6")
    assert b6["level"].to_list() == ["warning"]
    assert b6["cells"].to_list() == [
        "proactive: in_force vs last year's in_force + issued − repealed @ normative_documents"
    ]


def test_tables_copied_from_last_year_or_from_another_agency_are_flagged(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    last = render(report_cells(2), folder, "抄袭局", year=2023)
    # Same tables as last year; the rolled-forward documents then disagree (B6) as well.
    copied = render(report_cells(2), folder, "抄袭局", year=2024)
    original = render(report_cells(5), folder, "原创局", year=2024)
    other = render(report_cells(5), folder, "照抄局", year=2024)
    out = tmp_path / "out"
    result = run_audit(folder, "--out", out)
    assert result.exit_code == 1  # B5: 2023 carried 2 requests, 2024 shows none
    f5 = findings_of(out).filter(pl.col("rule") == "F5")
    assert set(zip(f5["source_file"], f5["cells"], strict=True)) == {
        (str(copied), f"tables as in: {last}"),
        (str(original), f"tables as in: {other}"),
        (str(other), f"tables as in: {original}"),
    }
    assert set(f5["level"]) == {"warning"}
    assert "上年度" in f5.filter(pl.col("source_file") == str(copied))["message"][0]


def test_narrative_paragraphs_copied_from_another_agency_are_flagged(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    text = (
        "本机关持续加强政府信息管理，建立健全信息发布审查机制，对拟公开信息逐条进行保密审查，"
        "全年未发生因公开不当引发的泄密事件。"
    )
    own = (
        "本局依托区政府门户网站专栏，对行政许可、行政处罚信息实行七日内公开，"
        "并在每季度末组织一次栏目内容的全面自查。"
    )
    files = []
    for name, k, paragraph in (("甲局", 1, text), ("乙局", 2, text), ("丙局", 3, own)):
        path = render(report_cells(k), folder, name)
        page = path.read_text(encoding="utf-8")
        # The office's own text in place of the placeholder of （三）政府信息管理情况.
        page = re.sub(
            r"<p[^>]*>【待填写：（三）政府信息管理情况[^<]*</p>", f"<p>{paragraph}</p>", page
        )
        path.write_text(page, encoding="utf-8")
        files.append(path)
    out = tmp_path / "out"
    result = run_audit(folder, "--out", out)
    assert result.exit_code == 0, result.output
    f6 = findings_of(out).filter(pl.col("rule") == "F6")
    assert set(zip(f6["source_file"], f6["cells"], strict=True)) == {
        (str(files[0]), f"text as in: {files[1]}"),
        (str(files[1]), f"text as in: {files[0]}"),
    }


def test_unreadable_and_old_layout_reports_are_reported_and_nothing_readable_exits_2(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    broken = folder / "broken.docx"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    old = folder / "old.html"
    old.write_text(
        "<html><body><h1>某局2019年政府信息公开工作年度报告</h1>"
        "<p>根据《条例》第二十条第（九）项规定，政府集中采购项目情况如下。</p>"
        "<table><tr><td>统计指标</td><td>单位</td><td>数量</td></tr></table></body></html>",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = run_audit(broken, "--out", out)
    assert result.exit_code == 2
    assert "1 reports, 1 with errors" in result.output
    found = findings_of(out)
    assert found["rule"].to_list() == ["F0"] and found["level"].to_list() == ["error"]

    render(report_cells(1), folder, "好局")
    result = run_audit(folder, "--out", out)
    assert result.exit_code == 1
    assert rules_of(out, broken) == {"F0"}
    assert rules_of(out, old) == {"F1"}
    assert "3 reports, 2 with errors, 0 with warnings" in result.output

    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_audit(empty, "--out", out).exit_code == 2


def test_the_same_agency_and_year_twice_is_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    first = render(report_cells(1), folder, "重复局")
    second = render(report_cells(1), folder, "重复局", fmt="docx")
    out = tmp_path / "out"
    result = run_audit(folder, "--out", out)
    assert result.exit_code == 0
    assert rules_of(out, first) == {"F4"} and rules_of(out, second) == {"F4"}


def test_out_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    render(report_cells(1), folder, "好局")
    result = run_audit(folder, "--out", folder / "audit")
    assert result.exit_code == 2
    assert "inside the input folder" in result.output
    assert not (folder / "audit").exists()


HOSTILE = '<script>document.title="PWNED"</script>局'


def test_index_html_is_offline_escapes_hostile_names_and_sorts_in_chromium(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "in"
    render(report_cells(1), folder, HOSTILE, file="hostile.html")
    render(report_cells(2, appeals__review__total=9), folder, "乙局")
    render(report_cells(3), folder, "甲局")
    out = tmp_path / "out"
    assert run_audit(folder, "--out", out).exit_code == 1
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<script>document" not in page
    assert "&lt;script&gt;document.title=&quot;PWNED&quot;&lt;/script&gt;局" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert page.count("<script>") == 1 and "<link" not in page

    # Click the 机关 header once (ascending by name), then dump the DOM: a test copy of the page
    # whose policy also admits the clicking script, by its hash.
    click = "document.querySelectorAll('th')[1].click();"
    digest = base64.b64encode(hashlib.sha256(click.encode()).digest()).decode()
    clicker = out / "sorted.html"
    clicker.write_text(
        page.replace("script-src ", f"script-src 'sha256-{digest}' ").replace(
            "</body>", f"<script>{click}</script></body>"
        ),
        encoding="utf-8",
    )
    run = headless_chromium(
        tmp_path / "profile",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=2000",
        "--dump-dom",
        clicker.as_uri(),
    )
    dom = run.stdout
    assert "<title>政府信息公开工作年度报告审核结果</title>" in dom
    assert "PWNED</title>" not in dom
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line]
    assert console == []
    names = re.findall(r'<td data-key="([^"]*)">[^<]*</td><td data-key="\d{4}"', dom)
    # Sorted by name as Chinese is collated (甲 before 乙), not in the file order (乙 first).
    assert [n[-2:] for n in names] == [";局", "甲局", "乙局"], names


def test_import_stores_reported_cells_of_registry_agencies_only(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    known = render(report_cells(1), folder, "登记局")
    unknown = render(report_cells(2), folder, "未登记局")
    registry = _registry(tmp_path, "ag-known,登记局,,,政府网站|政务发布,否,2\n")
    warehouse = tmp_path / "warehouse"
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "audit",
            str(folder),
            "--out",
            str(out),
            "--registry",
            str(registry),
            "--import",
            "--warehouse",
            str(warehouse),
        ],
    )
    assert result.exit_code == 0, result.output
    stored = list(warehouse.rglob("*.parquet"))
    assert [p.relative_to(warehouse).as_posix() for p in stored] == [
        "reported_cells/year=2024/agency_id=ag-known/data.parquet"
    ]
    cells = pl.read_parquet(stored[0])
    assert set(cells["status"]) == {"reported"} and set(cells["agency_id"]) == {"ag-known"}
    assert set(cells["source_file"]) == {str(known)}
    assert_frame_equal(
        cells.select("section", "row", "column", "value"),
        report_cells(1).select("section", "row", "column", "value"),
    )
    assert "not imported" in result.output and unknown.name in result.output
    assert cells.filter(pl.col("row") == "fees")["value"].to_list() == [Decimal("1.2500")]


def test_many_reports_are_read_in_worker_processes_to_the_same_cells(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    count = IN_PROCESS_FILES + 2
    for i in range(count):
        render(report_cells(i + 1), folder, f"第{i}局")
    out = tmp_path / "out"
    result = run_audit(folder, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"{count} reports, 0 with errors, 0 with warnings" in result.output
    read = pl.read_parquet(out / "cells.parquet")
    assert read["source_file"].n_unique() == count
    assert_frame_equal(
        read.filter(pl.col("agency_name") == "第3局").select("section", "row", "column", "value"),
        report_cells(4).select("section", "row", "column", "value"),
    )


def test_audit_imports_neither_great_expectations_nor_prefect(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    for fmt in ("html", "docx", "xlsx"):
        render(report_cells(1), folder, f"{fmt}局", fmt=fmt)
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from flows.cli import app\n"
        f"r = CliRunner().invoke(app, ['audit', {str(folder)!r}, '--out', {str(tmp_path / 'o')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'great_expectations', 'prefect'}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert run.stdout.strip() == "[]", run.stderr[-2000:]
