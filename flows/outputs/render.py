"""The rendered report: the statutory tables with Chinese labels, as Markdown, HTML, XLSX or terminal."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
import xlsxwriter

from transforms.cells import (
    APPEALS_COLUMNS,
    APPEALS_ROWS,
    CHANNEL_COLUMN,
    PROACTIVE_ROWS,
    REQUEST_COLUMNS,
    REQUEST_ROWS,
    SECTION_TITLES,
    Unit,
    unit,
)

_OUTCOME_PREFIX = "三、本年度办理结果 "


@dataclass(frozen=True)
class ReportTable:
    title: str
    header: list[str]
    rows: list[list[str]]


def _format(value: Decimal, decimals: int = 0) -> str:
    return f"{value:.{decimals}f}"


def report_tables(cells: pl.DataFrame, fee_decimals: int) -> list[ReportTable]:
    """The four statutory tables of one agency's report, from its cells."""
    value = {
        (s, r, c): v for s, r, c, v in cells.select("section", "row", "column", "value").iter_rows()
    }
    channels = cells.filter(section="channels")
    tables = [
        ReportTable(
            SECTION_TITLES["channels"],
            ["渠道", CHANNEL_COLUMN[1]],
            [[label, _format(v)] for label, v in channels.select("row_label", "value").iter_rows()],
        )
    ]
    proactive_rows = []
    for row, label, group, columns in PROACTIVE_ROWS:
        decimals = fee_decimals if unit("proactive", row) is Unit.TEN_THOUSAND_YUAN else 0
        for column, column_label in columns:
            proactive_rows.append(
                [group, label, column_label, _format(value["proactive", row, column], decimals)]
            )
    tables.append(
        ReportTable(
            SECTION_TITLES["proactive"], ["条款", "信息内容", "项目", "数量"], proactive_rows
        )
    )
    tables.append(
        ReportTable(
            SECTION_TITLES["requests"],
            ["", *(label for _, label in REQUEST_COLUMNS)],
            [
                [
                    label.removeprefix(_OUTCOME_PREFIX),
                    *(_format(value["requests", row, c]) for c, _ in REQUEST_COLUMNS),
                ]
                for row, label in REQUEST_ROWS
            ],
        )
    )
    tables.append(
        ReportTable(
            SECTION_TITLES["appeals"],
            ["", *(label for _, label in APPEALS_COLUMNS)],
            [
                [label, *(_format(value["appeals", row, c]) for c, _ in APPEALS_COLUMNS)]
                for row, label in APPEALS_ROWS
            ],
        )
    )
    return tables


def report_title(agency_name: str, year: int, status: str) -> str:
    suffix = "" if status == "final" else "（截至统计日的临时数据）"
    return f"{agency_name}{year}年政府信息公开工作年度报告{suffix}"


# Backslash-escaped wherever they stand: each can open markup (emphasis, code, a link, a table
# cell, a heading's closing #, strikethrough). "<", ">" and "&" become entities instead, so raw
# HTML and entity references are shown as typed, not interpreted, by every Markdown renderer.
_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|#~"})
_HTML_SPECIAL = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape_markdown(text: str) -> str:
    r"""Text (a registry name, a cell, a rule's values) shown as typed inside Markdown.

    >>> escape_markdown("<b>a|b</b> [x](y)")
    '&lt;b&gt;a\\|b&lt;/b&gt; \\[x\\](y)'
    """
    # A line break would end the heading or table row the text sits in.
    flat = " ".join(text.splitlines())
    return flat.translate(_HTML_SPECIAL).translate(_MARKDOWN_SPECIAL)


def to_markdown(title: str, period: str, tables: list[ReportTable]) -> str:
    lines = [f"# {escape_markdown(title)}", "", f"统计时段：{escape_markdown(period)}", ""]
    for table in tables:
        header = [escape_markdown(h) for h in table.header]
        lines += [f"## {escape_markdown(table.title)}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(table.header))
        lines += ["| " + " | ".join(escape_markdown(c) for c in r) + " |" for r in table.rows]
        lines.append("")
    return "\n".join(lines)


def to_html(title: str, period: str, tables: list[ReportTable]) -> str:
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:2em}td,th{border:1px solid #999;padding:4px 8px}"
        "td.n{text-align:right}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>统计时段：{html.escape(period)}</p>",
    ]
    for table in tables:
        parts.append(f"<h2>{html.escape(table.title)}</h2><table><tr>")
        parts += [f"<th>{html.escape(h)}</th>" for h in table.header]
        parts.append("</tr>")
        for row in table.rows:
            cells = [
                f"<td class='n'>{html.escape(c)}</td>"
                if _is_number(c)
                else f"<td>{html.escape(c)}</td>"
                for c in row
            ]
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def to_xlsx(title: str, period: str, tables: list[ReportTable]) -> bytes:
    buffer = io.BytesIO()
    # Registry names are text: never a formula (=HYPERLINK…), a link (http:, external:) or a number.
    options = {
        "in_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    }
    with xlsxwriter.Workbook(buffer, options) as book:
        sheet = book.add_worksheet("年度报告")
        bold = book.add_format({"bold": True})
        sheet.write_string(0, 0, title, bold)
        sheet.write_string(1, 0, f"统计时段：{period}")
        line = 3
        for table in tables:
            sheet.write_string(line, 0, table.title, bold)
            for j, header in enumerate(table.header):
                sheet.write_string(line + 1, j, header, bold)
            for i, row in enumerate(table.rows):
                for j, cell in enumerate(row):
                    if _is_number(cell):
                        sheet.write_number(line + 2 + i, j, float(cell))
                    else:
                        sheet.write_string(line + 2 + i, j, cell)
            line += len(table.rows) + 3
        sheet.set_column(0, 0, 60)
    return buffer.getvalue()


def _is_number(text: str) -> bool:
    try:
        number = Decimal(text)
    except ArithmeticError:
        return False
    return number.is_finite()  # "NaN" or "Infinity" in a label is text
