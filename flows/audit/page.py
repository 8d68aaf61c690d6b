"""index.html of an audit: every report with its status and findings, on one offline page.

Self-contained (no external file, font or script; a Content-Security-Policy allows only the page's
own script, by its hash). Every string from a report (file names, agency names, what a cell
held) is escaped: a report's title is not the auditor's markup.
"""

from __future__ import annotations

from html import escape

import polars as pl

from flows.outputs.pages import page, sortable_script

_SCRIPT = sortable_script("reports")
_STYLE = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1.5em; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; text-align: left; }
th { background: #f2f2f2; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " ▲"; }
th[aria-sort=descending]::after { content: " ▼"; }
tr[data-status="有错误"] td.status, tr[data-status="无法读取"] td.status { color: #b00020; }
tr[data-status="有警告"] td.status { color: #8a6d00; }
tr[data-status="通过"] td.status { color: #1b5e20; }
ul { margin: 0; padding-left: 1.2em; }
.error { color: #b00020; } .warning { color: #8a6d00; }
"""
STATUSES = ("通过", "有警告", "有错误", "无法读取")


def _cell(text: str, key: str | None = None, css: str | None = None) -> str:
    attrs = f' data-key="{escape(text if key is None else key)}"'
    if css:
        attrs += f' class="{css}"'
    return f"<td{attrs}>{escape(text)}</td>"


def _findings_cell(findings: list[dict]) -> str:
    if not findings:
        return '<td data-key="">—</td>'
    items = "".join(
        f'<li class="{escape(f["level"])}"><b>{escape(f["rule"])}</b> {escape(f["message"])}</li>'
        for f in findings
    )
    rules = " ".join(sorted({f["rule"] for f in findings}))
    return f'<td data-key="{escape(rules)}"><ul>{items}</ul></td>'


def index_html(reports: pl.DataFrame, findings: pl.DataFrame) -> str:
    """The page: a summary line, a filter, and the reports table (sortable by every column)."""
    by_file: dict[str, list[dict]] = {}
    for finding in findings.iter_rows(named=True):
        by_file.setdefault(finding["source_file"], []).append(finding)
    rows = []
    for r in reports.sort("source_file").iter_rows(named=True):
        year = "" if r["year"] is None else str(r["year"])
        rows.append(
            f'<tr data-status="{escape(r["status"])}">'
            + _cell(r["source_file"])
            + _cell(r["agency_name"] or "—", r["agency_name"] or "")
            + _cell(year or "—", year or "0")
            + _cell(r["status"], str(STATUSES.index(r["status"])), "status")
            + _cell(str(r["errors"]))
            + _cell(str(r["warnings"]))
            + _findings_cell(by_file.get(r["source_file"], []))
            + "</tr>"
        )
    counts = {s: reports.filter(pl.col("status") == s).height for s in STATUSES}
    summary = "，".join(f"{s} {n} 份" for s, n in counts.items())
    options = "".join(f'<option value="{s}">{s}</option>' for s in STATUSES)
    body = f"""<h1>政府信息公开工作年度报告审核结果</h1>
<p id="summary">共 {reports.height} 份报告：{summary}。</p>
<p><label>筛选 <input id="filter" type="search" placeholder="文件、机关、规则…"></label>
<label>状态 <select id="status"><option value="">全部</option>{options}</select></label></p>
<table id="reports">
<thead><tr><th>文件</th><th>机关</th><th data-type="number">年度</th>
<th data-type="number">状态</th><th data-type="number">错误</th>
<th data-type="number">警告</th><th>发现的问题</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody>
</table>
"""
    return page("政府信息公开工作年度报告审核结果", _STYLE, body, _SCRIPT)
