"""report.html: the document model as a page with real spans, escaped text, and its reader.

Documents are built by hand here (the statutory builders are tested elsewhere): the writer must
render any Document, and the reader must read any page in the same layout, its own or hand-made.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from flows.outputs.formats.html import MAX_SPAN, ReportReadError, read_html, to_html
from transforms.document import Document, Heading, Paragraph, Table, TableCell

HOSTILE = "<script>alert('x')</script>\"&amp;'<img src=x onerror=alert(1)>"
PLACEHOLDER = "（待填写：本年度存在的主要问题及改进情况。）"


def requests_table() -> Table:
    """Table 三's header and a few of its rows, spans as the statutory format prints them."""
    cells = [
        TableCell(0, 0, "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）",
                  rowspan=3, colspan=3, header=True),
        TableCell(0, 3, "申请人情况", colspan=7, header=True),
        TableCell(1, 3, "自然人", rowspan=2, header=True),
        TableCell(1, 4, "法人或其他组织", colspan=5, header=True),
        TableCell(1, 9, "总计", rowspan=2, header=True),
        *(TableCell(2, 4 + i, label, header=True)
          for i, label in enumerate(["商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"])),
        TableCell(3, 0, "一、本年新收政府信息公开申请数量", colspan=3),
        TableCell(4, 0, "三、本年度办理结果", rowspan=3),
        TableCell(4, 1, "（一）予以公开", colspan=2),
        TableCell(5, 1, "（三）不予公开", rowspan=2),
        TableCell(5, 2, "1.属于国家秘密"),
        TableCell(6, 2, "2.其他法律行政法规禁止公开"),
        *(TableCell(r, c, str(100 * r + c), key=("requests", f"row{r}", f"col{c}"))
          for r in range(3, 7) for c in range(3, 10)),
    ]  # fmt: skip
    return Table("requests", 7, 10, tuple(cells), header_rows=3,
                 column_widths=(1, 1, 3, 1, 1, 1, 1, 1, 1, 1))  # fmt: skip


def appeals_table() -> Table:
    """Table 四: two bands over 5 and 10 columns, the 15 numbers in one row."""
    results = ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"]
    cells = [
        TableCell(0, 0, "行政复议", colspan=5, header=True),
        TableCell(0, 5, "行政诉讼", colspan=10, header=True),
        *(TableCell(1, i, label, rowspan=2, header=True) for i, label in enumerate(results)),
        TableCell(1, 5, "未经复议直接起诉", colspan=5, header=True),
        TableCell(1, 10, "复议后起诉", colspan=5, header=True),
        *(TableCell(2, 5 + i, results[i % 5], header=True) for i in range(10)),
        *(TableCell(3, i, str(i * 7), key=("appeals", "row", f"col{i}")) for i in range(15)),
    ]
    return Table("appeals", 4, 15, tuple(cells), header_rows=3)


def sample_document() -> Document:
    return Document(
        agency_name="重庆市綦江区城市管理局",
        year=2024,
        title=("重庆市綦江区城市管理局", "2024年政府信息公开工作年度报告"),
        blocks=(
            Paragraph("本报告根据《中华人民共和国政府信息公开条例》编制，统计期限为2024年1月1日至12月31日。"),
            Heading("一、总体情况", 1),
            Heading("（一）主动公开", 2),
            Paragraph("2024年，本机关主动公开政府信息12345条，较上年增加5条。"),
            Heading("三、收到和处理政府信息公开申请情况", 1),
            requests_table(),
            Heading("四、政府信息公开行政复议、行政诉讼情况", 1),
            appeals_table(),
            Heading("五、存在的主要问题及改进情况", 1),
            Paragraph(PLACEHOLDER, placeholder=True),
        ),
        placeholders=("五、存在的主要问题及改进情况",),
    )  # fmt: skip


