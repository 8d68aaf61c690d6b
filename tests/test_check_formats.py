"""`nianbao check` on rendered reports (report.html/.docx/.xlsx) and `template --format xlsx`.

A rendered report reads back to the cells it shows; what cannot be read (a blank, a "/", a
wrong number) refuses the report naming the file, table, row and column (exit 1); a file that
is no report at all is one line and exit 2. Year and agency come from the published path, the
title (the agency by its registry name) or --year/--agency.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from openpyxl.cell.cell import MergedCell
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from flows.cli import app
from flows.demo.landing import AGENCY, build_demo_landing
from flows.io.ingest import ingest_and_compile
from flows.outputs.formats.docx import to_docx
from flows.outputs.formats.html import to_html
from flows.outputs.formats.xlsx import read_xlsx, to_xlsx
from tests.helpers import RUN_DATE
from transforms.document import Document, final_report

AGENCY_NAME = "重庆市綦江区城市管理局"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, pl.DataFrame, Document]:
    """The demo landing, its main agency's compiled cells and the document built from them."""
    landing = build_demo_landing(tmp_path_factory.mktemp("demo") / "landing")
    cells, _ = ingest_and_compile(landing, 2024, RUN_DATE)
    cells = cells.filter(agency_id=AGENCY)
    doc = final_report(AGENCY, AGENCY_NAME, 2024, cells)
    return landing, cells, doc


RENDER = {
    "report.html": lambda doc: to_html(doc).encode(),
    "report.docx": to_docx,
    "report.xlsx": to_xlsx,
}


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch) -> None:
    """A published report's results go to the working folder: never the repository's."""
    monkeypatch.chdir(tmp_path)


def _published(root: Path, name: str, data: bytes, agency: str = AGENCY) -> Path:
    target = root / f"reports/year=2024/agency_id={agency}/{name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def _check(*words: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", *words])
    return result.exit_code, result.output


@pytest.mark.parametrize("name", list(RENDER))
def test_a_rendered_report_in_its_published_path_passes_with_its_cells(
    name: str, demo, tmp_path: Path
) -> None:
    landing, _, doc = demo
    report = _published(tmp_path / "out", name, RENDER[name](doc))
    results = tmp_path / "results"

    code, output = _check(str(report), "--landing", str(landing), "--results", str(results))

    assert code == 0, output
    assert "passed" in output and "problem" not in output
    summary = json.loads((results / "result.json").read_text("utf-8"))
    assert summary["agencies"] == [AGENCY] and summary["year"] == 2024
    assert summary["passed"] and summary["problems"] == []


def test_a_report_outside_a_published_path_is_told_by_its_title_and_the_registry(
    demo, tmp_path: Path
) -> None:
    landing, _, doc = demo
    report = tmp_path / "下载的报告.docx"
    report.write_bytes(to_docx(doc))

    code, output = _check(str(report), "--landing", str(landing))

    assert code == 0, output
    assert json.loads((tmp_path / "下载的报告.validation/result.json").read_text("utf-8"))[
        "agencies"
    ] == [AGENCY]


def test_a_title_naming_no_registered_agency_asks_for_agency_in_one_line(
    demo, tmp_path: Path
) -> None:
    _, _, doc = demo
    report = tmp_path / "report.html"
    report.write_text(to_html(doc), "utf-8")

    code, output = _check(str(report))

    assert code == 2
    assert "give --agency" in output and len(output.strip().splitlines()) == 1
    code, output = _check(str(report), "--agency", AGENCY)
    assert code == 0, output


def test_a_slash_in_a_docx_cell_refuses_naming_table_row_and_column(demo, tmp_path: Path) -> None:
    landing, cells, doc = demo
    data = to_docx(doc)
    # The cell 行政许可 / 本年处理决定数量 as an office types "nothing": a slash.
    licensing = cells.filter(section="proactive", row="licensing")["value"].item()
    assert licensing == 1322
    edited = _edit_docx(data, ">1322<", ">/<")
    report = _published(tmp_path / "out", "report.docx", edited)

    code, output = _check(str(report), "--landing", str(landing))

    assert code == 1
    assert "refused" in output
    problem = next(line for line in output.splitlines() if "problem:" in line)
    assert str(report) in problem
    assert "二、主动公开政府信息情况" in problem and "行政许可" in problem
    assert "本年处理决定数量" in problem and "不是数字" in problem


def _edit_docx(data: bytes, old: str, new: str) -> bytes:
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info.filename)
            if info.filename == "word/document.xml":
                text = part.decode("utf-8")
                assert text.count(old) == 1, text.count(old)
                part = text.replace(old, new).encode("utf-8")
            target.writestr(info, part)
    return buffer.getvalue()


