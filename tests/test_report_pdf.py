"""report.pdf and report.html as an office sees them: printed, extracted, screenshotted.

report.pdf is typeset by Typst from the Document; report.html is screenshotted in Chromium.

Needs poppler-utils (pdftotext, pdfinfo, pdffonts) and Debian's chromium, which ``.ci/run``
installs; a missing tool fails the test with the package to install, it is not skipped.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pikepdf
import polars as pl
import pytest

from flows.outputs.formats import pdf as pdf_format
from flows.outputs.formats.html import to_html
from flows.outputs.formats.pdf import CJKFontMissing, cjk_font_files, to_pdf
from tests.helpers import headless_chromium
from tests.test_report_html import sample_document
from transforms.document import Document, Heading, Paragraph, Table, TableCell
from transforms.normalize import QUARANTINE_SCHEMA

pytestmark = pytest.mark.slow


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {package} (.ci/run installs it)")
    return path


def _run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.fixture(scope="module")
def report_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "report.pdf"
    path.write_bytes(to_pdf(sample_document()))
    return path


def test_pdf_text_is_chinese_text_that_can_be_extracted(report_pdf: Path) -> None:
    text = _run(_tool("pdftotext", "poppler-utils"), str(report_pdf), "-")
    flat = "".join(text.split())
    for expected in (
        "2024年政府信息公开工作年度报告",
        "一、总体情况",
        "三、收到和处理政府信息公开申请情况",
        "主动公开政府信息12345条",
        "申请人情况",
        "（一）予以公开",
        "（待填写：本年度存在的主要问题及改进情况。）",
    ):
        assert expected in flat, expected
    # The numbers of table 四's one row, in order on one printed line.
    layout = _run(_tool("pdftotext", "poppler-utils"), "-layout", str(report_pdf), "-")
    numbers = [str(i * 7) for i in range(15)]
    assert numbers in [line.split() for line in layout.splitlines()]


def test_pdf_of_the_report_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    # Typst warns about fonts it cannot find and layout it ignores; both are logged.
    to_pdf(sample_document())
    assert [r.getMessage() for r in caplog.records if r.levelname != "DEBUG"] == []


def test_same_document_gives_the_same_pdf_bytes() -> None:
    assert to_pdf(sample_document()) == to_pdf(sample_document())


def test_pdf_is_a4_with_every_font_embedded_and_mapped_to_unicode(report_pdf: Path) -> None:
    info = _run(_tool("pdfinfo", "poppler-utils"), str(report_pdf))
    assert "Page size:       595.276 x 841.89 pts (A4)" in info
    fonts = _run(_tool("pdffonts", "poppler-utils"), str(report_pdf)).splitlines()[2:]
    assert fonts and all(line.split()[-5:-2] == ["yes", "yes", "yes"] for line in fonts), fonts
    assert any("NotoSerifSC" in line for line in fonts)
    assert any("NotoSansSC" in line for line in fonts)
    assert len(fonts) == 2  # no fallback font: every glyph from the two Noto fonts


HOSTILE = (
    '#eval("1+1") #read("/etc/passwd") ] [ \\ $x^2$ @ref <label> *粗体* _斜体_ '
    '// 注释 /* 块 */ `raw` = 标题 - 列表 #{ 1 + 1 } #import "@preview/x:0.1.0"'
)


def test_hostile_text_prints_as_itself_and_is_never_evaluated(tmp_path: Path) -> None:
    hostile_table = Table(
        section="appeals",
        n_rows=2,
        n_cols=2,
        cells=(
            TableCell(0, 0, "]#panic(1)[", header=True),
            TableCell(0, 1, "$", header=True),
            TableCell(1, 0, HOSTILE, colspan=2),
        ),
        header_rows=1,
    )
    doc = Document(
        agency_name=HOSTILE,
        year=2024,
        title=(HOSTILE,),
        blocks=(Heading(HOSTILE, 1), Paragraph(HOSTILE), Paragraph(HOSTILE, True), hostile_table),
    )
    out = tmp_path / "r.pdf"
    out.write_bytes(to_pdf(doc))
    text = _run(_tool("pdftotext", "poppler-utils"), str(out), "-")
    flat = "".join(text.split())
    expected = "".join(HOSTILE.split())
    # Title, heading, paragraph, placeholder and table cell: five times, character for character.
    assert flat.count(expected) == 5, text
    assert "]#panic(1)[" in flat and "root:" not in text


def test_control_characters_and_lone_surrogates_are_dropped_not_fatal(tmp_path: Path) -> None:
    cell = TableCell(0, 0, "表\ud800格\x00")
    doc = Document(
        agency_name="x",
        year=2024,
        title=("标\udfff题\x07",),
        blocks=(
            Paragraph("甲\x00乙\x1f丙\ufffe丁\ud800戊\r\n己"),
            Table(section="appeals", n_rows=1, n_cols=1, cells=(cell,)),
        ),
    )
    out = tmp_path / "r.pdf"
    out.write_bytes(to_pdf(doc))
    lines = _run(_tool("pdftotext", "poppler-utils"), str(out), "-").split()
    assert {"标题", "甲乙丙丁戊", "己", "表格"} <= set(lines), lines


def test_overlapping_cells_are_refused_naming_the_table() -> None:
    table = Table(
        section="proactive",
        n_rows=2,
        n_cols=2,
        cells=(TableCell(0, 0, "a", rowspan=2), TableCell(1, 0, "b")),
    )
    doc = Document(agency_name="x", year=2024, title=("x",), blocks=(table,))
    with pytest.raises(ValueError, match=r"proactive.*overlap"):
        to_pdf(doc)


def test_pdf_is_refused_when_its_chinese_fonts_are_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pylopdf_fonts_zh_cn

    monkeypatch.setattr(pylopdf_fonts_zh_cn, "serif_path", lambda: tmp_path / "gone.otf")
    with pytest.raises(CJKFontMissing, match=r"gone\.otf"):
        pdf_format.to_pdf(sample_document())


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def test_chromium_screenshot_of_the_page_shows_it(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(to_html(sample_document()), encoding="utf-8")
    # The same Chinese fonts the PDF embeds, so the screenshot does not depend on the machine's.
    fonts_dir = cjk_font_files()["Noto Serif SC"].parent
    config = tmp_path / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f'<dir>{fonts_dir}</dir><include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"<cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    shot = tmp_path / "report.png"
    headless_chromium(
        tmp_path / "profile",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=900,2000",
        f"--screenshot={shot}",
        page.as_uri(),
        env={**os.environ, "FONTCONFIG_FILE": str(config)},
    )
    png = shot.read_bytes()
    assert _png_size(png) == (900, 2000)
    assert len(png) > 20_000  # a blank page compresses to a few kilobytes


def _short_document(name: str, paragraphs: int) -> Document:
    """A report of its own title, one heading and ``paragraphs`` paragraphs (pages)."""
    return Document(
        agency_name=name,
        year=2024,
        title=(name, "2024年政府信息公开工作年度报告"),
        blocks=(
            Heading(f"一、{name}总体情况", 1),
            *(Paragraph(f"{name}第{i}段。" + "本机关依法主动公开政府信息。" * 40) for i in range(paragraphs)),
        ),
    )  # fmt: skip


def _batch() -> list[Document]:
    return [_short_document("甲局", 1), sample_document(), _short_document("乙局", 6)]


def _pdf_text(tmp_path: Path, pdf: bytes, name: str, *options: str) -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    return _run(_tool("pdftotext", "poppler-utils"), *options, str(path), "-")


def test_pdfs_of_a_batch_are_each_reports_own_pdf(tmp_path: Path) -> None:
    docs = _batch()
    pdfs = pdf_format.to_pdfs(docs)
    assert len(pdfs) == 3
    for i, (doc, pdf) in enumerate(zip(docs, pdfs, strict=True)):
        path = tmp_path / f"batch{i}.pdf"
        path.write_bytes(pdf)
        assert _pdf_text(tmp_path, pdf, f"b{i}.pdf") == _pdf_text(
            tmp_path, to_pdf(doc), f"a{i}.pdf"
        )
        info = _run(_tool("pdfinfo", "poppler-utils"), str(path))
        assert f"Title:           {''.join(doc.title)}\n" in info
        assert "Page size:       595.276 x 841.89 pts (A4)" in info
        pages = int(info.split("Pages:")[1].split()[0])
        # Each report is numbered from 1 (the footer: — n —), whatever came before it.
        for page in range(1, pages + 1):
            footer = _pdf_text(tmp_path, pdf, f"p{i}.pdf", "-f", str(page), "-l", str(page))
            assert f"\u2014{page}\u2014" in "".join(footer.split()), (i, page, footer)
        fonts = _run(_tool("pdffonts", "poppler-utils"), str(path)).splitlines()[2:]
        assert fonts and all(line.split()[-5:-2] == ["yes", "yes", "yes"] for line in fonts)
    # The reports really are of different lengths: 乙局's runs over several pages.
    assert "\u20142\u2014" in "".join(_pdf_text(tmp_path, pdfs[2], "last.pdf").split())
    assert "\u20142\u2014" not in "".join(_pdf_text(tmp_path, pdfs[0], "first.pdf").split())


def test_pdfs_of_a_batch_keep_each_reports_bookmarks() -> None:
    docs = _batch()
    for doc, pdf in zip(docs, pdf_format.to_pdfs(docs), strict=True):
        with pikepdf.open(io.BytesIO(pdf)) as opened, opened.open_outline() as outline:
            marks = [
                (item.title, [child.title for child in item.children]) for item in outline.root
            ]
        headings = [b.text for b in doc.blocks if isinstance(b, Heading) and b.level == 1]
        assert [title for title, _ in marks] == headings
    assert marks[0][0] == "一、乙局总体情况"


def test_same_batch_gives_the_same_pdf_bytes() -> None:
    assert pdf_format.to_pdfs(_batch()) == pdf_format.to_pdfs(_batch())


def test_empty_batch_gives_no_pdf() -> None:
    assert pdf_format.to_pdfs([]) == []


def test_batch_with_an_overlapping_table_is_refused_naming_the_report_and_table() -> None:
    table = Table(
        section="proactive",
        n_rows=2,
        n_cols=2,
        cells=(TableCell(0, 0, "a", rowspan=2), TableCell(1, 0, "b")),
    )
    bad = Document(agency_name="丙局", year=2024, title=("丙局",), blocks=(table,))
    with pytest.raises(ValueError, match=r"丙局.*proactive.*overlap"):
        pdf_format.to_pdfs([sample_document(), bad, _short_document("甲局", 1)])


def test_reports_rendered_in_chunks_come_back_in_order_each_with_its_own_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.outputs import render

    # Chunks of 2 over 5 reports: the last chunk is short, and each chunk one Typst compile.
    monkeypatch.setattr(render, "CHUNK", 2)
    monkeypatch.setattr(render, "RENDER_HERE_UP_TO", 1)  # in worker processes, not here
    docs = [_short_document(f"局{i}", 1 + i % 2) for i in range(5)]
    empty = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    rendered = render.render_reports([(doc, empty) for doc in docs])
    assert len(rendered) == 5
    for doc, files in zip(docs, rendered, strict=True):
        assert files == {**render.render_report(doc, empty), "report.pdf": files["report.pdf"]}
        with pikepdf.open(io.BytesIO(files["report.pdf"])) as pdf:
            assert str(pdf.docinfo["/Title"]) == "".join(doc.title)


def test_reports_rendered_ahead_are_taken_each_with_its_own_files() -> None:
    from flows.outputs.render import AheadRenders, render_report

    docs = [_short_document(f"局{i}", 1) for i in range(3)]
    empty = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    ahead = AheadRenders()
    ahead.submit_all([(f"a{i}", f"d{i}", doc, empty) for i, doc in enumerate(docs)])
    assert len(ahead) == 3
    assert ahead.take("a1", "other digest") is None
    for i in (2, 0, 1):
        files = ahead.take(f"a{i}", f"d{i}")
        assert files is not None
        assert files["report.html"] == render_report(docs[i], empty)["report.html"]
        with pikepdf.open(io.BytesIO(files["report.pdf"])) as pdf:
            assert str(pdf.docinfo["/Title"]) == "".join(docs[i].title)
    assert len(ahead) == 0
