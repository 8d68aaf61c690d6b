"""Registry names and hand-filled values are shown as text wherever they are published.

The validation pages (Great Expectations Data Docs) and the HTML report are opened in headless
Chromium (Debian's ``chromium``, installed by ``.ci/run``): a payload that ran would have changed the
page title or left its elements in the DOM. The XLSX, Markdown, Prefect summary and terminal
outputs are read back as their own readers (openpyxl, Rich) read them.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.cli.common import print_violations
from flows.handfilled import agency_for, check_report, report_template, write_check_results
from flows.outputs.formats.markdown import to_markdown
from flows.outputs.formats.xlsx import to_xlsx
from flows.outputs.history import key_cells_table, summary_markdown
from tests.helpers import DEFAULT_DELIVERY, REGISTRY_HEADER, headless_chromium
from transforms.balance import VIOLATION_SCHEMA
from transforms.document import Document, Heading, Paragraph, Table, TableCell

PWNED = "PWNED"
SCRIPT_NAME = "<script>window.__pwned=1</script><img src=x onerror=\"document.title='PWNED'\">"
# A WeChat account with a pull (its channel row is counted) and one without (W1 warns about it, so
# the validation page lists it among the unexpected values).
IMG_ACCOUNT = "<img src=x onerror=document.title='PWNED'>"
SVG_ACCOUNT = "<svg onload=document.title='PWNED'>"
FORMULA_NAME = '=HYPERLINK("http://x","y")'
# Account names are folder names (no / or \): what xlsxwriter would turn into links all the same.
LINK_CHANNELS = ("mailto:evil@example.com", "external:win.ini")
REGISTRY_COLUMNS = REGISTRY_HEADER.rstrip("\n").split(",")


class _Dom(HTMLParser):
    """What a page holds after Chromium ran it: its title, elements, scripts and visible text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._open: str | None = None
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._open = tag

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open == "title" and self.title is None:
            self.title = data
        elif self._open == "script":
            self.scripts.append(data)
        else:
            self.text.append(data)

    @property
    def visible_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def _rendered_dom(page: Path, profile: Path) -> _Dom:
    """The DOM of a page after its scripts ran (``--dump-dom``), in headless Chromium."""
    # Offline: the CDN styles and scripts of Data Docs fail fast instead of being fetched.
    run = headless_chromium(profile, "--virtual-time-budget=2000", "--dump-dom", page.as_uri())
    assert "<html" in run.stdout, run.stderr[-2000:]
    return _Dom(run.stdout)


def _assert_no_script_ran(page: Path, dom: _Dom) -> None:
    assert dom.title != PWNED, page  # what the payloads set; the escaped name may hold the word
    assert not any("__pwned" in s for s in dom.scripts), page
    handlers = [
        (tag, attrs)
        for tag, attrs in dom.elements
        if any(k.startswith("on") and PWNED in (v or "") for k, v in attrs.items())
    ]
    assert handlers == [], page
    assert not any(tag == "img" and attrs.get("src") == "x" for tag, attrs in dom.elements), page


