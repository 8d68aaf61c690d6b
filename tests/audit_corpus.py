"""A corpus of published reports in every shape ``nianbao audit`` reads, each with its cells.

Built at test time in a temporary folder from the golden scenarios: each agency's compiled
cells become a Document (transforms/document.py), rendered by nianbao's own formats and
re-written by hand in the shapes real agency sites publish — a saved page with navigation
around the report, text copied one cell per line or tab/``|``-separated, a Word file made by
hand with merged cells — plus reports in the pre-2021 layout and one with the numbers of the
reference report (/work/shared/reference/qijiang-cgj-2024-report.txt), in its shape with
narrative of our own.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl

from flows.io.ingest import ingest_and_compile
from tests.helpers import GOLDEN, RUN_DATE, lay_landing, scenario_spec
from transforms.cells import VALUE_DTYPE
from transforms.document import (
    Document,
    Heading,
    Narrative,
    Paragraph,
    Table,
    cell_positions,
    final_report,
)

KEY = ["section", "row", "column"]


@dataclass(frozen=True)
class GoldenReport:
    """One agency's report of a golden scenario: its Document and the cells it shows."""

    scenario: str
    agency_name: str
    year: int
    document: Document
    cells: pl.DataFrame  # section, row, column, value
    compiled: pl.DataFrame  # the compiled cells, labels included
    fee_decimals: int


def golden_reports(name: str, folder: Path) -> list[GoldenReport]:
    """Every agency's report of the golden scenario ``name``, compiled without Prefect."""
    spec = scenario_spec(name)
    landing = lay_landing(GOLDEN / name, folder / "landing", spec.get("deliveries", {}))
    cells, _ = ingest_and_compile(landing, spec["year"], RUN_DATE)
    registry = pl.read_csv(landing / "agencies.csv", infer_schema=False)
    reports = []
    for agency_id, name_, decimals in registry.select(
        "agency_id", "机关名称", "收费小数位"
    ).iter_rows():
        mine = cells.filter(agency_id=agency_id)
        if mine.is_empty():
            continue
        year = spec["year"]
        decimals = int(decimals or 2)
        doc = final_report(agency_id, name_, year, mine, decimals)
        reports.append(
            GoldenReport(name, name_, year, doc, mine.select(*KEY, "value"), mine, decimals)
        )
    return reports


# ---------------------------------------------------------------------------------------------
# Shapes written by hand from a Document
# ---------------------------------------------------------------------------------------------


def _is_value(table: Table, row: int, col: int) -> bool:
    cell = cell_positions(table).get((row, col))
    return cell is not None and cell.key is not None


def physical_rows(table: Table, blank_zero: bool = False, covered: str | None = None):
    """Each row's cells as a page prints them: a merged cell once, at its first row; where a
    cell merged from a row above covers the row, ``covered`` if given (Word's text export
    prints an empty cell there), else nothing (a browser's copy)."""
    positions = cell_positions(table)
    rows = []
    for r in range(table.n_rows):
        cells = []
        for c in range(table.n_cols):
            cell = positions.get((r, c))
            if cell is None:
                cells.append("")
            elif cell.row == r and cell.col == c:
                text = cell.text
                if blank_zero and cell.key is not None and Decimal(text) == 0:
                    text = ""
                cells.append(text)
            elif cell.row < r and cell.col == c and covered is not None:
                cells.append(covered)
        rows.append(cells)
    return rows


# Labels the reference report's text breaks over lines, as Word wrapped them in narrow cells.
BROKEN_LABELS = {
    "商业企业": "商业\n企业",
    "科研机构": "科研\n机构",
    "结果纠正": "结果\n纠正",
    "其他结果": "其他\n结果",
    "尚未审结": "尚未\n审结",
}


def _blocks_as_lines(doc: Document, table_lines: Callable[[Table], list[str]]) -> list[str]:
    lines = ["", *doc.title, ""]
    for block in doc.blocks:
        if isinstance(block, Table):
            lines += table_lines(block)
        else:
            lines.append(block.text)
    return lines