def expected_grid(table: Table) -> tuple[tuple[str, ...], ...]:
    grid = [[""] * table.n_cols for _ in range(table.n_rows)]
    for cell in table.cells:
        grid[cell.row][cell.col] = cell.text
    return tuple(tuple(row) for row in grid)


class _Elements(HTMLParser):
    """Every element of a page with its attributes and own text, and the open groups."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self._stack: list[dict] = []
        self._groups: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": "", "group": "".join(self._groups)}
        self.elements.append(element)
        if tag in ("thead", "tbody"):
            self._groups.append(tag)
        if tag not in ("br", "meta", "col"):
            self._stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("thead", "tbody"):
            self._groups.pop()
        if self._stack and self._stack[-1]["tag"] == tag:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack:
            self._stack[-1]["text"] += data

    def by_text(self, text: str) -> dict:
        (element,) = [e for e in self.elements if e["text"] == text]
        return element


def test_spans_are_rowspan_and_colspan_on_the_cells_that_span() -> None:
    page = _Elements(to_html(sample_document()))
    note = page.by_text("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）")
    assert (note["tag"], note["attrs"]["rowspan"], note["attrs"]["colspan"]) == ("th", "3", "3")
    assert page.by_text("申请人情况")["attrs"]["colspan"] == "7"
    assert page.by_text("自然人")["attrs"]["rowspan"] == "2"
    assert page.by_text("法人或其他组织")["attrs"]["colspan"] == "5"
    assert page.by_text("三、本年度办理结果")["attrs"]["rowspan"] == "3"
    assert page.by_text("（一）予以公开")["attrs"]["colspan"] == "2"
    assert page.by_text("（三）不予公开")["attrs"]["rowspan"] == "2"
    assert page.by_text("行政诉讼")["attrs"]["colspan"] == "10"
    assert page.by_text("复议后起诉")["attrs"]["colspan"] == "5"
    # A value cell is a right-aligned td with its key, and spans nothing.
    value = page.by_text("305")
    assert value["tag"] == "td" and value["attrs"]["class"] == "num"
    assert value["attrs"]["data-key"] == '["requests", "row3", "col5"]'
    assert "rowspan" not in value["attrs"] and "colspan" not in value["attrs"]
    # Labels are th; the header rows are a thead, so print repeats them on every page.
    assert page.by_text("1.属于国家秘密")["tag"] == "th"
    assert page.by_text("申请人情况")["group"] == "thead"
    assert page.by_text("一、本年新收政府信息公开申请数量")["group"] == "tbody"
    heads = [e for e in page.elements if e["tag"] == "tr" and e["group"] == "thead"]
    assert len(heads) == 3 + 3  # three header rows in each of the two tables


def test_headings_are_h1_and_h2_and_the_page_is_chinese() -> None:
    markup = to_html(sample_document())
    page = _Elements(markup)
    assert page.by_text("一、总体情况")["tag"] == "h1"
    assert page.by_text("（一）主动公开")["tag"] == "h2"
    assert '<html lang="zh-CN">' in markup
    assert "size: A4" in markup and "break-inside: avoid" in markup


def test_hostile_text_is_escaped_in_title_heading_paragraph_and_cell() -> None:
    table = Table(
        section=f'x" onmouseover="{HOSTILE}',
        n_rows=2,
        n_cols=2,
        cells=(
            TableCell(0, 0, HOSTILE, colspan=2, header=True),
            TableCell(1, 0, HOSTILE),
            TableCell(1, 1, HOSTILE, key=(HOSTILE, '"', "&")),
        ),
        header_rows=1,
    )
    doc = Document(
        agency_name=HOSTILE,
        year=2024,
        title=(HOSTILE, "2024年政府信息公开工作年度报告"),
        blocks=(
            Heading(HOSTILE, 1),
            Paragraph(HOSTILE),
            Paragraph(HOSTILE, placeholder=True),
            table,
        ),
    )
    markup = to_html(doc)
    page = _Elements(markup)
    assert not any(e["tag"] in ("script", "img") for e in page.elements)
    assert not any(k.startswith("on") for e in page.elements for k in e["attrs"])
    assert "<script" not in markup.lower()
    # Attributes come back exactly, so their quoting held.
    (table_element,) = [e for e in page.elements if e["tag"] == "table"]
    assert table_element["attrs"]["data-section"] == table.section
    (value,) = [e for e in page.elements if e["attrs"].get("class") == "num"]
    assert value["attrs"]["data-key"] == '["' + HOSTILE.replace('"', '\\"') + '", "\\"", "&"]'
    # … and every string reads back as the text it was.
    read = read_html(markup, "report.html")
    assert read.title == (HOSTILE, "2024年政府信息公开工作年度报告")
    assert read.paragraphs == (HOSTILE, HOSTILE, HOSTILE)
    assert read.tables == (((HOSTILE, ""), (HOSTILE, HOSTILE)),)


def test_placeholder_paragraph_is_visibly_marked_and_keeps_its_text() -> None:
    markup = to_html(sample_document())
    page = _Elements(markup)
    placeholder = page.by_text(PLACEHOLDER)
    assert placeholder["tag"] == "p" and placeholder["attrs"]["class"] == "placeholder"
    # Yellow, framed and labelled, in print too.
    rule = re.search(r"p\.placeholder \{([^}]*)\}", markup).group(1)
    assert (
        "background: #fff3b0" in rule and "border:" in rule and "print-color-adjust: exact" in rule
    )
    assert re.search(r'p\.placeholder::before \{ content: "【待补充】"', markup)
    ordinary = page.by_text("2024年，本机关主动公开政府信息12345条，较上年增加5条。")
    assert "class" not in ordinary["attrs"]


def test_page_loads_nothing_and_runs_nothing() -> None:
    markup = to_html(sample_document())
    page = _Elements(markup)
    assert not re.search(r"\b(src|href|srcset|action)\s*=", markup)
    assert not re.search(r"url\(|@import|https?:|//", markup)
    assert not any(e["tag"] in ("script", "link", "img", "iframe", "object") for e in page.elements)
    (csp,) = [e for e in page.elements if e["attrs"].get("http-equiv") == "Content-Security-Policy"]
    assert csp["attrs"]["content"].startswith("default-src 'none'")


def test_read_html_of_to_html_gives_back_title_paragraphs_and_grids() -> None:
    doc = sample_document()
    read = read_html(to_html(doc).encode(), "report.html")
    assert read.source == "report.html"
    assert read.title == doc.title
    assert read.paragraphs == tuple(
        b.text for b in doc.blocks if isinstance(b, (Heading, Paragraph))
    )
    assert read.tables == (expected_grid(requests_table()), expected_grid(appeals_table()))
    assert read.tables[1][3] == tuple(str(i * 7) for i in range(15))


def test_positions_no_cell_covers_stay_in_place_and_overlaps_are_refused() -> None:
    holes = Table("t", 2, 3, (TableCell(0, 0, "甲", colspan=3), TableCell(1, 2, "乙")))
    read = read_html(to_html(Document("机关", 2024, ("机关",), (holes,))), "r.html")
    assert read.tables == ((("甲", "", ""), ("", "", "乙")),)
    overlap = Table("t", 2, 2, (TableCell(0, 0, "甲", rowspan=2), TableCell(1, 0, "乙")))
    with pytest.raises(ValueError, match=r"cells at \(1, 0\) and \(0, 0\) overlap"):
        to_html(Document("机关", 2024, ("机关",), (overlap,)))
    outside = Table("t", 1, 2, (TableCell(0, 1, "甲", colspan=2),))
    with pytest.raises(ValueError, match="outside its 1×2 grid"):
        to_html(Document("机关", 2024, ("机关",), (outside,)))


HAND_MADE = """<!doctype html>
<HTML><head><title>綦江区城市管理局</title><meta charset="utf-8">
<style>td { color: red }</style><script>document.write("<p>不是正文</p>")</script></head>
<BODY>
<p style="text-align:center">重庆市綦江区城市管理局<br>2024年政府信息公开工作年度报告
<h1>　　四、政府信息公开行政复议、行政诉讼情况</h1>
<!-- <table><tr><td>注释里的表</td></tr></table> -->
<table border=1>
  <tr>
    <th colspan=5>行政复议</th>
    <th COLSPAN="10">行政
        诉讼</th>
  </tr>
  <tr>
    <th rowspan="2">结果<br>维持</th><th rowspan=2>结果<br/>纠正</th>
    <th rowspan=2> 其他
    结果 </th><th rowspan=2>尚未审结<th rowspan=2>总计
    <th colspan=5>未经复议<br>
      直接起诉</th><th colspan="5px">复议后起诉
  <tr>
    <td>结果维持<td>结果纠正<td>其他结果<td>尚未审结<td>总计
    <td>结果维持<td>结果纠正<td>其他结果<td>尚未审结<td>总计
  <tr><td>0<td>1<td>2<td>3<td>&nbsp;4&nbsp;<td>5<td>6<td>7<td>8<td>9
      <td>10<td>11<td>12<td>13<td>14
