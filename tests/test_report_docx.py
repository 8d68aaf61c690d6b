"""report.docx: the Word report (official-document layout, merged cells) and its reader."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from docx.enum.text import WD_COLOR_INDEX
from docx.oxml import OxmlElement
from docx.oxml.ns import qn

from flows.outputs.formats.docx import DocxReadError, read_docx, to_docx
from transforms.document import Document, Heading, Paragraph, Table, TableCell

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
NOTE = "本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和"
HOSTILE = "=cmd|' /C calc'!A0 <w:t>注入</w:t> &amp; \x00\x07\x1f\ufffe结尾"
HOSTILE_SAFE = "=cmd|' /C calc'!A0 <w:t>注入</w:t> &amp; 结尾"
PLACEHOLDER = "【待补充：政府信息管理工作情况，请在 narrative/2024.md 中填写】"


def _values(row: int, name: str) -> list[TableCell]:
    """The seven value cells of a body row of the requests table."""
    return [
        TableCell(row, 3 + i, str(row * 10 + i), key=("requests", name, f"c{i}")) for i in range(7)
    ]


def requests_table() -> Table:
    """A cut-down table 三: the 3×3 note corner, 申请人情况 across 7 columns, 自然人 and 总计
    over two header rows, 三、本年度办理结果 down three rows, （三） down two."""
    header = [
        TableCell(0, 0, NOTE, rowspan=3, colspan=3, header=True),
        TableCell(0, 3, "申请人情况", colspan=7, header=True),
        TableCell(1, 3, "自然人", rowspan=2, header=True),
        TableCell(1, 4, "法人或其他组织", colspan=5, header=True),
        TableCell(1, 9, "总计", rowspan=2, header=True),
        *(
            TableCell(2, 4 + i, label, header=True)
            for i, label in enumerate(
                ["商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"]
            )
        ),
    ]
    body = [
        TableCell(3, 0, "一、本年新收政府信息公开申请数量", colspan=3),
        *_values(3, "new"),
        TableCell(4, 0, "三、本年度办理结果", rowspan=3),
        TableCell(4, 1, "（一）予以公开", colspan=2),
        *_values(4, "granted"),
        TableCell(5, 1, "（三）不予公开", rowspan=2),
        TableCell(5, 2, "1.属于国家秘密"),
        *_values(5, "secret"),
        TableCell(6, 2, HOSTILE),
        *_values(6, "law"),
        TableCell(7, 0, "四、结转下年度继续办理", colspan=3),
        *_values(7, "carried"),
    ]
    return Table(
        section="requests",
        n_rows=8,
        n_cols=10,
        cells=tuple(header + body),
        header_rows=3,
        column_widths=(1.0, 1.5, 3.0, 1, 1, 1, 1, 1, 1, 1),
    )


def report() -> Document:
    return Document(
        agency_name="某某区城市管理局",
        year=2024,
        title=("某某区城市管理局", "2024年政府信息公开工作年度报告"),
        blocks=(
            Paragraph(
                "本报告依据《中华人民共和国政府信息公开条例》编制。统计期限为2024年1月1日至12月31日。"
            ),
            Heading("一、总体情况", 1),
            Heading("（一）主动公开", 2),
            Paragraph("2024年，本机关主动公开政府信息120条，较上年增加20条。"),
            Heading("（三）政府信息管理", 2),
            Paragraph(PLACEHOLDER, placeholder=True),
            Heading("三、收到和处理政府信息公开申请情况", 1),
            requests_table(),
            Paragraph(HOSTILE),
        ),
        placeholders=("（三）政府信息管理",),
    )


def expected_grid(table: Table) -> tuple[tuple[str, ...], ...]:
    grid = [[""] * table.n_cols for _ in range(table.n_rows)]
    for cell in table.cells:
        grid[cell.row][cell.col] = cell.text
    return tuple(tuple(row) for row in grid)


def document_xml(data: bytes) -> object:
    from lxml import etree

    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return etree.fromstring(package.read("word/document.xml"))


def styles_by_name(data: bytes) -> dict[str, object]:
    from lxml import etree

    with zipfile.ZipFile(io.BytesIO(data)) as package:
        root = etree.fromstring(package.read("word/styles.xml"))
    return {s.find(f"{W}name").get(f"{W}val"): s for s in root.iter(f"{W}style")}


def tc_layout(tbl) -> dict[tuple[int, int], tuple[int, str | None]]:
    """(row, grid column) of every w:tc → (gridSpan, vMerge value) as written in the XML."""
    layout = {}
    for r, tr in enumerate(tbl.findall(f"{W}tr")):
        col = 0
        for tc in tr.findall(f"{W}tc"):
            span_node = tc.find(f"{W}tcPr/{W}gridSpan")
            span = int(span_node.get(f"{W}val")) if span_node is not None else 1
            v_node = tc.find(f"{W}tcPr/{W}vMerge")
            v_merge = None if v_node is None else (v_node.get(f"{W}val") or "continue")
            layout[(r, col)] = (span, v_merge)
            col += span
    return layout


def test_spans_become_real_merged_cells_with_gridspan_and_vmerge():
    tbl = document_xml(to_docx(report())).find(f".//{W}tbl")
    layout = tc_layout(tbl)
    # The 3×3 note corner: one w:tc of gridSpan 3 per row, restarting then continuing.
    assert layout[(0, 0)] == (3, "restart")
    assert layout[(1, 0)] == (3, "continue")
    assert layout[(2, 0)] == (3, "continue")
    assert layout[(0, 3)] == (7, None)  # 申请人情况 across the seven value columns
    assert layout[(1, 3)] == (1, "restart") and layout[(2, 3)] == (1, "continue")  # 自然人
    assert layout[(1, 4)] == (5, None)  # 法人或其他组织
    assert layout[(1, 9)] == (1, "restart") and layout[(2, 9)] == (1, "continue")  # 总计
    assert layout[(3, 0)] == (3, None)  # 一、 across the label columns
    assert [layout[(r, 0)] for r in (4, 5, 6)] == [(1, "restart"), (1, "continue"), (1, "continue")]
    assert layout[(4, 1)] == (2, None)
    assert layout[(5, 1)] == (1, "restart") and layout[(6, 1)] == (1, "continue")
    assert layout[(7, 0)] == (3, None)
    # No stray cells: every row covers exactly the ten grid columns.
    for r in range(8):
        assert sum(span for (row, _), (span, _) in layout.items() if row == r) == 10
    # The note is written once, in the corner.
    assert [t.text for t in tbl.iter(f"{W}t")].count(NOTE) == 1


def test_header_rows_repeat_on_every_printed_page():
    tbl = document_xml(to_docx(report())).find(f".//{W}tbl")
    repeated = [tr.find(f"{W}trPr/{W}tblHeader") is not None for tr in tbl.findall(f"{W}tr")]
    assert repeated == [True, True, True, False, False, False, False, False]


def test_table_has_borders_widths_from_the_model_and_centred_numbers():
    data = to_docx(report())
    tbl = document_xml(data).find(f".//{W}tbl")
    borders = tbl.find(f"{W}tblPr/{W}tblBorders")
    assert {b.tag.removeprefix(W): b.get(f"{W}val") for b in borders} == {
        edge: "single" for edge in ("top", "left", "bottom", "right", "insideH", "insideV")
    }
    # Word refuses a table whose properties are out of the schema's sequence.
    schema_order = ["tblStyle", "tblW", "jc", "tblBorders", "tblLayout", "tblLook"]
    assert [c.tag.removeprefix(W) for c in tbl.find(f"{W}tblPr")] == schema_order
    widths = [int(g.get(f"{W}w")) for g in tbl.find(f"{W}tblGrid")]
    # 156 mm of text width (210 - 28 - 26) in twips, shared 1 : 1.5 : 3 : 1 …
    assert abs(sum(widths) - round(156 / 25.4 * 1440)) <= 10
    assert widths[2] == pytest.approx(3 * widths[3], abs=3)
    assert widths[1] == pytest.approx(1.5 * widths[0], abs=3)
    word = docx.Document(io.BytesIO(data))
    table = word.tables[0]
    assert table.cell(3, 5).text == "32"
    assert table.cell(3, 5).paragraphs[0].alignment == 1  # centre
    assert table.cell(3, 0).paragraphs[0].alignment is None  # row label: style's left
    assert table.cell(3, 5).paragraphs[0].style.name == "Report Table Text"


def test_page_is_a4_with_official_document_margins():
    section = docx.Document(io.BytesIO(to_docx(report()))).sections[0]
    expected = {
        "page_width": 210,
        "page_height": 297,
        "top_margin": 37,
        "bottom_margin": 35,
        "left_margin": 28,
        "right_margin": 26,
    }
    actual = {name: round(getattr(section, name).mm, 1) for name in expected}
    assert actual == pytest.approx(expected, abs=0.1)


def _fonts(style) -> tuple[str | None, str | None, list[str]]:
    rpr = style.find(f"{W}rPr")
    fonts = rpr.find(f"{W}rFonts")
    size = rpr.find(f"{W}sz")
    themes = [a for a in fonts.attrib if a.lower().endswith("theme")]
    return fonts.get(f"{W}eastAsia"), size.get(f"{W}val") if size is not None else None, themes


def test_fonts_follow_official_documents_for_east_asian_text():
    styles = styles_by_name(to_docx(report()))
    # (eastAsia font, size in half-points, theme fonts that would override it)
    assert _fonts(styles["Normal"]) == ("仿宋", "32", [])
    assert _fonts(styles["heading 1"]) == ("黑体", "32", [])
    assert _fonts(styles["heading 2"]) == ("楷体", "32", [])
    assert _fonts(styles["Report Title"]) == ("黑体", "44", [])
    assert _fonts(styles["Report Table Text"]) == ("宋体", "21", [])
    # Body paragraphs: first line indented two characters.
    ind = styles["Normal"].find(f"{W}pPr/{W}ind")
    assert ind.get(f"{W}firstLineChars") == "200"
    assert styles["Report Table Text"].find(f"{W}pPr/{W}ind").get(f"{W}firstLineChars") == "0"


def test_placeholder_paragraph_is_highlighted_and_keeps_its_text():
    word = docx.Document(io.BytesIO(to_docx(report())))
    by_text = {p.text: p for p in word.paragraphs}
    placeholder = by_text[PLACEHOLDER]
    assert [r.font.highlight_color for r in placeholder.runs] == [WD_COLOR_INDEX.YELLOW]
    others = [r for p in word.paragraphs if p.text != PLACEHOLDER for r in p.runs]
    assert others and all(r.font.highlight_color is None for r in others)


def test_hostile_text_is_written_as_plain_text_without_illegal_characters():
    data = to_docx(report())
    root = document_xml(data)
    texts = [t.text for t in root.iter(f"{W}t")]
    # Once as a paragraph, once as a table label; XML-illegal characters dropped, the rest kept.
    assert texts.count(HOSTILE_SAFE) == 2
    for tag in ("fldSimple", "instrText", "hyperlink", "fldChar"):
        assert root.find(f".//{W}{tag}") is None
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        raw = package.read("word/document.xml").decode()
    assert "&lt;w:t&gt;注入&lt;/w:t&gt; &amp;amp;" in raw


def test_read_docx_returns_the_written_title_paragraphs_and_grids():
    doc = report()
    read = read_docx(to_docx(doc), "reports/year=2024/agency_id=a1/report.docx")
    assert read.source == "reports/year=2024/agency_id=a1/report.docx"
    assert read.title == doc.title
    assert read.paragraphs == (
        doc.blocks[0].text,
        "一、总体情况",
        "（一）主动公开",
        doc.blocks[3].text,
        "（三）政府信息管理",
        PLACEHOLDER,
        "三、收到和处理政府信息公开申请情况",
        HOSTILE_SAFE,
    )
    grid = [list(row) for row in expected_grid(requests_table())]
    grid[6][2] = HOSTILE_SAFE
    assert read.tables == (tuple(tuple(row) for row in grid),)


def test_same_document_renders_to_the_same_bytes():
    assert to_docx(report()) == to_docx(report())


def test_overlapping_cells_are_refused_naming_the_table():
    table = Table(
        section="proactive",
        n_rows=2,
        n_cols=2,
        cells=(TableCell(0, 0, "a", rowspan=2), TableCell(1, 0, "b")),
    )
    doc = Document(agency_name="x", year=2024, title=("x",), blocks=(table,))
    with pytest.raises(ValueError, match=r"proactive.*overlap"):
        to_docx(doc)


def _add_text(cell, *runs: str) -> None:
    """Write a cell as a person typing in Word would: text in several runs, breaks inside."""
    paragraph = cell.paragraphs[0]
    for text in runs:
        if text == "\n":
            paragraph.add_run().add_break()
        else:
            paragraph.add_run(text)


def hand_made_docx() -> bytes:
    """The requests table as an office types it in Word: merges made bottom-up, labels broken
    over lines and split across runs, numbers padded with spaces, a tracked change."""
    word = docx.Document()
    word.add_paragraph("某某区城市管理局", style="Title")
    word.add_paragraph("2024年政府信息公开工作年度报告", style="Title")
    word.add_paragraph("")
    word.add_paragraph("三、收到和处理政府信息公开申请情况", style="Heading 1")
    table = word.add_table(rows=8, cols=10)
    table.style = word.styles["Table Grid"]
    spec = requests_table()
    for cell in spec.cells:
        if cell.rowspan > 1 or cell.colspan > 1:
            bottom_right = table.cell(cell.row + cell.rowspan - 1, cell.col + cell.colspan - 1)
            bottom_right.merge(table.cell(cell.row, cell.col))
    for cell in spec.cells:
        target = table.cell(cell.row, cell.col)
        if cell.text == "一、本年新收政府信息公开申请数量":
            _add_text(target, "一、本年新收", "政府信息", "\n", "公开申请数量")
        elif cell.key is not None:
            _add_text(target, f" {cell.text} ")
        else:
            text = HOSTILE_SAFE if cell.text == HOSTILE else cell.text
            _add_text(target, *text.partition("情况"))
    # 总计 of the carried-over row typed as a tracked insertion, with a deleted old value.
    paragraph = table.cell(7, 9).paragraphs[0]
    for run in list(paragraph.runs):
        paragraph._p.remove(run._r)
    deleted, inserted = OxmlElement("w:del"), OxmlElement("w:ins")
    for node in (deleted, inserted):
        node.set(qn("w:id"), "1")
        node.set(qn("w:author"), "x")
    old = paragraph.add_run()._r
    del_text = OxmlElement("w:delText")
    del_text.text = "99"
    old.append(del_text)
    paragraph._p.remove(old)
    deleted.append(old)
    new = paragraph.add_run("76")._r
    paragraph._p.remove(new)
    inserted.append(new)
    paragraph._p.append(deleted)
    paragraph._p.append(inserted)
    word.add_paragraph("（本表单位：件）")
    out = io.BytesIO()
    word.save(out)
    return out.getvalue()


def test_hand_made_word_table_in_the_same_layout_reads_as_the_grid():
    read = read_docx(hand_made_docx(), "手填/report.docx")
    assert read.title == ("某某区城市管理局", "2024年政府信息公开工作年度报告")
    assert read.paragraphs == ("三、收到和处理政府信息公开申请情况", "（本表单位：件）")
    grid = [list(row) for row in expected_grid(requests_table())]
    grid[6][2] = HOSTILE_SAFE
    grid[3][0] = "一、本年新收政府信息\n公开申请数量"
    assert read.tables == (tuple(tuple(row) for row in grid),)


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, blob in members.items():
            package.writestr(name, blob)
    return out.getvalue()


def _with_document_xml(data: bytes, xml: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        members = {name: package.read(name) for name in package.namelist()}
    members["word/document.xml"] = xml
    return _zip(members)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: b"PK\x03\x04 not really a zip", id="not-a-zip"),
        pytest.param(lambda: "年报".encode() * 100, id="text-file"),
        pytest.param(lambda: to_docx(report())[:2000], id="truncated"),
        pytest.param(lambda: _zip({"hello.txt": b"hi"}), id="zip-without-word-parts"),
        pytest.param(
            lambda: _with_document_xml(to_docx(report()), b"<w:document><w:body>"),
            id="malformed-document-xml",
        ),
    ],
)
def test_corrupt_docx_gives_a_clear_error_naming_the_file(make):
    with pytest.raises(DocxReadError, match=r"^uploads/坏文件\.docx: ") as caught:
        read_docx(make(), "uploads/坏文件.docx")
    assert isinstance(caught.value, ValueError)


def test_document_xml_that_would_inflate_past_50_mb_is_refused_before_parsing():
    bomb = _with_document_xml(to_docx(report()), b"<" + b" " * (51 * 1024 * 1024))
    assert len(bomb) < 1024 * 1024
    with pytest.raises(DocxReadError, match=r"refused.*word/document\.xml"):
        read_docx(bomb, "bomb.docx")


def test_hostile_grid_span_is_refused():
    data = to_docx(report())
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        xml = package.read("word/document.xml")
    hostile = xml.replace(b'<w:gridSpan w:val="7"/>', b'<w:gridSpan w:val="999999999"/>', 1)
    assert hostile != xml
    with pytest.raises(DocxReadError, match="gridSpan"):
        read_docx(_with_document_xml(data, hostile), "span.docx")


def test_external_entities_in_document_xml_are_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("身份证号110101199001011234", encoding="utf-8")
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
        f'<w:document xmlns:w="{W[1:-1]}"><w:body><w:p><w:r><w:t>前&x;后</w:t></w:r></w:p>'
        "</w:body></w:document>"
    ).encode()
    read = read_docx(_with_document_xml(to_docx(report()), xml), "xxe.docx")
    # The reference stays as written, the text after it is kept, the file is never read.
    assert read.paragraphs == ("前&x;后",)