def one_cell_per_line(doc: Document, padded_zeros: bool = False) -> str:
    """The report as text copied from Word one cell per line (the reference report's shape):
    each cell a tab-indented line, a blank line after each row, labels broken over lines."""

    def table_lines(table: Table) -> list[str]:
        lines = []
        for r, cells in enumerate(physical_rows(table, covered="")):
            for c, text in enumerate(cells):
                text = BROKEN_LABELS.get(text, text)
                if padded_zeros and text == "0" and (r + c) % 3 == 0:
                    text = "0 "  # as the reference prints some zeros of table 四
                lines.append("\t" + text)
            lines.append("")
        return [*lines, ""]

    return "\n".join(_blocks_as_lines(doc, table_lines)) + "\n"


def separated(doc: Document, separator: str, blank_zero: bool) -> str:
    """The report as text copied from a page: a table row per line, cells split by
    ``separator`` ("\\t" as a browser copies, " | " as a Markdown table)."""

    def table_lines(table: Table) -> list[str]:
        rows = physical_rows(table, blank_zero=blank_zero)
        if separator.strip() == "|":
            return ["", *("| " + separator.join(cells) + " |" for cells in rows), ""]
        return [separator.join(cells) for cells in rows]

    return "\n".join(_blocks_as_lines(doc, table_lines)) + "\n"


def site_page(doc: Document, in_layout_table: bool = False) -> str:
    """The report as a real agency site shows it: inside navigation, a header and a footer,
    the title in one line, tables with widths and ``<p><span>`` in cells, zeros as ``&nbsp;``;
    ``in_layout_table``: the article laid out inside a table cell, as older sites do."""
    body = []
    for block in doc.blocks:
        if isinstance(block, Table):
            body.append(_site_table(block))
        elif isinstance(block, Heading):
            body.append(
                f'<p style="text-indent:2em"><strong>{html.escape(block.text)}</strong></p>'
            )
        else:
            body.append(
                f'<p style="text-indent:2em;line-height:28px">'
                f'<span style="font-family:仿宋">{html.escape(block.text)}</span></p>'
            )
    title = html.escape("".join(doc.title))
    article_open, article_close = '<div class="content">', "</div>"
    if in_layout_table:
        article_open = '<table width="900" class="layout"><tr><td class="content">'
        article_close = "</td></tr></table>"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}_政府信息公开</title>