def _hostile_landing(root: Path) -> Path:
    root.mkdir(parents=True)
    with (root / "agencies.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(REGISTRY_COLUMNS)
        writer.writerow(
            ["ag-x", SCRIPT_NAME, "", "", f"政府网站|{IMG_ACCOUNT}|{SVG_ACCOUNT}", "否", "2"]
        )
        writer.writerow(
            ["ag-f", FORMULA_NAME, "", "", "|".join(["政府网站", *LINK_CHANNELS]), "否", "2"]
        )
    pull = {
        "total_count": 1,
        "item_count": 1,
        "item": [
            {
                "article_id": "A1",
                "update_time": 1717214400,
                "content": {
                    "create_time": 1717214400,
                    "update_time": 1717214400,
                    "news_item": [{"title": "头条", "author": "", "url": "", "is_deleted": False}],
                },
            }
        ],
    }
    account = root / "ag-x" / "wechat" / IMG_ACCOUNT
    account.mkdir(parents=True)
    (account / "pull-2024.json").write_text(json.dumps(pull), encoding="utf-8")
    stamp = DEFAULT_DELIVERY.timestamp()
    for path in root.rglob("*"):
        os.utime(path, (stamp, stamp))
    return root


def test_hostile_registry_runs_no_script_in_validation_pages_or_reports(
    compile_landing, tmp_path: Path
) -> None:
    result = compile_landing(_hostile_landing(tmp_path / "landing"), 2024)
    out = tmp_path / "published"

    # The checks see the names as they are: W1 names the silent account, unescaped.
    w1 = result.violations.filter(rule="W1", agency_id="ag-x")
    assert f"channels/wechat:{SVG_ACCOUNT}/items" in w1["cells"].to_list()
    docs = sorted((out / "validation" / "data_docs").rglob("*.html"))
    reports = sorted((out / "reports").rglob("report.html"))
    assert len(reports) == 2 and any("validations" in p.parts for p in docs)

    shown: dict[Path, str] = {}
    for page in docs + reports:
        dom = _rendered_dom(page, tmp_path / "chromium-profile")
        _assert_no_script_ran(page, dom)
        shown[page] = dom.visible_text
    # … and every page shows them as text.
    validation_page = next(p for p in docs if "validations" in p.parts)
    assert f"channels/wechat:{SVG_ACCOUNT}/items" in shown[validation_page]
    report_x = out / "reports/year=2024/agency_id=ag-x/report.html"
    assert SCRIPT_NAME in shown[report_x] and f"“{IMG_ACCOUNT}”微信公众号" in shown[report_x]

    markdown = (out / "reports/year=2024/agency_id=ag-x/report.md").read_text("utf-8")
    assert "<script" not in markdown and "<img" not in markdown and "<svg" not in markdown
    assert "&lt;script&gt;window.\\_\\_pwned=1&lt;/script&gt;" in markdown

    book = openpyxl.load_workbook(out / "reports/year=2024/agency_id=ag-f/report.xlsx")
    sheet = book.active
    cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
    assert sheet["A1"].data_type == "s" and sheet["A1"].value.startswith(FORMULA_NAME)
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    assert [c.coordinate for c in cells if c.hyperlink is not None] == []
    assert sheet._hyperlinks == []
    texts = [c.value for c in cells if c.data_type == "s"]
    # The channels are named in part 一's sentences, as text.
    for channel in LINK_CHANNELS:
        assert any(f"“{channel}”微信公众号" in text for text in texts), channel


@pytest.mark.slow
def test_hostile_hand_filled_report_runs_no_script_in_check_pages(tmp_path: Path) -> None:
    agency = agency_for("ag-x", None, ["政府网站", IMG_ACCOUNT])
    filled = report_template(agency, 2024).with_columns(value=pl.lit(0, pl.Decimal(18, 4)))
    # A cell of a section the format does not have: unexpected for two checks of the suite.
    stray = filled.head(1).with_columns(section=pl.lit(SVG_ACCOUNT))
    frame = pl.concat([filled, stray]).select(
        "agency_id", pl.col("year").cast(pl.Int32), "section", "row", "column", "value"
    )

    result = check_report(frame, None, None)
    folder = tmp_path / "filled.validation"
    write_check_results(result, folder)

    assert f"{SVG_ACCOUNT}/website/items" in result.validation.violations["cells"].to_list()
    pages = sorted((folder / "data_docs").rglob("*.html"))
    validation_page = next(p for p in pages if "validations" in p.parts)
    for page in pages:
        dom = _rendered_dom(page, tmp_path / "chromium-profile")
        _assert_no_script_ran(page, dom)
        if page == validation_page:
            assert SVG_ACCOUNT in dom.visible_text
            assert f"channels/wechat:{IMG_ACCOUNT}/items" in dom.visible_text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('=HYPERLINK("http://x","y")', id="formula"),
        pytest.param("http://evil.example/", id="url"),
        pytest.param("external:C:\\Windows\\win.ini", id="external-link"),
        pytest.param("mailto:a@example.com", id="mailto"),
        pytest.param("NaN", id="nan-label"),
    ],
)
def test_xlsx_text_stays_text_never_formula_link_or_number(text: str, tmp_path: Path) -> None:
    table = Table(
        "channels",
        2,
        2,
        (
            TableCell(0, 0, text),
            TableCell(0, 1, "3", key=("channels", "x", "items")),
            TableCell(1, 0, "政府网站"),
            TableCell(1, 1, "1.50", key=("channels", "website", "items")),
        ),
    )
    doc = Document(text, 2024, (text, "2024年政府信息公开工作年度报告"), (Paragraph(text), table))
    path = tmp_path / "report.xlsx"
    path.write_bytes(to_xlsx(doc))

    book = openpyxl.load_workbook(path)
    by_value = {
        (sheet.title, c.coordinate): c
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for c in row
        if c.value is not None
    }
    texts = [c for c in by_value.values() if c.value == text]
    assert len(texts) >= 3 and {c.data_type for c in texts} == {"s"}  # title, paragraph, label
    assert all(sheet._hyperlinks == [] for sheet in book.worksheets)
    assert all(c.hyperlink is None for c in by_value.values())
    assert sorted(c.value for c in by_value.values() if c.data_type == "n") == [1.5, 3]


