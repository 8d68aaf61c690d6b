"""The browsable index of the published dataset: ``<out>/index.html`` and a page per agency.

Static and self-contained: inline CSS and SVG charts, no file, font or script from elsewhere; a
Content-Security-Policy admits only the index's own sorting script, by its hash. Every string
from the registry or a report (agency names, WeChat account names, run ids) is escaped: an
agency's name is not the data team's markup.

The pages are built from frames by pure functions (``index_rows``, ``index_html``,
``agency_html``); ``build_site`` does the reading and writing, once per publish. It reads the
published cells of every agency in one Polars scan, so it stays quick for thousands of agencies,
and rewrites the pages of the agencies a run published (and of every roll-up) only.
"""

from __future__ import annotations

import glob
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path
from urllib.parse import quote

import polars as pl

from flows.clock import shown_iso
from flows.io.store import LocalStore, Store, parquet_bytes, read_parquet_bytes
from flows.outputs.layout import (
    PROBLEMS_FILE,
    REPORTED_CELLS,
    ROLLUP_CELLS,
    SITE_INDEX_KEY,
    SITE_NAMES_KEY,
    SITE_PREFIX,
    agency_page_key,
    report_key,
    rollup_report_key,
)
from flows.outputs.pages import page, sortable_script
from flows.outputs.publish import known_revisions
from transforms.cells import CHANNEL_COLUMN, HEADLINE_CELLS, OUTCOME_GROUPS, OUTCOME_ROWS

STATUSES = {"final": "正式", "provisional": "临时", "reported": "已报送", "refused": "未通过"}
KINDS = {"report": "报告", "rollup": "汇总"}
FORMATS = {
    "report.html": "HTML",
    "report.docx": "Word",
    "report.pdf": "PDF",
    "report.xlsx": "Excel",
    "report.md": "Markdown",
    PROBLEMS_FILE: "数据问题清单",
}
ROW_SCHEMA = pl.Schema(
    {
        "agency_id": pl.String,
        "name": pl.String,
        "year": pl.Int32,
        "kind": pl.String,  # report | rollup
        "status": pl.String,  # final | provisional | reported | refused
        "as_of": pl.String,
        "run_id": pl.String,  # the latest run that compiled it (passed or refused)
        "warnings": pl.Int64,
        "errors": pl.Int64,
        "members": pl.Int64,  # roll-ups: how many agencies it covers
        "missing": pl.Int64,  # roll-ups: members with no current report
    }
)
META_SCHEMA = pl.Schema(
    {
        "agency_id": pl.String,
        "year": pl.Int32,
        "status": pl.String,
        "as_of": pl.String,
        "run_id": pl.String,
        "members": pl.Int64,
        "missing": pl.Int64,
    }
)
VALIDATION_SCHEMA = pl.Schema(
    {
        "agency_id": pl.String,
        "year": pl.Int32,
        "run_id": pl.String,
        "passed": pl.Boolean,
        "warnings": pl.Int64,
        "errors": pl.Int64,
    }
)
CHART_SCHEMA = pl.Schema(
    {
        "agency_id": pl.String,
        "year": pl.Int32,
        "kind": pl.String,
        "section": pl.String,
        "row": pl.String,
        "column": pl.String,
        "row_label": pl.String,
        "value": pl.Float64,  # for drawing only: the published value stays exact
    }
)
_OUTCOME_GROUP = {row: group for row, _, group in OUTCOME_ROWS}