<script>var nav = "首页 1 2 3";</script><style>.nav td{{padding:4px}}</style></head>
<body>
<div class="top"><a href="/">首页</a> | <a href="/zwgk">政务公开</a> | 无障碍浏览 2024</div>
<table class="nav" width="100%"><tr><td><a href="/">首页</a></td><td>机构概况</td>
<td>政务公开</td><td>2023年报</td></tr></table>
<div class="crumb">当前位置：首页 &gt; 政务公开 &gt; 政府信息公开年报</div>
<div class="article">
<div class="title" style="text-align:center;font-size:22px">{title}</div>
<div class="info">发布时间：2025-01-20 来源：办公室 浏览次数：1024</div>
{article_open}
{chr(10).join(body)}
{article_close}</div>
<div class="footer"><p>主办单位：某某局 网站标识码 5001100001 渝ICP备05003300号</p>
<p>联系电话：023-12345678</p></div>
</body></html>
"""


def _site_table(table: Table) -> str:
    positions = cell_positions(table)
    rows = []
    for r in range(table.n_rows):
        cells = []
        for c in range(table.n_cols):
            cell = positions.get((r, c))
            if cell is None:
                cells.append('<td width="56">&nbsp;</td>')
                continue
            if (cell.row, cell.col) != (r, c):
                continue
            spans = ""
            if cell.rowspan > 1:
                spans += f' rowspan="{cell.rowspan}"'
            if cell.colspan > 1:
                spans += f' colspan="{cell.colspan}"'
            text = cell.text
            if cell.key is not None and Decimal(text) == 0:
                shown = "&nbsp;"
            else:
                shown = html.escape(BROKEN_LABELS.get(text, text)).replace("\n", "<br/>")
            cells.append(
                f'<td width="{56 * cell.colspan}" valign="center"{spans} style="border:1px solid">'
                f'<p style="text-align:center"><span style="font-size:14px">{shown}</span></p></td>'
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<table width="600" border="1" cellspacing="0" cellpadding="0" align="center">'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def handmade_docx(doc: Document) -> bytes:
    """The report typed into Word by hand (python-docx): merged cells, zeros left empty."""
    import io

    import docx

    word = docx.Document()
    for line in doc.title:
        word.add_paragraph(line)
    for block in doc.blocks:
        if isinstance(block, Table):
            grid = word.add_table(rows=block.n_rows, cols=block.n_cols)
            for cell in block.cells:
                target = grid.cell(cell.row, cell.col)
                if cell.rowspan > 1 or cell.colspan > 1:
                    target = target.merge(
                        grid.cell(cell.row + cell.rowspan - 1, cell.col + cell.colspan - 1)
                    )
                blank = cell.key is not None and Decimal(cell.text) == 0
                target.text = "" if blank else cell.text
        else:
            word.add_paragraph(block.text)
    buffer = io.BytesIO()
    word.save(buffer)
    return buffer.getvalue()


def write_shapes(report: GoldenReport, folder: Path) -> dict[str, Path]:
    """Every shape of ``report`` written into ``folder``: shape name → file."""
    from flows.outputs.formats.docx import to_docx
    from flows.outputs.formats.html import to_html
    from flows.outputs.formats.markdown import to_markdown
    from flows.outputs.formats.pdf import to_pdf
    from flows.outputs.formats.xlsx import to_xlsx

    doc = report.document
    markdown = to_markdown(doc)
    folder.mkdir(parents=True, exist_ok=True)
    contents: dict[str, tuple[str, bytes]] = {
        "nianbao-html": ("report.html", to_html(doc).encode()),
        "nianbao-docx": ("report.docx", to_docx(doc)),
        "nianbao-xlsx": ("report.xlsx", to_xlsx(doc)),
        "nianbao-pdf": ("report.pdf", to_pdf(doc)),
        "nianbao-md": ("report.md", markdown.encode()),
        "site-page": ("site.html", site_page(doc).encode()),
        "site-page-gbk": ("site-gbk.htm", site_page(doc).encode("gb18030")),
        "site-page-in-layout-table": ("site-old.shtml", site_page(doc, True).encode()),
        "one-cell-per-line": ("cells.txt", one_cell_per_line(doc).encode()),
        # Copied from a browser without the cells' tabs: every value must be printed.
        "plain-lines": ("lines.text", one_cell_per_line(doc).replace("\t", "").encode()),
        "tab-separated": ("tabs.txt", separated(doc, "\t", blank_zero=True).encode()),
        "pipe-separated": ("pipes.md", separated(doc, " | ", blank_zero=False).encode()),
        "handmade-docx": ("handmade.docx", handmade_docx(doc)),
    }
    paths = {}
    for shape, (name, data) in contents.items():
        path = folder / name
        path.write_bytes(data)
        paths[shape] = path
    return paths


# ---------------------------------------------------------------------------------------------
# The reference report's numbers, in its shape, with narrative of our own
# ---------------------------------------------------------------------------------------------

REFERENCE_AGENCY = "重庆市綦江区城市管理局"
# Every non-zero cell of the reference report (every other cell is 0).
REFERENCE_VALUES = {
    ("channels", "website", "items"): "152",
    ("channels", "wechat:綦江城管", "items"): "60",
    ("channels", "wechat:綦江城管执法", "items"): "22",
    ("channels", "total", "items"): "234",
    ("proactive", "licensing", "decisions"): "1322",
    ("proactive", "penalty", "decisions"): "532",
    ("proactive", "fees", "amount_10k_yuan"): "727.08",
    ("requests", "new_received", "natural_person"): "1",
    ("requests", "new_received", "total"): "1",
    ("requests", "disclosed", "natural_person"): "1",
    ("requests", "disclosed", "total"): "1",
    ("requests", "outcome_total", "natural_person"): "1",
    ("requests", "outcome_total", "total"): "1",
}


def with_values(cells: pl.DataFrame, values: dict[tuple[str, str, str], str]) -> pl.DataFrame:
    """``cells`` with every value 0 but those in ``values``."""
    patch = pl.DataFrame(
        [(*key, value) for key, value in values.items()],
        schema=[*KEY, "new"],
        orient="row",
    ).with_columns(pl.col("new").cast(VALUE_DTYPE))
    return (
        cells.join(patch, on=KEY, how="left", maintain_order="left")
        .with_columns(value=pl.coalesce("new", pl.lit(0, VALUE_DTYPE)))
        .drop("new")
    )


_OWN_NARRATIVE = Narrative(
    source="narrative/2024.md",
    intro=(
        "2024年，本局按照区政府办公室的统一安排，把政务公开作为转变作风、服务群众的日常工作来抓，"
        "公开内容更加及时，办理申请更加规范。",
    ),
    subsections={
        "management": ("本局实行信息发布登记制度，每条信息由科室起草、分管领导审签后发布。",),
        "platform": ("本局通过门户网站专栏和两个微信公众号发布信息，栏目设置按年度清理一次。",),
        "oversight": ("本局将政务公开纳入科室年度考核，全年开展内部检查两次。",),
    },
    problems=(Paragraph("部分栏目更新不够及时。下一步将明确专人，按月检查栏目更新情况。"),),
    other_matters=(Paragraph("本年度未收取信息处理费。无其他需要报告的事项。"),),
    electronic_version="区政府门户网站本局专栏",
    contact="本局办公室（电话023-00000000）",
)


def reference_document(template_cells: pl.DataFrame) -> tuple[Document, pl.DataFrame]:
    """A report with the reference report's numbers and our own narrative, and its cells.

    ``template_cells``: compiled cells of an agency with the reference's three channels (the
    golden scenario wechat_two_accounts_reproduce_reference_channels), whose values are
    replaced by the reference's.
    """
    cells = with_values(template_cells, REFERENCE_VALUES)
    doc = final_report("", REFERENCE_AGENCY, 2024, cells, narrative=_OWN_NARRATIVE)
    return doc, cells.select(*KEY, "value")


def reference_shaped_text(doc: Document) -> str:
    """The report as the reference text is laid out: one cell per line, labels broken over
    lines, the wordings it prints (其他法律和行政法规, 不再受理), zeros with a trailing blank."""
    text = one_cell_per_line(doc, padded_zeros=True)
    return (
        text.replace("2.其他法律行政法规禁止公开", "2.其他法律和行政法规禁止公开")
        .replace("行政机关不再处理", "行政机关不再受理")
        .replace(
            "五、存在的主要问题及改进情况\n", "五、存在的主要问题及改进情况\n[bookmark: _GoBack]"
        )
    )


# ---------------------------------------------------------------------------------------------
# The layout of 2019–2020 (国办公开办函〔2019〕60号)
# ---------------------------------------------------------------------------------------------

PRE_2021_TEXT = """某县交通局2020年政府信息公开工作年度报告
本报告中所列数据的统计期限为2020年1月1日至2020年12月31日。
一、总体情况
2020年，本局主动公开政府信息88条。
二、主动公开政府信息情况
\t第二十条第（一）项

