"""nianbao audit reads any published report into cells (issue 12, point 1): every shape of
every golden report, the reference report's numbers, the pre-2021 layout, damaged tables and
hostile files."""

from __future__ import annotations

import io
import os
import zipfile
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.audit.read import AuditedReport, find_report_files, read_published_report
from tests.audit_corpus import (
    KEY,
    PRE_2021_PAGE,
    PRE_2021_TEXT,
    REFERENCE_AGENCY,
    golden_reports,
    one_cell_per_line,
    reference_document,
    reference_shaped_text,
    site_page,
    write_shapes,
)
from tests.helpers import SCENARIOS

REFERENCE_TEMPLATE = "wechat_two_accounts_reproduce_reference_channels"


def _sorted(cells: pl.DataFrame) -> pl.DataFrame:
    return cells.select(*KEY, "value").sort(KEY)


def _assert_reads(report: AuditedReport, cells: pl.DataFrame, name: str, year: int) -> None:
    assert report.problems == (), report.problems
    assert (report.layout, report.agency_name, report.year) == ("2021", name, year)
    assert_frame_equal(_sorted(report.cells), _sorted(cells))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_shape_of_a_golden_report_reads_back_to_exactly_its_cells(
    scenario: str, tmp_path: Path
) -> None:
    reports = golden_reports(scenario, tmp_path)
    # Every agency where the fee is printed at 0, 2 and 4 decimals; one agency elsewhere.
    for number, golden in enumerate(reports if scenario == "fee_rounding_half_up" else reports[:1]):
        shapes = write_shapes(golden, tmp_path / f"shapes-{number}")
        assert len(shapes) == 13
        for shape, path in shapes.items():
            report = read_published_report(path)
            assert report.source_file == str(path), shape
            _assert_reads(report, golden.cells, golden.agency_name, golden.year)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple:
    template = golden_reports(REFERENCE_TEMPLATE, tmp_path_factory.mktemp("reference"))[0]
    return reference_document(template.compiled)


def test_reference_shaped_text_reads_to_the_reference_reports_numbers(
    reference, tmp_path: Path
) -> None:
    doc, cells = reference
    path = tmp_path / "qijiang-cgj-2024.txt"
    text = reference_shaped_text(doc)
    # The shape of the reference text: labels broken over lines, its own wordings, padded zeros.
    assert "\t商业\n企业\n" in text and "\t结果\n纠正\n" in text and "\t0 \n" in text
    assert "其他法律和行政法规禁止公开" in text and "不再受理" in text
    path.write_text(text, encoding="utf-8")

    report = read_published_report(path)

    _assert_reads(report, cells, REFERENCE_AGENCY, 2024)
    values = {(s, r, c): v for s, r, c, v in report.cells.iter_rows()}
    assert values[("channels", "total", "items")] == Decimal(234)
    assert values[("channels", "website", "items")] == Decimal(152)
    assert values[("channels", "wechat:綦江城管", "items")] == Decimal(60)
    assert values[("channels", "wechat:綦江城管执法", "items")] == Decimal(22)
    assert values[("proactive", "licensing", "decisions")] == Decimal(1322)
    assert values[("proactive", "penalty", "decisions")] == Decimal(532)
    assert values[("proactive", "fees", "amount_10k_yuan")] == Decimal("727.08")
    assert values[("requests", "new_received", "natural_person")] == Decimal(1)
    assert values[("requests", "disclosed", "total")] == Decimal(1)
    assert sum(v for (s, *_), v in values.items() if s == "appeals") == 0
    assert report.cells.height == 4 + 10 + 175 + 15
    assert any("本年度未收取信息处理费" in p for p in report.paragraphs)


