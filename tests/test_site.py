"""The browsable index: ``<out>/index.html`` and a page per agency, from what is published.

The page functions are pure (frames in, HTML out) and pinned on small literal frames; the pages of
a compiled demo are opened in headless Chromium (Debian's ``chromium``): no console error, charts
drawn, every relative link resolving to a published file.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import polars as pl
import pytest

from flows.io.store import LocalStore, parquet_bytes
from flows.outputs.layout import (
    agency_page_key,
    cells_key,
    report_key,
    rollup_report_key,
    validation_key,
)
from flows.outputs.publish import PUBLISHED_COLUMNS
from flows.outputs.site import (
    CHART_SCHEMA,
    META_SCHEMA,
    VALIDATION_SCHEMA,
    agency_html,
    build_site,
    index_html,
    index_rows,
)
from tests.helpers import headless_chromium

HOSTILE = '<script>document.title="PWNED"</script>局'
ESCAPED = "&lt;script&gt;document.title=&quot;PWNED&quot;&lt;/script&gt;局"


def _meta(*rows: tuple) -> pl.DataFrame:
    """(agency_id, year, status, as_of, run_id[, members, missing]) rows."""
    full = [(*r, None, None) if len(r) == 5 else r for r in rows]
    return pl.DataFrame(full, schema=META_SCHEMA, orient="row")


def _validations(*rows: tuple) -> pl.DataFrame:
    """(agency_id, year, run_id, passed, warnings, errors) rows."""
    return pl.DataFrame(list(rows), schema=VALIDATION_SCHEMA, orient="row")


NAMES = pl.DataFrame(
    {"agency_id": ["a-1", "a-2", "a-3", "city"], "name": ["甲局", HOSTILE, "丙局", "全市"]}
)


def _rows() -> pl.DataFrame:
    reports = _meta(
        ("a-1", 2024, "final", "2024-12-31", "run-a"),
        ("a-1", 2023, "final", "2023-12-31", "run-0"),
        ("a-2", 2024, "provisional", "2024-06-30", "run-a"),
    )
    validations = _validations(
        ("a-1", 2024, "run-b", False, 1, 2),  # the latest compile was refused
        ("a-1", 2023, "run-0", True, 0, 0),
        ("a-2", 2024, "run-a", True, 3, 0),
    )
    rollups = _meta(("city", 2024, "final", "2024-12-31", "run-a", 3, 1))
    reported = _meta(
        ("a-3", 2024, "reported", "2024-12-31", "import-1"),
        ("a-2", 2024, "reported", "2024-12-31", "import-1"),  # compiled too: compiled wins
    )
    return index_rows(reports, validations, NAMES, rollups, reported)


def test_index_rows_mark_refused_reported_and_rollups() -> None:
    rows = _rows()
    got = {(r["agency_id"], r["year"], r["kind"]): r for r in rows.iter_rows(named=True)}
    assert set(got) == {
        ("a-1", 2024, "report"),
        ("a-1", 2023, "report"),
        ("a-2", 2024, "report"),
        ("a-3", 2024, "report"),
        ("city", 2024, "rollup"),
    }
    refused = got[("a-1", 2024, "report")]
    assert (refused["status"], refused["run_id"], refused["warnings"], refused["errors"]) == (
        "refused",
        "run-b",
        1,
        2,
    )
    assert got[("a-1", 2023, "report")]["status"] == "final"
    assert got[("a-2", 2024, "report")]["status"] == "provisional"
    assert got[("a-3", 2024, "report")]["status"] == "reported"
    assert got[("city", 2024, "rollup")]["members"] == 3
    assert got[("city", 2024, "rollup")]["missing"] == 1
    assert got[("a-2", 2024, "report")]["name"] == HOSTILE


def test_index_links_only_files_that_exist_and_escapes_names() -> None:
    files = {
        report_key(2024, "a-1", "report.html"),
        report_key(2024, "a-1", "数据问题清单.xlsx"),
        rollup_report_key(2024, "city", "report.docx"),
    }
    pages = {agency_page_key("a-2")}
    page = index_html(_rows(), files, pages)
    assert 'href="reports/year=2024/agency_id=a-1/report.html"' in page
    problems = 'href="reports/year=2024/agency_id=a-1/%E6%95%B0%E6%8D%AE%E9%97%AE%E9%A2%98%E6%B8%85%E5%8D%95.xlsx"'
    assert problems in page
    assert 'href="rollup_reports/year=2024/agency_id=city/report.docx"' in page
    assert "report.pdf" not in page  # not published: no link that would not resolve
    assert 'href="site/a-2.html"' in page
    assert 'href="site/a-1.html"' not in page
    assert ESCAPED in page and "<script>document" not in page
    assert page.count("<script>") == 1  # the sorting script, admitted by its hash
    assert "script-src 'sha256-" in page and "default-src 'none'" in page
    assert re.search(r'<tr data-status="refused" data-kind="report">.*?甲局', page)
    assert re.search(r'data-kind="rollup"><td data-key="全市">全市 <span class="rollup">汇总', page)
    assert "已报送" in page and "未通过" in page


def _chart_cells(agency_id: str, kind: str = "report") -> pl.DataFrame:
    rows = []
    for year, scale in ((2023, 1.0), (2024, 2.0)):
        rows += [
            (agency_id, year, kind, "channels", "website", "items", "政府网站", 10 * scale),
            (agency_id, year, kind, "channels", f"wechat:{HOSTILE}", "items", HOSTILE, 5 * scale),
            (agency_id, year, kind, "channels", "total", "items", "合计", 15 * scale),
            (agency_id, year, kind, "requests", "disclosed", "total", "予以公开", 4 * scale),
            (agency_id, year, kind, "requests", "withheld_state_secret", "total", "x", 1.0),
            (agency_id, year, kind, "requests", "new_received", "total", "新收", 6 * scale),
        ]
    return pl.DataFrame(rows, schema=CHART_SCHEMA, orient="row")


def test_agency_page_draws_charts_links_revisions_and_escapes() -> None:
    rows = _rows().filter(pl.col("agency_id") == "a-2")
    versions = {
        (2024, "report"): [
            {
                "run_id": "run-0",
                "status": "provisional",
                "published_at": "2024-07-01",
                "changed": [],
            },
            {
                "run_id": "run-a",
                "status": "provisional",
                "published_at": "2024-07-02",
                "current": True,
                "changed": [
                    {
                        "section": "requests",
                        "row": "new_received",
                        "column": "total",
                        "old": Decimal(5),
                        "new": Decimal(6),
                    }
                ],
            },
        ]
    }
    files = {report_key(2024, "a-2", "report.pdf")}
    page = agency_html("a-2", HOSTILE, rows, _chart_cells("a-2"), versions, files)
    assert 'href="../reports/year=2024/agency_id=a-2/report.pdf"' in page
    assert 'href="../index.html"' in page
    assert "<script" not in page.replace("&lt;script", "")  # no script at all on agency pages
    assert ESCAPED in page
    assert "主动公开渠道" in page and "申请办理结果" in page and "主动公开条数" in page
    # two bar charts for 2024, a trend per headline cell present (条数, 新收申请)
    assert page.count("<svg") == 4
    assert "<polyline" in page  # two years: a line
    assert "1 个单元格有变化" in page and "（当前版本）" in page
    assert "<td>5</td><td>6</td>" in page


def test_rollup_page_shows_its_members_and_its_own_trend() -> None:
    rows = _rows().filter(pl.col("agency_id") == "city")
    page = agency_html("city", "全市", rows, _chart_cells("city", "rollup"), {}, set())
    assert "汇总历年趋势" in page and "覆盖 3 个机关，缺 1 个" in page
    assert "<svg" in page


def _write_published(root: Path) -> None:
    """A small published dataset as the publish step and the roll-up and import steps leave it."""
    out = LocalStore(root / "out")
    for agency_id, year, status, value in (
        ("a-1", 2023, "final", 7),
        ("a-1", 2024, "final", 9),
        ("500101", 2024, "provisional", 3),  # an all-digit id stays text
    ):
        cells = pl.DataFrame(
            {
                "section": ["channels", "channels", "requests"],
                "row": ["website", "total", "new_received"],
                "column": ["items", "items", "total"],
                "value": [Decimal(value), Decimal(value), Decimal(1)],
                "row_label": ["政府网站", "合计", "新收"],
                "column_label": ["条数", "条数", "总计"],
            },
            schema_overrides={"value": pl.Decimal(18, 4)},
        ).with_columns(
            status=pl.lit(status), as_of=pl.lit(dt.date(year, 12, 31)), run_id=pl.lit("r1")
        )
        out.write_bytes(cells_key(year, agency_id), parquet_bytes(cells.select(PUBLISHED_COLUMNS)))
        result = {"run_id": "r1", "passed": True, "violations": [{"severity": "warning"}]}
        out.write_bytes(validation_key(year, agency_id), json.dumps(result).encode())
        out.write_bytes(report_key(year, agency_id, "report.html"), b"<html></html>")
    refused = {"run_id": "r2", "passed": False, "violations": [{"severity": "error"}]}
    out.write_bytes(validation_key(2024, "a-9"), json.dumps(refused).encode())
    rollup = pl.read_parquet(out.root / cells_key(2024, "a-1")).with_columns(
        members=pl.lit(2), missing=pl.lit(["a-9"])
    )
    out.write_bytes("rollup_cells/year=2024/agency_id=a-1/data.parquet", parquet_bytes(rollup))
    reported = pl.read_parquet(out.root / cells_key(2024, "a-1")).with_columns(
        status=pl.lit("reported")
    )
    LocalStore(root / "wh").write_bytes(
        "reported_cells/year=2024/agency_id=a-5/data.parquet", parquet_bytes(reported)
    )


def test_build_site_lists_every_published_agency_rollup_and_reported_report(
    tmp_path: Path,
) -> None:
    _write_published(tmp_path)
    registry = pl.DataFrame({"agency_id": ["a-1"], "name": [HOSTILE]})
    build_site(LocalStore(tmp_path / "out"), registry, ["a-1"], LocalStore(tmp_path / "wh"))
    index = (tmp_path / "out/index.html").read_text(encoding="utf-8")
    statuses = re.findall(
        r'<tr data-status="(\w+)" data-kind="(\w+)"><td data-key="([^"]*)"', index
    )
    assert sorted(statuses) == sorted(
        [
            ("final", "report", ESCAPED),
            ("final", "report", ESCAPED),
            ("provisional", "report", "500101"),
            ("final", "rollup", ESCAPED),
            ("refused", "report", "a-9"),
            ("reported", "report", "a-5"),
        ]
    )
    assert "缺 1 个" in index  # the roll-up's missing member (a list of ids) counted
    page = (tmp_path / "out/site/a-1.html").read_text(encoding="utf-8")
    assert "汇总历年趋势" in page and page.count("<svg") >= 4
    # Not in this run, but it had no page: built, so that the index links every report it lists.
    other_page = tmp_path / "out/site/500101.html"
    stamp = other_page.stat().st_mtime_ns
    build_site(LocalStore(tmp_path / "out"), registry, ["a-1"], LocalStore(tmp_path / "wh"))
    assert other_page.stat().st_mtime_ns == stamp  # it has one now: left as it is
    # A later run of other agencies keeps a-1's name from this run's registry.
    build_site(LocalStore(tmp_path / "out"), registry.clear(), ["500101"])
    index = (tmp_path / "out/index.html").read_text(encoding="utf-8")
    assert ESCAPED in index and 'href="site/500101.html"' in index


def _chromium(page: Path, profile: Path) -> subprocess.CompletedProcess:
    return headless_chromium(
        profile,
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=2000",
        "--dump-dom",
        page.as_uri(),
    )


def _relative_links(dom: str) -> list[str]:
    links = re.findall(r'href="([^"]+)"', dom)
    assert not [link for link in links if re.match(r"[a-z]+:|//", link)]  # nothing external
    return links


@pytest.mark.slow
def test_demo_index_and_agency_page_open_in_chromium_with_charts_and_working_links(
    compile_landing, tmp_path: Path
) -> None:
    from flows.demo.landing import AGENCY, DEMO_YEAR, NIL_AGENCY, build_demo_landing

    compile_landing(build_demo_landing(tmp_path / "landing"), DEMO_YEAR)
    out = tmp_path / "published"
    for page in (out / "index.html", out / agency_page_key(AGENCY)):
        run = _chromium(page, tmp_path / "profile")
        dom = run.stdout
        assert [line for line in run.stderr.splitlines() if "CONSOLE" in line] == []
        links = _relative_links(dom)
        for link in links:
            target = (page.parent / unquote(link.replace("&amp;", "&"))).resolve()
            assert target.is_file(), f"{page.name}: {link} does not resolve"
        if page.name == "index.html":
            for agency_id in (AGENCY, NIL_AGENCY):
                assert f'href="site/{agency_id}.html"' in dom
                assert f'href="reports/year={DEMO_YEAR}/agency_id={agency_id}/report.pdf"' in dom
        else:
            assert dom.count("<svg") >= 3 and "<rect" in dom
            assert f'href="../reports/year={DEMO_YEAR}/agency_id={AGENCY}/report.docx"' in dom


def test_build_site_on_an_empty_dataset_writes_an_index_of_nothing(tmp_path: Path) -> None:
    out = LocalStore(tmp_path / "out")
    build_site(out, pl.DataFrame({"agency_id": ["a-1"], "name": ["甲局"]}), ["a-1"])
    index = (tmp_path / "out/index.html").read_text(encoding="utf-8")
    assert "0 个机关，0 行" in index and "<tr data-status" not in index
    assert not (tmp_path / "out/site/a-1.html").exists()  # nothing of it is published


@pytest.mark.slow
def test_hostile_agency_name_runs_no_script_in_index_or_agency_page_in_chromium(
    tmp_path: Path,
) -> None:
    _write_published(tmp_path)
    registry = pl.DataFrame({"agency_id": ["a-1"], "name": [HOSTILE]})
    build_site(LocalStore(tmp_path / "out"), registry, ["a-1"], LocalStore(tmp_path / "wh"))
    titles = {
        "index.html": "<title>政府信息公开工作年度报告</title>",
        "a-1.html": '<title>&lt;script&gt;document.title="PWNED"&lt;/script&gt;局（a-1）</title>',
    }
    for page in (tmp_path / "out/index.html", tmp_path / "out/site/a-1.html"):
        run = _chromium(page, tmp_path / "profile")
        assert titles[page.name] in run.stdout  # the title as written: no script changed it
        assert '&lt;script&gt;document.title="PWNED"&lt;/script&gt;局</' in run.stdout  # text
        assert [line for line in run.stderr.splitlines() if "CONSOLE" in line] == []
        assert "<svg" in run.stdout or page.name == "index.html"


# City ag-c → district ag-a → ag-b and ag-d (no files): two roll-ups, ag-d missing.
ROLLUP_REGISTRY = (
    "ag-c,重庆市人民政府,,,政府网站,否,4\n"
    "ag-a,重庆市綦江区人民政府,,ag-c,政府网站,否,2\n"
    "ag-b,整数局,,ag-a,政府网站,否,0\n"
    "ag-d,空白局,,ag-a,政府网站,否,2\n"
)


@pytest.mark.slow
def test_compiled_rollups_are_listed_as_汇总_with_links_that_resolve(
    compile_landing, tmp_path: Path
) -> None:
    from tests.helpers import GOLDEN, REGISTRY_HEADER

    landing = tmp_path / "landing"
    shutil.copytree(GOLDEN / "fee_rounding_half_up" / "landing", landing)
    (landing / "agencies.csv").write_text(REGISTRY_HEADER + ROLLUP_REGISTRY, encoding="utf-8")
    compile_landing(landing, 2024, agencies=["ag-a", "ag-b", "ag-c"])
    out = tmp_path / "published"
    index = (out / "index.html").read_text(encoding="utf-8")
    rollups = re.findall(r'<tr data-status="\w+" data-kind="rollup">(.*?)</tr>', index)
    assert len(rollups) == 2
    district = '<a href="site/ag-a.html">重庆市綦江区人民政府</a> <span class="rollup">汇总</span>'
    assert district + "（2 个机关，缺 1 个）" in index
    assert 'href="rollup_reports/year=2024/agency_id=ag-a/report.html"' in index
    page = out / "site/ag-a.html"
    text = page.read_text(encoding="utf-8")
    assert "汇总历年趋势" in text
    # Its own report's revisions and its roll-up's: one 修订记录 each, the roll-up's current.
    rollup_part = text[text.index('<span class="rollup">汇总</span>') :]
    assert text.count("<h3>修订记录</h3>") == 2
    assert "<h3>修订记录</h3>" in rollup_part and "（当前版本）" in rollup_part
    assert text.count("（当前版本）") == 2  # the report's current version is marked too
    for html in (out / "index.html", page):
        for link in _relative_links(html.read_text(encoding="utf-8")):
            assert (html.parent / unquote(link)).resolve().is_file(), f"{html.name}: {link}"