\t信息内容
\t本年新制作数量
\t本年新公开数量
\t对外公开总数量

\t规章
\t0
\t0
\t0

\t规范性文件
\t2
\t2
\t9

\t第二十条第（九）项

\t信息内容
\t采购项目数量
\t采购总金额

\t政府集中采购
\t3
\t41.5

三、收到和处理政府信息公开申请情况
\t三、本年度办理结果
\t（六）其他处理
\t0
\t0
\t0
\t0
\t0
\t0
\t0

\t（七）总计
\t0
\t0
\t0
\t0
\t0
\t0
\t0
"""

PRE_2021_PAGE = """<html><body><div>首页 &gt; 年报</div>
<h2>某县交通局2020年政府信息公开工作年度报告</h2>
<p>二、主动公开政府信息情况</p>
<table border="1"><tr><td colspan="4">第二十条第（一）项</td></tr>
<tr><td>信息内容</td><td>本年新制作数量</td><td>本年新公开数量</td><td>对外公开总数量</td></tr>
<tr><td>规章</td><td>0</td><td>0</td><td>0</td></tr>
<tr><td>规范性文件</td><td>2</td><td>2</td><td>9</td></tr>
<tr><td colspan="4">第二十条第（九）项</td></tr>
<tr><td>信息内容</td><td>采购项目数量</td><td colspan="2">采购总金额</td></tr>
<tr><td>政府集中采购</td><td>3</td><td colspan="2">41.5</td></tr></table>
<p>三、收到和处理政府信息公开申请情况</p>
<table border="1"><tr><td rowspan="2">三、本年度办理结果</td><td>（六）其他处理</td>
<td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td></tr>
<tr><td>（七）总计</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td></tr>
</table></body></html>
"""