HOSTILE_MARKDOWN = (
    "<script>alert(1)</script>|[red]x[/red] `y` *z* #1 ~~s~~ [l](javascript:alert(1)) &amp;"
)


def test_report_markdown_escapes_markup_and_show_prints_it_as_typed(tmp_path: Path) -> None:
    table = Table(
        "channels",
        2,
        2,
        (
            TableCell(0, 0, "渠道", header=True),
            TableCell(0, 1, "条数", header=True),
            TableCell(1, 0, f"“{HOSTILE_MARKDOWN}”微信公众号"),
            TableCell(1, 1, "2", key=("channels", "x", "items")),
        ),
        header_rows=1,
    )
    title = (f"{HOSTILE_MARKDOWN}\n# 2024", "2024年政府信息公开工作年度报告")
    doc = Document("x", 2024, title, (Heading("一、总体情况", 1), table))
    markdown = to_markdown(doc)
    assert "<script" not in markdown and "[l](javascript" not in markdown
    row = next(line for line in markdown.splitlines() if "微信公众号" in line)
    # The pipe in the name is escaped: the row still has the header's two cells.
    assert len(row.replace("\\|", "").split("|")) == len(["", "渠道", "条数", ""])

    key = tmp_path / "out/reports/year=2024/agency_id=ag-x/report.md"
    key.parent.mkdir(parents=True)
    key.write_text(markdown, encoding="utf-8")
    shown = CliRunner().invoke(
        app, ["show", "--year", "2024", "--agency", "ag-x", "--out", str(tmp_path / "out")]
    )
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert f"{HOSTILE_MARKDOWN} # 2024" in text
    assert f"“{HOSTILE_MARKDOWN}”微信公众号" in text


def _violations(**values: str) -> pl.DataFrame:
    row = {
        "agency_id": "ag-x",
        "rule": "W1",
        "severity": "warning",
        "cells": "c",
        "expected": "e",
        "actual": "a",
    } | values
    return pl.DataFrame([row], schema=VIOLATION_SCHEMA)


def test_run_summary_artifact_shows_registry_text_not_markup() -> None:
    violations = _violations(
        severity="error", cells=f"channels/wechat:{IMG_ACCOUNT}/items", actual="[x](javascript:1)"
    )
    result = SimpleNamespace(
        year=2024,
        status="final",
        period=SimpleNamespace(end=dt.date(2024, 12, 31)),
        source_counts={},
        violations=violations,
        failed_agencies=["ag-x"],
        manifest_uri="/o/runs/m.json",
        quarantine_uri="/w/quarantine",
        data_docs_uri=None,
        published=[],
        unchanged=[],
    )
    markdown = summary_markdown(result)
    assert "<img" not in markdown and "[x](javascript" not in markdown
    assert "channels/wechat:&lt;img src=x onerror=document.title='PWNED'&gt;/items" in markdown


def test_key_cells_artifact_shows_agency_id_as_text() -> None:
    cells = pl.DataFrame(
        {
            "agency_id": [IMG_ACCOUNT],
            "section": ["channels"],
            "row": ["total"],
            "column": ["items"],
            "value": [3],
        }
    )
    (row,) = key_cells_table(cells, refused=[])
    assert row["agency_id"] == "&lt;img src=x onerror=document.title='PWNED'&gt;"
    assert row["主动公开条数"] == "3" and row["published"] is True


def test_violations_table_prints_rich_markup_in_names_literally(capsys) -> None:
    print_violations(
        _violations(cells="channels/wechat:[red]号[/red]/items", actual="[link=http://x]y[/link]")
    )
    printed = " ".join(capsys.readouterr().err.split())
    assert "[red]号[/red]" in printed and "[link=http://x]y[/link]" in printed