def test_a_corrupt_docx_is_one_line_and_exit_2(tmp_path: Path) -> None:
    report = _published(tmp_path / "out", "report.docx", b"PK\x03\x04 truncated")
    code, output = _check(str(report))

    assert code == 2
    assert len(output.strip().splitlines()) == 1
    assert str(report) in output and "docx" in output


def test_a_document_that_is_no_report_is_one_line_and_exit_2(tmp_path: Path) -> None:
    report = _published(tmp_path / "out", "report.html", "<html><p>会议通知</p></html>".encode())
    code, output = _check(str(report))

    assert code == 2
    assert "not a report" in output and len(output.strip().splitlines()) == 1


def test_an_html_whose_new_requests_do_not_balance_is_refused_naming_b1(
    demo, tmp_path: Path
) -> None:
    landing, cells, doc = demo
    html = to_html(doc)
    # 三、一 本年新收 总计 (the row's last cell): one more request than the rows below account for.
    new_total = cells.filter(section="requests", row="new_received", column="total")["value"]
    old = f">{new_total.item():f}".split(".")[0] + "<"
    row_start = html.index("本年新收政府信息公开申请数量")
    row_end = html.index("</tr>", row_start)
    position = html.rindex(old, row_start, row_end)
    edited = html[:position] + f">{int(new_total.item()) + 1}<" + html[position + len(old) :]
    report = _published(tmp_path / "out", "report.html", edited.encode())

    code, output = _check(str(report), "--landing", str(landing))

    assert code == 1
    assert re.search(r"\bB1\b", output), output
    assert "problem:" not in output


def test_template_xlsx_filled_in_reads_back_and_passes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["template", "--agency", "ag-x", "--year", "2024", "--format", "xlsx"]
    )
    assert result.exit_code == 0, result.output
    template = tmp_path / "template-ag-x-2024.xlsx"  # the default name
    report = tmp_path / "filled.xlsx"
    report.write_bytes(_fill(template.read_bytes(), skip=None))

    code, output = _check(str(report))

    assert code == 0, output
    summary = json.loads((tmp_path / "filled.validation/result.json").read_text("utf-8"))
    assert summary["agencies"] == ["ag-x"] and summary["year"] == 2024


def test_template_xlsx_with_one_blank_value_is_refused_naming_the_cell(tmp_path: Path) -> None:
    template = tmp_path / "t.xlsx"
    result = CliRunner().invoke(
        app,
        [
            "template",
            "-a",
            "ag-x",
            "-y",
            "2024",
            "--format",
            "xlsx",
            "--channel",
            "政府网站",
            "--channel",
            "綦江城管",
            "-o",
            str(template),
        ],
    )
    assert result.exit_code == 0, result.output
    report = tmp_path / "filled.xlsx"
    report.write_bytes(_fill(template.read_bytes(), skip=("三、依申请公开", "商业企业")))

    code, output = _check(str(report))

    assert code == 1
    problem = next(line for line in output.splitlines() if "problem:" in line)
    assert "三、收到和处理政府信息公开申请情况" in problem
    assert "本年新收政府信息公开申请数量" in problem and "商业企业" in problem and "空白" in problem
    assert "B7" in output


def test_an_unfilled_template_xlsx_is_one_line_and_exit_2(tmp_path: Path) -> None:
    template = tmp_path / "t.xlsx"
    CliRunner().invoke(
        app, ["template", "-a", "ag-x", "-y", "2024", "-f", "xlsx", "-o", str(template)]
    )

    code, output = _check(str(template))

    assert code == 2
    assert "no values filled in" in output and len(output.strip().splitlines()) == 1


def _fill(data: bytes, skip: tuple[str, str] | None) -> bytes:
    """Every value cell of a fill-in workbook typed as 0, but the first value cell of the sheet
    ``skip[0]`` under the column labelled ``skip[1]``."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    read = read_xlsx(data, "t.xlsx")
    assert len(read.tables) == 4  # the channel table, then 二, 三, 四
    for sheet in book.worksheets[1:]:
        skipped = False
        header = {}
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str):
                    header.setdefault(cell.value, cell.column)
                if isinstance(cell, MergedCell):
                    continue
                if cell.value is None and not cell.protection.locked:
                    if (
                        skip
                        and not skipped
                        and sheet.title == skip[0]
                        and header.get(skip[1]) == cell.column
                    ):
                        skipped = True
                        continue
                    cell.value = 0
        assert skipped or not skip or sheet.title != skip[0]
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_check_read_back_equals_the_cells_it_was_rendered_from(demo, tmp_path: Path) -> None:
    from flows.handfilled import read_report_document

    _, cells, doc = demo
    report = _published(tmp_path / "out", "report.xlsx", to_xlsx(doc))
    frame, problems = read_report_document(report, None)

    assert problems == []
    assert_frame_equal(
        frame.select("section", "row", "column", "value"),
        cells.select("section", "row", "column", "value"),
    )