</table>
<p>五、存在的主要问题及改进情况</p>
<div>本年度 无。</div>
</BODY></HTML>
"""


def test_hand_made_page_reads_into_the_statutory_grid() -> None:
    read = read_html(HAND_MADE, "hand.html")
    results = ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")
    assert read.tables == (
        (
            ("行政复议", "", "", "", "", "行政诉讼", *[""] * 9),
            (*results, "未经复议直接起诉", "", "", "", "", "复议后起诉", "", "", "", ""),
            ("", "", "", "", "", *results, *results),
            tuple(str(i) for i in range(15)),
        ),
    )
    assert read.title == ()
    assert read.paragraphs == (
        # A line break between Chinese characters vanishes; before a digit it reads as a space.
        "重庆市綦江区城市管理局 2024年政府信息公开工作年度报告",
        "四、政府信息公开行政复议、行政诉讼情况",
        "五、存在的主要问题及改进情况",
        "本年度 无。",
    )


def test_hostile_spans_are_clamped_like_a_browser_does() -> None:
    page = (
        "<table><tr><td rowspan=999999999 colspan=99999>甲</td><td>乙</td></tr>"
        "<tr><td rowspan=0>丙</td></tr><tr></tr></table>"
    )
    (grid,) = read_html(page, "x.html").tables
    # colspan stops at 1000; rowspan at the table's last row (0 means "to the last row").
    assert len(grid) == 3 and len(grid[0]) == MAX_SPAN + 1
    assert (grid[0][0], grid[0][MAX_SPAN], grid[1][MAX_SPAN], grid[2][MAX_SPAN]) == (
        "甲",
        "乙",
        "丙",
        "",
    )
    assert all(text == "" for row in grid for text in row[1:MAX_SPAN])


def test_a_table_too_large_to_be_a_report_is_refused_not_built() -> None:
    rows = "".join("<tr>" + "<td colspan=1000>x</td>" * 20 + "</tr>" for _ in range(10))
    with pytest.raises(ReportReadError, match=r"^huge\.html: 第1个表格超过100000个单元格位置"):
        read_html(f"<table>{rows}</table>", "huge.html")


def test_nested_tables_and_scripts_do_not_leak_into_cells() -> None:
    page = (
        "<table><tr><td>外<table><tr><td>内</td></tr></table>层</td>"
        "<td><script>var s = '<td>假</td>';</script>值<style>td{}</style></td></tr></table>"
    )
    read = read_html(page, "x.html")
    assert read.tables == ((("外层", "值"),), (("内",),))


def test_bytes_that_are_not_utf8_are_refused_with_the_file_name() -> None:
    with pytest.raises(ReportReadError, match=r"^gbk\.html: 不是UTF-8编码的HTML"):
        read_html("<p>总体情况</p>".encode("gb18030"), "gbk.html")
