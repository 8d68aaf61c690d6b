"""The validation pages (Great Expectations Data Docs) say what was checked and what gates publication.

Pages are opened in headless Chromium with every host unresolvable (``tests.test_escaping``): what
the DOM holds afterwards is what an office without internet sees.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from flows.handfilled import agency_for, check_report, report_template, write_check_results
from tests.test_escaping import _rendered_dom
from tests.test_validation_flow import _landing, _republish_2023_with
from transforms.balance import RULES_BY_ID


class _Tables(HTMLParser):
    """Every table of a page as rows of cell texts, and the attributes of every element."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[list[list[str]]] = []
        self._in_script = False
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "table":
            self._open.append([])
        elif tag == "tr" and self._open:
            self._open[-1].append([])
        elif tag in ("td", "th") and self._open and self._open[-1]:
            self._open[-1][-1].append("")
        self._in_script = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._open:
            self.tables.append(self._open.pop())
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] and self._open[-1][-1] and not self._in_script:
            row = self._open[-1][-1]
            row[-1] = " ".join(f"{row[-1]} {data}".split())

    def rows_under(self, header: list[str]) -> list[list[str]]:
        """The body rows of every table with this header row."""
        return [row for t in self.tables if t and t[0] == header for row in t[1:]]


def _check_site(tmp_path: Path, broken: bool) -> Path:
    """The Data Docs site of a check of a nil report, with B1 broken when ``broken``."""
    agency = agency_for("ag-x", None, ["政府网站"])
    filled = report_template(agency, 2024).with_columns(value=pl.lit(0, pl.Decimal(18, 4)))
    if broken:  # 3 new requests in natural_person (and its total) with no outcome: B1 fails
        hit = (pl.col("row") == "new_received") & pl.col("column").is_in(
            ["natural_person", "total"]
        )
        filled = filled.with_columns(
            value=pl.when(hit).then(pl.lit(3, pl.Decimal(18, 4))).otherwise("value")
        )
    frame = filled.select(
        "agency_id", pl.col("year").cast(pl.Int32), "section", "row", "column", "value"
    )
    folder = tmp_path / "filled.validation"
    write_check_results(check_report(frame, None, None), folder)
    return folder / "data_docs"


def _validation_page(site: Path) -> Path:
    (page,) = (site / "validations").rglob("*.html")
    return page


@pytest.mark.slow
def test_report_rule_is_stated_in_words_and_its_violations_listed_as_a_table(
    tmp_path: Path,
) -> None:
    site = _check_site(tmp_path, broken=True)

    page = _rendered_dom(_validation_page(site), tmp_path / "chromium")
    text = page.visible_text
    assert "expect_report_rule_to_hold" not in text and "rule_id" not in text
    for rule in RULES_BY_ID.values():
        assert rule.statement in text
    assert "B1 本年新收 + 上年结转 = 办理结果总计 + 结转下年度" in text
    # The table is written into the page (no script builds it).
    tables = _Tables(_validation_page(site).read_text("utf-8"))
    listed = tables.rows_under(["机关 agency", "单元格 cells", "应为 expected", "实为 actual"])
    described = (
        "requests: new_received+carried_over_from_last_year vs outcome_total+carried_to_next_year"
    )
    assert sorted(row for row in listed if row[1].startswith("requests:")) == [
        ["ag-x", f"{described} @ natural_person", "3.0000", "0.0000"],
        ["ag-x", f"{described} @ total", "3.0000", "0.0000"],
    ]
    # The suite's own page states the rules too.
    suite = _rendered_dom(site / "expectations" / "report.html", tmp_path / "chromium")
    assert RULES_BY_ID["B9"].statement in suite.visible_text
    assert "expect_report_rule_to_hold" not in suite.visible_text


@pytest.mark.slow
def test_index_lists_the_run_with_no_internet_and_no_page_names_a_remote_file(
    tmp_path: Path,
) -> None:
    site = _check_site(tmp_path, broken=False)
    page = _validation_page(site)

    index = _rendered_dom(site / "index.html", tmp_path / "chromium")
    # The index's tables are built by scripts: offline they are there only if the site has them.
    links = [a["data-href"] for t, a in index.elements if t == "tr" and a.get("data-href")]
    assert links == [page.relative_to(site).as_posix(), "expectations/report.html"]
    assert "reports-report_cells" in index.visible_text

    for html in site.rglob("*.html"):
        markup = html.read_text("utf-8")
        assert "http://" not in markup and "https://" not in markup, html
        tags = _Tables(markup).elements
        linked = [
            a.get("src") or a.get("href")
            for t, a in tags
            if t in ("script", "link", "img") and (a.get("src") or a.get("href"))
        ]
        missing = [p for p in linked if not (html.parent / str(p).split("?")[0]).is_file()]
        assert len(linked) > 5 and missing == [], html
    # The shipped libraries travel with their licences.
    vendor = site / "static" / "vendor"
    assert {p.name for p in vendor.glob("*.LICENSE.txt")} >= {
        "jquery.LICENSE.txt",
        "bootstrap.LICENSE.txt",
        "bootstrap-table.LICENSE.txt",
    }


def _status(dom) -> str:
    return re.search(r"Status: (\w+)", dom.visible_text).group(1)


def test_a_run_with_only_warnings_shows_as_succeeded_and_one_with_an_error_as_failed(
    compile_landing, tmp_path: Path
) -> None:
    landing = _landing(tmp_path / "landing")
    site = tmp_path / "published" / "validation" / "data_docs"

    warned = compile_landing(landing, 2023)
    assert warned.ok and set(warned.violations["severity"]) == {"warning"}
    assert "W1" in warned.violations["rule"].to_list()  # the registry's website published nothing
    (first,) = (site / "validations").rglob("*.html")
    assert _status(_rendered_dom(first, tmp_path / "chromium")) == "Succeeded"
    index = _rendered_dom(site / "index.html", tmp_path / "chromium")
    icons = [
        a.get("class") or ""
        for t, a in index.elements
        if t == "i" and "fa-" in (a.get("class") or "")
    ]
    assert any("fa-check-circle" in c for c in icons) and not any("fa-times" in c for c in icons)

    _republish_2023_with(tmp_path / "published", carried=2)
    refused = compile_landing(landing, 2024)
    assert not refused.ok and "B5" in refused.violations["rule"].to_list()
    (second,) = {p for p in (site / "validations").rglob("*.html")} - {first}
    assert _status(_rendered_dom(second, tmp_path / "chromium")) == "Failed"