_SCRIPT = sortable_script("agencies")
_STYLE = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1.5em; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
#agencies { width: 100%; }
#agencies th { cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " ▲"; }
th[aria-sort=descending]::after { content: " ▼"; }
td.num { text-align: right; }
.refused { color: #b00020; } .provisional { color: #8a6d00; }
.final { color: #1b5e20; } .reported { color: #1a4f8a; }
.rollup { background: #eef3fb; border-radius: 3px; padding: 0 4px; font-size: 12px; }
.links a { margin-right: 0.5em; white-space: nowrap; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
svg text { font-size: 11px; fill: #333; }
svg .bar { fill: #4a78b5; } svg .line { stroke: #4a78b5; fill: none; stroke-width: 2; }
svg .dot { fill: #4a78b5; } svg .axis { stroke: #999; }
"""


def _text(value: object) -> str:
    """Any value as escaped HTML text (attribute-safe too); None as a dash."""
    return "—" if value is None else escape(str(value), quote=True)


def _href(key: str, prefix: str) -> str:
    """A relative link to a published key, percent-encoded (数据问题清单.xlsx) and escaped."""
    return escape(prefix + quote(key, safe="/="), quote=True)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4f}".rstrip("0")


def _page(title: str, body: str, script: str | None = None) -> str:
    return page(title, _STYLE, body, script)


# --- frames ----------------------------------------------------------------------------------


def cells_meta(cells: pl.LazyFrame) -> pl.DataFrame:
    """One row per published agency-year: its status, as_of and run (and roll-up counts)."""
    names = cells.collect_schema().names()
    extra = []
    for column in ("members", "missing"):
        if column not in names:
            extra.append(pl.lit(None, pl.Int64).alias(column))
        elif isinstance(cells.collect_schema()[column], pl.List):
            extra.append(pl.col(column).list.len().cast(pl.Int64))  # the missing members' ids
        else:
            extra.append(pl.col(column).cast(pl.Int64))
    return (
        cells.with_columns(*extra)
        .group_by("agency_id", "year")
        .agg(pl.col("status", "as_of", "run_id", "members", "missing").first())
        .with_columns(pl.col("as_of").cast(pl.String), pl.col("year").cast(pl.Int32))
        .select(META_SCHEMA.names())
        .collect()
        .cast(dict(META_SCHEMA))
    )


def chart_cells(cells: pl.LazyFrame, kind: str) -> pl.LazyFrame:
    """The cells the charts draw: channel counts, request outcomes (总计 column), headlines."""
    headline = pl.lit(False)
    for (section, row, column), _ in HEADLINE_CELLS:
        headline = headline | (
            (pl.col("section") == section) & (pl.col("row") == row) & (pl.col("column") == column)
        )
    wanted = (
        ((pl.col("section") == "channels") & (pl.col("column") == CHANNEL_COLUMN[0]))
        | (
            (pl.col("section") == "requests")
            & (pl.col("column") == "total")
            & pl.col("row").is_in(list(_OUTCOME_GROUP))
        )
        | headline
    )
    return (
        cells.filter(wanted)
        .with_columns(kind=pl.lit(kind), value=pl.col("value").cast(pl.Float64))
        .with_columns(pl.col("year").cast(pl.Int32))
        .select(CHART_SCHEMA.names())
    )


def index_rows(
    reports: pl.DataFrame,
    validations: pl.DataFrame,
    names: pl.DataFrame,
    rollups: pl.DataFrame | None = None,
    reported: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every agency-year the dataset knows, as the index lists it (``ROW_SCHEMA``).

    ``reports``, ``rollups`` and ``reported`` are ``cells_meta`` frames; ``validations`` the
    latest validation result of each agency-year; ``names`` agency_id → name. A report whose
    latest result did not pass is ``refused`` (its previous version, if any, stays linked); an
    agency-year with only a ``reported`` report (``nianbao audit --import``) is listed as such.
    """
    compiled = reports.rename({"run_id": "cells_run"}).join(
        validations, on=["agency_id", "year"], how="full", coalesce=True
    )
    if reported is not None and not reported.is_empty():
        only_reported = reported.join(compiled, on=["agency_id", "year"], how="anti")
        compiled = pl.concat(
            [compiled, only_reported.rename({"run_id": "cells_run"})], how="diagonal_relaxed"
        )
    rows = compiled.with_columns(
        kind=pl.lit("report"),
        status=pl.when(pl.col("passed").not_()).then(pl.lit("refused")).otherwise("status"),
        run_id=pl.coalesce("run_id", "cells_run"),
    )
    if rollups is not None and not rollups.is_empty():
        rows = pl.concat(
            [rows, rollups.with_columns(kind=pl.lit("rollup"))], how="diagonal_relaxed"
        )
    return (
        rows.join(names.select("agency_id", "name"), on="agency_id", how="left")
        .with_columns(pl.coalesce("name", "agency_id").alias("name"))
        .select(ROW_SCHEMA.names())
        .cast(dict(ROW_SCHEMA))
        .sort("agency_id", "kind", pl.col("year"), descending=[False, False, True])
    )


# --- pages -----------------------------------------------------------------------------------


def _links(row: dict, files: set[str], prefix: str) -> str:
    """Links to every rendered file of the report's (or roll-up's) current version that is
    there."""
    key_of = rollup_report_key if row["kind"] == "rollup" else report_key
    keys = [(key_of(row["year"], row["agency_id"], name), label) for name, label in FORMATS.items()]
    links = [f'<a href="{_href(k, prefix)}">{label}</a>' for k, label in keys if k in files]
    return " ".join(links) or "—"


def _status(row: dict) -> str:
    status = row["status"] or ""
    label = STATUSES.get(status, status)
    return f'<td class="{_text(status)}" data-key="{_text(status)}">{_text(label)}</td>'


def _num_cell(value: int | None) -> str:
    return f'<td class="num" data-key="{value or 0}">{_text(value)}</td>'


def _kind_mark(row: dict) -> str:
    if row["kind"] != "rollup":
        return ""
    covers = f"（{row['members']} 个机关" if row["members"] is not None else "（"
    missing = f"，缺 {row['missing']} 个）" if row["missing"] else "）"
    return f' <span class="rollup">汇总</span>{_text(covers + missing) if covers != "（" else ""}'


def index_html(rows: pl.DataFrame, files: set[str], pages: set[str]) -> str:
    """The index: a summary, a filter, and every agency-year (sortable by each column).

    ``files`` are the published keys (a link is made only to a file that is there); ``pages``
    the agency page keys that exist.
    """
    body = []
    for row in rows.iter_rows(named=True):
        page = agency_page_key(row["agency_id"])
        name = _text(row["name"])
        if page in pages:
            name = f'<a href="{_href(page, "")}">{name}</a>'
        body.append(
            f'<tr data-status="{_text(row["status"])}" data-kind="{_text(row["kind"])}">'
            f'<td data-key="{_text(row["name"])}">{name}{_kind_mark(row)}</td>'
            f'<td data-key="{_text(row["agency_id"])}">{_text(row["agency_id"])}</td>'
            f'<td class="num" data-key="{row["year"]}">{row["year"]}</td>'
            + _status(row)
            + f'<td data-key="{_text(row["as_of"] or "")}">{_text(row["as_of"])}</td>'
            + f'<td data-key="{_text(row["run_id"] or "")}">{_text(row["run_id"])}</td>'
            + _num_cell(row["warnings"])
            + _num_cell(row["errors"])
            + f'<td class="links" data-key="">{_links(row, files, "")}</td></tr>'
        )
    counts = rows.group_by("status").len()
    by_status = dict(zip(counts["status"], counts["len"], strict=True))
    summary = "，".join(f"{label} {by_status.get(s, 0)}" for s, label in STATUSES.items())
    options = "".join(f'<option value="{s}">{label}</option>' for s, label in STATUSES.items())
    agencies = rows.filter(pl.col("kind") == "report")["agency_id"].n_unique()
    html = f"""<h1>政府信息公开工作年度报告</h1>
<p id="summary">{agencies} 个机关，{rows.height} 行（机关×年度，含汇总）：{summary}。</p>
<p><label>筛选 <input id="filter" type="search" placeholder="机关、编号、运行…"></label>
<label>状态 <select id="status"><option value="">全部</option>{options}</select></label></p>
<table id="agencies">
<thead><tr><th>机关</th><th>编号</th><th data-type="number">年度</th><th>状态</th>
<th>统计截至</th><th>最近运行</th><th data-type="number">警告</th><th data-type="number">错误</th>
<th>报告</th></tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
</table>"""
    return _page("政府信息公开工作年度报告", html, _SCRIPT)


def bar_chart(title: str, labels: list[str], values: list[float]) -> str:
    """Horizontal bars, one per label, each with its value; labels are escaped and cut."""
    width, label_width, bar_height = 420, 170, 18
    height = 24 + bar_height * max(len(labels), 1)
    top = max(values, default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_text(title)}"><title>{_text(title)}</title>'
        f'<text x="0" y="13" font-weight="bold">{_text(title)}</text>'
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 20 + i * bar_height
        short = label if len(label) <= 13 else label[:12] + "…"
        length = (width - label_width - 60) * (value / top)
        parts.append(
            f"<g><title>{_text(label)}: {_number(value)}</title>"
            f'<text x="0" y="{y + 13}">{_text(short)}</text>'
            f'<rect class="bar" x="{label_width}" y="{y + 2}" width="{length:.1f}" '
            f'height="{bar_height - 4}"/>'
            f'<text x="{label_width + length + 4:.1f}" y="{y + 13}">{_number(value)}</text></g>'
        )
    if not labels:
        parts.append('<text x="0" y="36">无数据</text>')
    return "".join(parts) + "</svg>"


def trend_chart(title: str, years: list[int], values: list[float]) -> str:
    """One headline cell across the published years: a line with each year's value."""
    width, height, left, right, top_pad, bottom = 260, 130, 22, 22, 30, 20
    top = max(values, default=0) or 1
    step = (width - left - right) / max(len(years) - 1, 1)
    points = [
        (
            left + i * step if len(years) > 1 else width / 2,
            height - bottom - (height - bottom - top_pad) * v / top,
        )
        for i, v in enumerate(values)
    ]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_text(title)}"><title>{_text(title)}</title>'
        f'<text x="0" y="13" font-weight="bold">{_text(title)}</text>'
        f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width - right}" '
        f'y2="{height - bottom}"/>'
    ]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline class="line" points="{path}"/>')
    for (x, y), year, value in zip(points, years, values, strict=True):
        parts.append(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{year}年: '
            f"{_number(value)}</title></circle>"
            f'<text x="{x:.1f}" y="{y - 6:.1f}" text-anchor="middle">{_number(value)}</text>'
            f'<text x="{x:.1f}" y="{height - 5}" text-anchor="middle">{year}</text>'
        )
    return "".join(parts) + "</svg>"


def _year_charts(cells: list[dict]) -> str:
    """The channel counts and request outcomes of one agency-year (its ``chart_cells`` rows:
    a few dozen, so plain Python is quicker here than a frame per chart)."""
    channels = [c for c in cells if c["section"] == "channels" and c["row"] != "total"]
    by_group = dict.fromkeys((group for group, _, _ in OUTCOME_GROUPS), 0.0)
    for c in cells:
        if c["section"] == "requests" and c["row"] in _OUTCOME_GROUP:
            by_group[_OUTCOME_GROUP[c["row"]]] += c["value"] or 0.0
    return (
        '<div class="charts">'
        + bar_chart(
            "主动公开渠道（条）",
            [c["row_label"] or c["row"] for c in channels],
            [c["value"] or 0.0 for c in channels],
        )
        + bar_chart(
            "申请办理结果（件）",
            [short for _, _, short in OUTCOME_GROUPS],
            list(by_group.values()),
        )
        + "</div>"
    )


def _trend_charts(cells: list[dict]) -> str:
    """Each headline cell across the years the agency (or its roll-up) was published."""
    charts = []
    for key, label in HEADLINE_CELLS:
        series = sorted(
            (c["year"], c["value"] or 0.0)
            for c in cells
            if (c["section"], c["row"], c["column"]) == key
        )
        if series:
            years, values = zip(*series, strict=True)
            charts.append(trend_chart(label, list(years), list(values)))
    return '<div class="charts">' + "".join(charts) + "</div>" if charts else "<p>无数据</p>"


def _revisions_html(versions: list[dict]) -> str:
    if not versions:
        return "<p>没有已发布的版本。</p>"
    items = []
    for v in versions:
        changed = v.get("changed") or []
        cells = "".join(
            f"<tr><td>{_text(c['section'])}</td><td>{_text(c['row'])}</td>"
            f"<td>{_text(c['column'])}</td><td>{_text(c['old'])}</td><td>{_text(c['new'])}</td></tr>"
            for c in changed
        )
        table = (
            "<table><tr><th>部分</th><th>行</th><th>列</th><th>原值</th><th>新值</th></tr>"
            f"{cells}</table>"
            if changed
            else ""
        )
        current = "（当前版本）" if v.get("current") else ""
        items.append(
            f"<li>{_text(shown_iso(v.get('published_at')))} 运行 {_text(v.get('run_id'))} "
            f"{_text(STATUSES.get(v.get('status'), v.get('status')))}{current}："
            f"{len(changed)} 个单元格有变化{table}</li>"
        )
    return "<ol>" + "".join(items) + "</ol>"


def agency_html(
    agency_id: str,
    name: str,
    rows: pl.DataFrame,
    cells: pl.DataFrame,
    versions: dict[tuple[int, str], list[dict]],
    files: set[str],
) -> str:
    """One agency's page (under ``site/``): each year's status, links, charts and revisions,
    its roll-up's when it has one, and the headline cells' trend across the years.

    ``rows`` are its ``index_rows``, ``cells`` its ``chart_cells`` (all years and kinds),
    ``versions`` the ``revisions`` of each (year, kind): its report's and its roll-up's.
    """
    drawn = cells.to_dicts()
    parts = [
        f'<p><a href="../{SITE_INDEX_KEY}">← 全部机关</a></p>',
        f"<h1>{_text(name)}</h1><p>编号 {_text(agency_id)}</p>",
    ]
    for kind, heading in (("report", "历年趋势"), ("rollup", "汇总历年趋势")):
        of_kind = [c for c in drawn if c["kind"] == kind]
        if kind == "report" or of_kind:
            parts.append(f"<h2>{heading}</h2>" + _trend_charts(of_kind))
    for row in rows.iter_rows(named=True):
        year, kind = row["year"], row["kind"]
        mark = ' <span class="rollup">汇总</span>' if kind == "rollup" else ""
        covers = ""
        if kind == "rollup" and row["members"] is not None:
            covers = f"<p>覆盖 {row['members']} 个机关，缺 {row['missing'] or 0} 个。</p>"
        parts.append(
            f"<h2>{year}年{mark}</h2>{covers}"
            f"<table><tr><th>状态</th><th>统计截至</th><th>最近运行</th><th>警告</th>"
            f"<th>错误</th><th>报告</th></tr><tr>"
            + _status(row)
            + f"<td>{_text(row['as_of'])}</td><td>{_text(row['run_id'])}</td>"
            + f'<td class="num">{_text(row["warnings"])}</td>'
            + f'<td class="num">{_text(row["errors"])}</td>'
            + f'<td class="links">{_links(row, files, "../")}</td></tr></table>'
        )
        of_year = [c for c in drawn if c["year"] == year and c["kind"] == kind]
        if of_year:
            parts.append(_year_charts(of_year))
        if (year, kind) in versions:
            parts.append("<h3>修订记录</h3>" + _revisions_html(versions[(year, kind)]))
    return _page(f"{name}（{agency_id}）", "\n".join(parts))


# --- reading and writing ---------------------------------------------------------------------

_HIVE = {"year": pl.Int32, "agency_id": pl.String}  # ids like 500101 stay text
_VALIDATION_KEY = re.compile(r"^validation/year=(\d+)/agency_id=([^/]+)/result\.json$")
_DATA_KEY = re.compile(r"year=(\d+)/agency_id=([^/]+)/data\.parquet$")


def scan_dataset(store: Store, prefix: str) -> pl.LazyFrame | None:
    """Every ``<prefix>year=Y/agency_id=ID/data.parquet`` as one lazy frame with ``year`` and
    ``agency_id`` columns, or None when there is none. A local folder is scanned by Polars in
    one go; another store (S3) is read file by file."""
    if isinstance(store, LocalStore):
        base = Path(store.root) / prefix
        if not base.is_dir() or next(base.glob("year=*/agency_id=*/data.parquet"), None) is None:
            return None
        return pl.scan_parquet(
            base / "year=*/agency_id=*/data.parquet", hive_partitioning=True, hive_schema=_HIVE
        )
    frames = []
    for key in store.keys(prefix):
        if found := _DATA_KEY.search(key):
            frames.append(
                read_parquet_bytes(store.read_bytes(key)).with_columns(
                    year=pl.lit(int(found[1]), pl.Int32), agency_id=pl.lit(found[2])
                )
            )
    return pl.concat(frames, how="diagonal_relaxed").lazy() if frames else None


def _partition_keys(store: Store, prefix: str) -> list[str]:
    """The keys of files inside ``<prefix>year=*/agency_id=*/``: locally by one glob (pathlib's
    recursive listing of 60,000 rendered files took seconds), elsewhere by listing the prefix."""
    if isinstance(store, LocalStore):
        root = str(store.root)
        found = glob.glob(glob.escape(os.path.join(root, prefix)) + "year=*/agency_id=*/*")
        return [path[len(root) + 1 :].replace(os.sep, "/") for path in found]
    return store.keys(prefix)


def read_validations(out: Store) -> pl.DataFrame:
    """The latest validation result of every agency-year: passed, warnings and errors."""
    rows = []
    for key in _partition_keys(out, "validation/"):
        if found := _VALIDATION_KEY.match(key):
            result = json.loads(out.read_bytes(key))
            levels = [v.get("severity") for v in result.get("violations", [])]
            rows.append(
                {
                    "agency_id": found[2],
                    "year": int(found[1]),
                    "run_id": result.get("run_id"),
                    "passed": bool(result.get("passed")),
                    "warnings": levels.count("warning"),
                    "errors": levels.count("error"),
                }
            )
    return pl.DataFrame(rows, schema=VALIDATION_SCHEMA)


def _names(out: Store, agencies: pl.DataFrame) -> pl.DataFrame:
    """The registry names the index knows: those kept from earlier runs, updated by this run's
    (a run of some agencies only still lists the others by name)."""
    fresh = agencies.select(pl.col("agency_id").cast(pl.String), pl.col("name").cast(pl.String))
    if out.exists(SITE_NAMES_KEY):
        kept = read_parquet_bytes(out.read_bytes(SITE_NAMES_KEY))
        fresh = pl.concat([fresh, kept.join(fresh, on="agency_id", how="anti")])
    return fresh.sort("agency_id")


def build_site(
    out: Store,
    agencies: pl.DataFrame,
    page_agency_ids: list[str] | None = None,
    warehouse: Store | None = None,
) -> list[str]:
    """Write ``index.html`` (every agency and roll-up) and the pages of ``page_agency_ids``
    (all agencies when None), of every roll-up and of any agency whose page is missing;
    returns the keys written.

    ``agencies`` is a registry frame (agency_id, name) with at least the run's agencies.
    Roll-ups (``rollup_cells/``) and reported reports (``reported_cells/`` in the warehouse)
    are listed when they are there.
    """
    names = _names(out, agencies)
    scans = {
        "report": scan_dataset(out, "report_cells/"),
        "rollup": scan_dataset(out, ROLLUP_CELLS),
        "reported": scan_dataset(warehouse, REPORTED_CELLS) if warehouse else None,
    }
    metas = {kind: cells_meta(scan) if scan is not None else None for kind, scan in scans.items()}
    rows = index_rows(
        metas["report"] if metas["report"] is not None else pl.DataFrame(schema=META_SCHEMA),
        read_validations(out),
        names,
        metas["rollup"],
        metas["reported"],
    )
    pages = {key for key in out.keys(SITE_PREFIX) if key.endswith(".html")}
    pages_of = set(rows["agency_id"]) if page_agency_ids is None else set(page_agency_ids)
    pages_of |= {a for a in rows["agency_id"] if agency_page_key(a) not in pages}
    if metas["rollup"] is not None:
        pages_of |= set(metas["rollup"]["agency_id"])
    pages_of &= set(rows["agency_id"])
    if scans["reported"] is not None and metas["report"] is not None:
        # A compiled report of the same year is the one listed: its reported cells are not drawn.
        compiled = metas["report"].select("agency_id", "year").lazy()
        scans["reported"] = scans["reported"].join(compiled, on=["agency_id", "year"], how="anti")
    charts = [
        chart_cells(scan.filter(pl.col("agency_id").is_in(list(pages_of))), kind)
        for kind, scan in scans.items()
        if scan is not None
    ]
    cells = pl.concat(charts).collect() if charts else pl.DataFrame(schema=CHART_SCHEMA)
    cells = cells.with_columns(kind=pl.col("kind").replace({"reported": "report"}))
    files = set(_partition_keys(out, "reports/")) | set(_partition_keys(out, "rollup_reports/"))
    written = []
    rows_of = rows.filter(pl.col("agency_id").is_in(list(pages_of))).partition_by(
        "agency_id", as_dict=True
    )
    cells_of = cells.partition_by("agency_id", as_dict=True)

    # The run of each current version, from the scans above: a page need not read it again.
    current_runs = {
        (agency_id, year, kind): run_id
        for kind in ("report", "rollup")
        if metas[kind] is not None
        for agency_id, year, run_id in metas[kind].select("agency_id", "year", "run_id").iter_rows()
    }

    def write_page(agency_id: str) -> str:
        mine = rows_of[(agency_id,)]
        versions = {
            (year, kind): known_revisions(
                out, year, agency_id, current_runs.get((agency_id, year, kind)), kind == "rollup"
            )
            for year, kind, status in zip(mine["year"], mine["kind"], mine["status"], strict=True)
            if status != "reported"
        }
        page = agency_html(
            agency_id,
            mine["name"][0],
            mine,
            cells_of.get((agency_id,), pl.DataFrame(schema=CHART_SCHEMA)),
            versions,
            files,
        )
        return out.write_bytes(agency_page_key(agency_id), page.encode(), durable=False)

    # Each page reads its report's versions and is written: side by side, as those wait on the
    # disk or the network.
    with ThreadPoolExecutor(max_workers=4) as pool:
        written += pool.map(write_page, sorted(pages_of))
    pages |= {agency_page_key(agency_id) for agency_id in pages_of}
    out.write_bytes(SITE_NAMES_KEY, parquet_bytes(names), durable=False)
    index = index_html(rows, files, pages)
    written.append(out.write_bytes(SITE_INDEX_KEY, index.encode(), durable=False))
    return written