def test_full_width_digits_and_thousands_separators_read_as_numbers(
    reference, tmp_path: Path
) -> None:
    doc, cells = reference
    text = (
        one_cell_per_line(doc)
        .replace("\t1322\n", "\t１，３２２\n")
        .replace("\t532\n", "\t５３２\n")
    )
    path = tmp_path / "wide.txt"
    path.write_text(text, encoding="utf-8")

    _assert_reads(read_published_report(path), cells, REFERENCE_AGENCY, 2024)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("old.txt", PRE_2021_TEXT, id="text"),
        pytest.param("old.html", PRE_2021_PAGE, id="html"),
    ],
)
def test_pre_2021_layout_is_recognised_and_not_read_as_cells(
    name: str, content: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")

    report = read_published_report(path)

    assert report.layout == "pre-2021"
    assert report.cells.is_empty()
    assert (report.agency_name, report.year) == ("某县交通局", 2020)
    assert len(report.problems) == 1 and "2021年以前" in report.problems[0]


def test_a_row_missing_a_number_or_with_a_letter_is_a_problem_naming_table_and_row(
    reference, tmp_path: Path
) -> None:
    doc, cells = reference
    text = one_cell_per_line(doc)
    new_row = "\t一、本年新收政府信息公开申请数量\n\t1\n\t0\n"
    assert new_row in text
    text = text.replace(new_row, "\t一、本年新收政府信息公开申请数量\n\t1\n")  # a number lost
    text = text.replace("\t1322\n", "\t13z2\n")  # a letter typed for a digit
    path = tmp_path / "damaged.txt"
    path.write_text(text, encoding="utf-8")

    report = read_published_report(path)

    assert report.layout == "2021"
    problems = "\n".join(report.problems)
    assert (
        "表“三、收到和处理政府信息公开申请情况”行“一、本年新收政府信息公开申请数量”应有7个数字，读到6个"
        in problems
    )
    assert "表“二、主动公开政府信息情况”行“行政许可”的值“13z2”不是数字" in problems
    assert len(report.problems) == 2
    read = {tuple(key) for key in report.cells.select(KEY).iter_rows()}
    # Neither row is guessed: their cells are absent, every other cell is read.
    assert ("proactive", "licensing", "decisions") not in read
    assert not any(row == "new_received" for _, row, _ in read)
    assert ("proactive", "penalty", "decisions") in read
    assert len(read) == cells.height - 1 - 7


def test_a_letter_in_a_cell_of_a_saved_page_names_the_row_and_column(
    reference, tmp_path: Path
) -> None:
    doc, _ = reference
    page = site_page(doc).replace(">532<", ">5e2<")
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")

    report = read_published_report(path)

    assert any("行政处罚" in p and "5e2" in p for p in report.problems), report.problems
    assert report.cells.filter(row="penalty").is_empty()


def test_a_page_with_no_report_is_unreadable_with_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "news.html"
    path.write_text(
        "<html><body><nav>首页 | 新闻</nav><h1>关于开展安全检查的通知</h1>"
        "<p>各单位：请于3月1日前完成检查。</p><table><tr><td>序号</td><td>1</td></tr></table>"
        "</body></html>",
        encoding="utf-8",
    )

    report = read_published_report(path)

    assert report.layout == "unreadable"
    assert report.cells.is_empty() and report.cells.schema["value"] == pl.Decimal(18, 4)
    assert len(report.problems) == 1 and "找不到" in report.problems[0]


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr("word/document.xml", b"\0" * (60 * 2**20))
    return buffer.getvalue()


def test_hostile_files_come_back_unreadable_and_never_crash(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("不是报告", encoding="utf-8")
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "garbage.html").write_bytes(bytes(range(256)) * 64)
    (folder / "garbage.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 16)
    (folder / "truncated.docx").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    (folder / "garbage.xlsx").write_bytes(b"not a workbook")
    (folder / "bomb.docx").write_bytes(_zip_bomb())
    with open(folder / "huge.txt", "wb") as handle:
        handle.truncate(40 * 2**20)  # sparse: refused by its size, never read
    (folder / "link.txt").symlink_to(outside)
    os.mkfifo(folder / "pipe.txt")  # reading it would block forever
    (folder / "report.exe").write_bytes(b"MZ")

    for path in sorted(folder.iterdir()):
        report = read_published_report(path)
        assert report.cells.is_empty(), path
        assert report.layout == "unreadable", path
        assert len(report.problems) == 1 and report.problems[0].startswith(str(path)), path
    assert "too large" in read_published_report(folder / "huge.txt").problems[0]
    assert "regular file" in read_published_report(folder / "pipe.txt").problems[0]
    assert "refused" in read_published_report(folder / "bomb.docx").problems[0]
    assert read_published_report(folder / "missing.html").layout == "unreadable"


def test_find_report_files_walks_folders_without_leaving_them(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.html").write_text("x", encoding="utf-8")
    root = tmp_path / "reports"
    (root / "2024" / "sub").mkdir(parents=True)
    for name in ("a.html", "b.PDF", "c.docx", "d.xlsx", "e.txt", "f.md", "g.htm"):
        (root / "2024" / name).write_text("x", encoding="utf-8")
    (root / "2024" / "sub" / "h.shtml").write_text("x", encoding="utf-8")
    for name in ("notes.exe", "image.png", ".hidden.html", "~$c.docx", "old.doc"):
        (root / "2024" / name).write_text("x", encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "i.html").write_text("x", encoding="utf-8")
    (root / "link-out.html").symlink_to(outside / "secret.html")
    (root / "dir-out").symlink_to(outside, target_is_directory=True)
    (root / "link-in.txt").symlink_to(root / "2024" / "e.txt")
    (root / "loop.html").symlink_to(root / "loop.html")
    os.mkfifo(root / "pipe.txt")
    given = tmp_path / "given.odd"
    given.write_text("x", encoding="utf-8")

    found, refused = find_report_files([root, given, root / "2024" / "a.html"])

    names = [str(path.relative_to(tmp_path)) for path in found]
    assert names == sorted(
        [
            "given.odd",
            "reports/2024/a.html",
            "reports/2024/b.PDF",
            "reports/2024/c.docx",
            "reports/2024/d.xlsx",
            "reports/2024/e.txt",
            "reports/2024/f.md",
            "reports/2024/g.htm",
            "reports/2024/sub/h.shtml",
            "reports/link-in.txt",
        ]
    )
    # Entries named like reports that are no regular file inside the folder are never opened
    # but listed with the reason (F0); hidden files, lock files and other names stay left out.
    assert [(str(Path(r.source_file).relative_to(tmp_path)), r.layout) for r in refused] == [
        ("reports/link-out.html", "unreadable"),
        ("reports/loop.html", "unreadable"),
        ("reports/pipe.txt", "unreadable"),
    ]
    assert "链接指向所查文件夹之外" in refused[0].problems[0]
    assert "链接无法解析" in refused[1].problems[0]
    assert "命名管道（FIFO），不是普通文件" in refused[2].problems[0]


def test_an_empty_line_in_text_copied_without_cells_is_not_taken_for_zero(
    reference, tmp_path: Path
) -> None:
    doc, _ = reference
    text = one_cell_per_line(doc).replace("\t", "")
    row = "二、上年结转政府信息公开申请数量\n0\n0\n"
    assert row in text
    path = tmp_path / "lines.txt"
    path.write_text(text.replace(row, "二、上年结转政府信息公开申请数量\n0\n\n"), encoding="utf-8")

    report = read_published_report(path)

    assert len(report.problems) == 1
    assert "行“二、上年结转政府信息公开申请数量”应有7个数字，读到6个" in report.problems[0]
    assert report.cells.filter(row="carried_over_from_last_year").is_empty()
