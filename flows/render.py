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
    PROACTIVE_ROWS,
    REQUEST_COLUMNS,
    REQUEST_ROWS,
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
            "一、总体情况（主动公开信息条数）",
            ["渠道", "条数"],
            [[label, _format(v)] for label, v in channels.select("row_label", "value").iter_rows()],
        )
    ]
    proactive_rows = []
    for row, label, group, columns in PROACTIVE_ROWS:
        decimals = fee_decimals if row == "fees" else 0
        for column, column_label in columns:
            proactive_rows.append(
                [group, label, column_label, _format(value["proactive", row, column], decimals)]
            )
    tables.append(
        ReportTable(
            "二、主动公开政府信息情况", ["条款", "信息内容", "项目", "数量"], proactive_rows
        )
    )
    tables.append(
        ReportTable(
            "三、收到和处理政府信息公开申请情况",
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
            "四、政府信息公开行政复议、行政诉讼情况",
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


def to_markdown(title: str, period: str, tables: list[ReportTable]) -> str:
    lines = [f"# {title}", "", f"统计时段：{period}", ""]
    for table in tables:
        lines += [f"## {table.title}", "", "| " + " | ".join(table.header) + " |"]
        lines.append("|" + "---|" * len(table.header))
        lines += ["| " + " | ".join(r) + " |" for r in table.rows]
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
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        sheet = book.add_worksheet("年度报告")
        bold = book.add_format({"bold": True})
        sheet.write(0, 0, title, bold)
        sheet.write(1, 0, f"统计时段：{period}")
        line = 3
        for table in tables:
            sheet.write(line, 0, table.title, bold)
            sheet.write_row(line + 1, 0, table.header, bold)
            for i, row in enumerate(table.rows):
                numbers = [float(c) if _is_number(c) else c for c in row]
                sheet.write_row(line + 2 + i, 0, numbers)
            line += len(table.rows) + 3
        sheet.set_column(0, 0, 60)
    return buffer.getvalue()


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return bool(text)
