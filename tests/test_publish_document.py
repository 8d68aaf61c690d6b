"""The compile publishes the report document in every format, with the office's narrative.

Every report gets report.md, .html, .docx, .pdf, .xlsx and 数据问题清单.xlsx beside its cells; the
formats read back to exactly the published cells; the narrative file fills what the data cannot
know, and where it does not the run warns (W4) naming the agency and the file.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from flows.demo.landing import AGENCY, DEMO_YEAR, build_demo_landing
from flows.io.ingest import files_in_run
from flows.io.landing import MAX_NARRATIVE_BYTES, LocalLanding, narrative_path
from flows.io.store import LocalStore
from flows.outputs import publish as publish_module
from flows.outputs import render as render_module
from flows.outputs.formats.docx import read_docx
from flows.outputs.formats.html import read_html
from flows.outputs.formats.markdown import to_markdown
from flows.outputs.formats.xlsx import NO_PROBLEMS, read_xlsx
from flows.outputs.layout import (
    PROBLEMS_FILE,
    RENDERED,
    cells_key,
    history_prefix,
    report_key,
    validation_key,
    version_key,
)
from flows.outputs.publish import (
    Release,
    agency_document,
    begin_publishing,
    publish_report,
    restore_interrupted,
)
from flows.outputs.render import render_report
from flows.outputs.versions import read_version
from flows.steps import draft_documents, read_narratives
from transforms.balance import VIOLATION_SCHEMA
from transforms.document import cells_from_read, parse_narrative
from transforms.normalize import QUARANTINE_SCHEMA
from transforms.period import Period

OTHER = "cq-qijiang-sfj"  # the demo's second agency: no records, no narrative
PERIOD = Period.of_year(DEMO_YEAR, as_of=__import__("datetime").date(DEMO_YEAR, 12, 31))

FULL_NARRATIVE = """\ufeff# 一、总体情况
## （三）政府信息管理情况
一是严格落实审核制度。<script>alert(1)</script>
## （四）政府信息公开平台建设情况
=HYPERLINK("http://evil.example","点我")
## （五）监督保障情况
**加强**培训，[链接](javascript:alert(1))。
# 五、存在的主要问题及改进情况
- 主动公开的及时性有待提高。
# 六、其他需要报告的事项
本年度未收取信息处理费。
# 联系方式
电子版：重庆市綦江区人民政府网站（www.cqqj.gov.cn）
联系：区城市管理局办公室（电话：023-12345678）
"""


def _published(out: Path, agency_id: str) -> pl.DataFrame:
    return pl.read_parquet(out / cells_key(DEMO_YEAR, agency_id))


def _as_text(frame: pl.DataFrame) -> set[tuple[str, str, str, str]]:
    """Cells as (section, row, column, value) with the value normalised: 727.0800 == 727.08."""
    return {
        (s, r, c, format(v.normalize(), "f") if hasattr(v, "normalize") else str(v))
        for s, r, c, v in frame.select("section", "row", "column", "value").iter_rows()
    }


def _w4(result: pl.DataFrame | list, agency_id: str) -> list:
    rows = result if isinstance(result, list) else result.to_dicts()
    return [v for v in rows if v["rule"] == "W4" and v["agency_id"] == agency_id]


@pytest.fixture
def demo_landing(tmp_path: Path) -> Path:
    return build_demo_landing(tmp_path / "landing")


@pytest.mark.slow
def test_compile_publishes_every_format_reading_back_to_the_published_cells(
    compile_landing, demo_landing: Path, tmp_path: Path
) -> None:
    (demo_landing / narrative_path(AGENCY, DEMO_YEAR)).unlink()  # the office has written nothing
    result = compile_landing(demo_landing, DEMO_YEAR)
    out = tmp_path / "published"

    for agency_id in (AGENCY, OTHER):
        folder = out / report_key(DEMO_YEAR, agency_id, "x").rsplit("/", 1)[0]
        assert sorted(p.name for p in folder.iterdir()) == sorted(RENDERED)
        cells = _as_text(_published(out, agency_id))
        for name, reader in (
            ("report.docx", read_docx),
            ("report.html", read_html),
            ("report.xlsx", read_xlsx),
        ):
            read, problems = cells_from_read(reader((folder / name).read_bytes(), name))
            assert problems == [], (agency_id, name)
            assert _as_text(read) == cells, (agency_id, name)
        assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")

    # No narrative file: the run warns, naming the agency and the file, and publishes anyway.
    saved = json.loads((out / validation_key(DEMO_YEAR, AGENCY)).read_text("utf-8"))
    assert saved["passed"] is True
    [warning] = _w4(saved["violations"], AGENCY)
    assert warning["severity"] == "warning"
    assert warning["cells"] == narrative_path(AGENCY, DEMO_YEAR)
    assert "（三）政府信息管理情况" in warning["expected"]
    assert "五、存在的主要问题及改进情况" in warning["expected"]
    assert _w4(result.violations, OTHER)
    assert AGENCY not in result.failed_agencies

    # 数据问题清单.xlsx: the agency's own quarantined rows, reasons in Chinese; none: said so.
    own = result.quarantine.filter(agency_id=AGENCY)
    sheet = openpyxl.load_workbook(out / report_key(DEMO_YEAR, AGENCY, PROBLEMS_FILE)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert len(rows) == own.height > 0
    assert sorted(r[0] for r in rows) == sorted(own["file"].to_list())
    assert any(r[4].startswith("不是日期") for r in rows)
    assert not any(r[4].startswith("not a date") for r in rows)
    empty = openpyxl.load_workbook(out / report_key(DEMO_YEAR, OTHER, PROBLEMS_FILE)).active
    assert empty["A2"].value == NO_PROBLEMS


@pytest.mark.slow
def test_a_narrative_file_fills_the_placeholders_and_its_markup_stays_text(
    compile_landing, demo_landing: Path, tmp_path: Path
) -> None:
    narrative = demo_landing / narrative_path(AGENCY, DEMO_YEAR)
    narrative.write_text(FULL_NARRATIVE, encoding="utf-8")  # in place of the demo's own
    stamp = (demo_landing / "agencies.csv").stat().st_mtime
    os.utime(narrative, (stamp, stamp))

    result = compile_landing(demo_landing, DEMO_YEAR)
    out = tmp_path / "published"

    assert _w4(result.violations, AGENCY) == []
    assert _w4(result.violations, OTHER)  # the other agency still has none
    # Not a misplaced file: nothing of the narrative folder in the quarantine.
    assert not result.quarantine["file"].str.contains("/narrative/").any()
    page = (out / report_key(DEMO_YEAR, AGENCY, "report.html")).read_text("utf-8")
    assert 'class="placeholder"' not in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "一是严格落实审核制度" in page and "本年度未收取信息处理费。" in page
    assert "请与区城市管理局办公室（电话：023-12345678）联系" in page
    markdown = (out / report_key(DEMO_YEAR, AGENCY, "report.md")).read_text("utf-8")
    assert "【待填写" not in markdown and "<script" not in markdown
    assert "\\*\\*加强\\*\\*" in markdown and "\\[链接\\](javascript" in markdown
    assert "\\- 主动公开的及时性有待提高。" in markdown
    book = openpyxl.load_workbook(out / report_key(DEMO_YEAR, AGENCY, "report.xlsx"))
    texts = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value]
    formula = [c for c in texts if str(c.value).startswith("=HYPERLINK")]
    assert formula and {c.data_type for c in formula} == {"s"}
    assert all(c.hyperlink is None for c in texts)
    # The cells are those of the run without a narrative: it cannot change a number.
    read, _ = cells_from_read(
        read_docx((out / report_key(DEMO_YEAR, AGENCY, "report.docx")).read_bytes(), "report.docx")
    )
    assert _as_text(read) == _as_text(_published(out, AGENCY))


def _zone_with(tmp_path: Path, files: dict[str, bytes]) -> LocalLanding:
    root = tmp_path / "zone"
    root.mkdir()
    (root / "agencies.csv").write_text("agency_id\n", encoding="utf-8")
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return LocalLanding(root)


def test_hostile_narrative_files_are_quarantined_with_their_reason_never_read_out_of_the_zone(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("# 六、其他需要报告的事项\n机密\n", encoding="utf-8")
    zone = _zone_with(
        tmp_path,
        {
            "ag-big/narrative/2024.md": b"# \xe5\x85\xad\n" + b"a" * MAX_NARRATIVE_BYTES,
            "ag-gbk/narrative/2024.md": "# 六、其他需要报告的事项\n无。\n".encode("gbk"),
            "ag-ok/narrative/2024.md": b"\xef\xbb\xbf# \xe5\x85\xad\xe3\x80\x81\n",
            "ag-ok/narrative/notes.txt": b"scratch",
        },
    )
    (zone.root / "ag-link/narrative").mkdir(parents=True)
    (zone.root / "ag-link/narrative/2024.md").symlink_to(secret)
    agencies = ["ag-big", "ag-gbk", "ag-link", "ag-ok"]

    _, misplaced, narratives = files_in_run(zone, agencies, named=False)
    read = read_narratives.fn(zone, narratives, agencies, 2024)

    problems = {m["file"]: m["reason"] for m in misplaced}
    assert problems == {
        "ag-link/narrative/2024.md": "symbolic link to a place outside the landing zone: not read",
        "ag-ok/narrative/notes.txt": "not a narrative file "
        "(expected <agency_id>/narrative/<year>.md)",
    }
    quarantined = {q["file"]: q["reason"] for q in read.quarantine.to_dicts()}
    assert quarantined == {
        "ag-big/narrative/2024.md": "larger than the 256 KiB a narrative file may be: not read",
        "ag-gbk/narrative/2024.md": "not UTF-8 text (undecodable byte at offset 2): "
        "save it as UTF-8",
    }
    assert set(read.narratives) == {"ag-ok"}  # the BOM is fine
    assert "机密" not in repr(read)


def test_unreadable_or_odd_narratives_become_w4_warnings_naming_file_and_line(
    tmp_path: Path,
) -> None:
    text = "# 六、其他需要报告的事项\n无。\n# 七、致谢\n感谢。\n"
    zone = _zone_with(
        tmp_path,
        {"ag-a/narrative/2024.md": text.encode(), "ag-b/narrative/2024.md": b"\xff\xfe"},
    )
    agencies = pl.DataFrame(
        {"agency_id": ["ag-a", "ag-b"], "name": ["甲局", None], "fee_decimals": [2, 2]}
    )
    cells = pl.concat(_template_cells(agency_id) for agency_id in agencies["agency_id"])
    _, _, narratives = files_in_run(zone, agencies["agency_id"].to_list(), named=False)
    read = read_narratives.fn(zone, narratives, agencies["agency_id"].to_list(), 2024)

    documents, w4 = draft_documents.fn(cells, agencies, None, read, PERIOD, "final")

    assert w4.schema == VIOLATION_SCHEMA and set(w4["severity"]) == {"warning"}
    ag_a = w4.filter(agency_id="ag-a")
    assert set(ag_a["cells"]) == {"ag-a/narrative/2024.md"}
    assert any("ag-a/narrative/2024.md 第3行" in a and "七、致谢" in a for a in ag_a["actual"])
    ag_b = w4.filter(agency_id="ag-b")["actual"].to_list()
    assert any("叙述文件无法读取" in a and "not UTF-8" in a for a in ag_b)
    assert documents["ag-b"].title[0] == "ag-b"  # no registry name: its id
    assert documents["ag-a"].title[0] == "甲局"


def _template_cells(agency_id: str) -> pl.DataFrame:
    from flows.handfilled import agency_for, report_template

    template = report_template(agency_for(agency_id, None), 2024).drop("year")
    return template.with_columns(value=pl.lit(0, pl.Decimal(18, 4)))  # a nil return


def _document(narrative_text: str | None = None):
    narrative = (
        parse_narrative(narrative_text, "ag-a/narrative/2024.md") if narrative_text else None
    )
    cells = _template_cells("ag-a").drop("agency_id")
    agency = {"agency_id": "ag-a", "name": "甲局", "fee_decimals": 2}
    return agency, cells, agency_document(agency, cells, None, narrative, PERIOD, "final")


def test_a_full_narrative_leaves_no_placeholder_and_none_leaves_every_narrative_part() -> None:
    _, _, filled = _document(FULL_NARRATIVE)
    _, _, empty = _document()
    assert filled.placeholders == ()
    assert set(empty.placeholders) >= {
        "（三）政府信息管理情况",
        "（四）政府信息公开平台建设情况",
        "（五）监督保障情况",
        "五、存在的主要问题及改进情况",
        "六、其他需要报告的事项",
    }
    assert "【待填写" in to_markdown(empty) and "【待填写" not in to_markdown(filled)


def test_render_report_writes_every_rendered_file_and_the_problem_list_even_when_empty() -> None:
    _, _, document = _document(FULL_NARRATIVE)
    rendered = render_report(document, pl.DataFrame(schema=QUARANTINE_SCHEMA))
    assert tuple(rendered) == RENDERED
    assert rendered["report.pdf"].startswith(b"%PDF")
    sheet = openpyxl.load_workbook(io.BytesIO(rendered[PROBLEMS_FILE])).active
    assert sheet["A2"].value == NO_PROBLEMS
    assert "&lt;script&gt;" in rendered["report.html"].decode()


def test_restore_interrupted_puts_back_every_rendered_file(tmp_path: Path) -> None:
    out = LocalStore(tmp_path / "out")
    agency, cells, _ = _document()
    violations = pl.DataFrame(schema=VIOLATION_SCHEMA)
    publish_report(out, agency, cells, violations, Release(PERIOD, "final", "r1", []))
    before = {name: out.read_bytes(report_key(2024, "ag-a", name)) for name in RENDERED}

    begin_publishing(out, 2024, ["ag-a"], "r2")  # cut off after its rendered files
    for name in RENDERED:
        out.write_bytes(report_key(2024, "ag-a", name), b"half-written by r2")

    assert restore_interrupted(out) == ["ag-a"]
    assert {name: out.read_bytes(report_key(2024, "ag-a", name)) for name in RENDERED} == before


def test_a_report_whose_documents_are_unchanged_names_their_version_not_rendered_again(
    tmp_path: Path, monkeypatch
) -> None:
    out = LocalStore(tmp_path / "out")
    agency, cells, _ = _document()
    violations = pl.DataFrame(schema=VIOLATION_SCHEMA)
    publish_report(out, agency, cells, violations, Release(PERIOD, "final", "r1", []))
    first = {name: out.read_bytes(report_key(2024, "ag-a", name)) for name in RENDERED}

    def not_again(reports):
        assert reports == [], "an unchanged report was rendered again"
        return []

    monkeypatch.setattr(publish_module, "render_reports", not_again)
    current = {name: out.root / report_key(2024, "ag-a", name) for name in RENDERED}
    stamps = {name: path.stat().st_mtime_ns for name, path in current.items()}
    # The same cells and documents with a new warning: a new version (its validation result).
    warned = pl.DataFrame(
        [{"agency_id": "ag-a", "rule": "W1", "severity": "warning", "cells": "channels/x/items"}],
        schema=VIOLATION_SCHEMA,
    )
    publish_report(out, agency, cells, warned, Release(PERIOD, "final", "r2", []))
    assert {name: out.read_bytes(report_key(2024, "ag-a", name)) for name in RENDERED} == first
    # Its current files are left as they are (not written again); its version, one object,
    # names the version holding them instead of a copy.
    assert {name: path.stat().st_mtime_ns for name, path in current.items()} == stamps
    assert sorted(out.keys(history_prefix(2024, "ag-a"))) == [
        version_key(2024, "ag-a", "r1"),
        version_key(2024, "ag-a", "r2"),
    ]
    r2 = read_version(out, version_key(2024, "ag-a", "r2"))
    assert r2.files_of == "r1" and set(r2.files) == {"result.json"}
    r1 = read_version(out, version_key(2024, "ag-a", "r1"))
    assert {name: r1.files[name] for name in RENDERED} == first
    assert pl.read_parquet(tmp_path / "out" / cells_key(2024, "ag-a"))["run_id"][0] == "r2"

    # A changed cell is rendered again.
    rendered = []
    monkeypatch.setattr(
        publish_module,
        "render_reports",
        lambda reports: rendered.extend(reports) or [render_report(*r) for r in reports],
    )
    changed = cells.with_columns(value=pl.col("value") + 1)
    publish_report(out, agency, changed, violations, Release(PERIOD, "final", "r3", []))
    assert len(rendered) == 1


def test_reports_rendered_ahead_in_worker_processes_are_published_without_rendering_again(
    tmp_path: Path, monkeypatch
) -> None:
    # Two reports are worth worker processes here (a run renders up to 24 in its own).
    monkeypatch.setattr(render_module, "RENDER_HERE_UP_TO", 1)
    out = LocalStore(tmp_path / "out")
    _, _, document = _document(FULL_NARRATIVE)
    quarantine = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    other = dataclasses.replace(document, agency_name="乙局")
    reports = [("ag-a", document, quarantine), ("ag-b", other, quarantine)]

    ahead = publish_module.render_ahead(out, 2024, reports)
    assert len(ahead) == 2
    monkeypatch.setattr(
        publish_module, "render_reports", lambda todo: todo and pytest.fail("rendered again")
    )
    rendered = publish_module.render_published(out, 2024, reports, ahead)
    assert len(ahead) == 0

    # The worker processes' files are exactly those rendering here would give.
    assert [r.files for r in rendered] == [render_report(d, q) for _, d, q in reports]


@pytest.mark.parametrize("beside_a_new_one", [True, False], ids=["beside a new", "alone"])
def test_an_unchanged_report_looked_at_ahead_is_not_looked_at_again_when_published(
    tmp_path: Path, monkeypatch, beside_a_new_one: bool
) -> None:
    # One report is worth a worker process here (a run renders up to 24 in its own). Alone,
    # nothing is left rendering ahead: what was looked at still counts.
    monkeypatch.setattr(render_module, "RENDER_HERE_UP_TO", 0)
    out = LocalStore(tmp_path / "out")
    agency, cells, document = _document(FULL_NARRATIVE)
    violations = pl.DataFrame(schema=VIOLATION_SCHEMA)
    quarantine = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    first = publish_module.render_published(out, 2024, [("ag-a", document, quarantine)])[0]
    publish_report(out, agency, cells, violations, Release(PERIOD, "final", "r1", []), first)
    other = dataclasses.replace(document, agency_name="乙局")
    reports = [("ag-a", document, quarantine)]
    if beside_a_new_one:
        reports.append(("ag-b", other, quarantine))

    ahead = publish_module.render_ahead(out, 2024, reports)
    assert len(ahead) == len(reports) - 1  # only the new report is rendered
    monkeypatch.setattr(publish_module, "current_render", lambda *a: pytest.fail("read again"))
    monkeypatch.setattr(publish_module, "inputs_hash", lambda *a: pytest.fail("hashed again"))
    unchanged, *new = publish_module.render_published(out, 2024, reports, ahead)

    # The unchanged report's files are left where they are: named, neither read nor rendered.
    assert unchanged.files is None and unchanged.files_of == "r1"
    if beside_a_new_one:
        assert new[0].files_of is None and new[0].files == render_report(other, quarantine)


@pytest.mark.parametrize("listed_first", [True, False], ids=["many: listed", "few: each"])
def test_reports_without_current_cells_are_not_looked_up_one_by_one(
    tmp_path: Path, monkeypatch, listed_first: bool
) -> None:
    # Beyond LOOKUPS_BEFORE_LISTING reports the year's cells are listed once: a report with no
    # current version (every report of a first compile) costs no read.
    monkeypatch.setattr(publish_module, "LOOKUPS_BEFORE_LISTING", 1 if listed_first else 99)
    out = LocalStore(tmp_path / "out")
    agency, cells, document = _document(FULL_NARRATIVE)
    quarantine = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    first = publish_module.render_published(out, 2024, [("ag-a", document, quarantine)])[0]
    release = Release(PERIOD, "final", "r1", [])
    publish_report(out, agency, cells, pl.DataFrame(schema=VIOLATION_SCHEMA), release, first)
    looked_up = []
    real = publish_module.current_render
    monkeypatch.setattr(
        publish_module,
        "current_render",
        lambda out, year, agency_id, digest: (
            looked_up.append(agency_id) or real(out, year, agency_id, digest)
        ),
    )
    reports = [("ag-a", document, quarantine), ("ag-b", document, quarantine)]

    found = publish_module.current_renders(out, 2024, reports)

    assert [current for _, current in found] == ["r1", None]  # the same answers either way
    assert sorted(looked_up) == (["ag-a"] if listed_first else ["ag-a", "ag-b"])


def test_the_quarantine_digested_is_its_sorted_csv_whether_or_not_it_has_rows() -> None:
    # Digests are kept in every version.json: the shortcut for no rows must give the same text.
    empty = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    assert render_module._as_csv(empty) == empty.sort(pl.all()).write_csv()
    rows = pl.DataFrame(
        {c: ["b", "a"] if c != "row" else [2, 1] for c in QUARANTINE_SCHEMA.names()},
        schema=QUARANTINE_SCHEMA,
    )
    assert render_module._as_csv(rows) == rows.sort(pl.all()).write_csv()
    assert render_module._as_csv(rows).splitlines()[1].startswith("a,")


def test_render_workers_typeset_on_one_thread_each(monkeypatch) -> None:
    # A worker a core: Typst's own threads on top would only contend with the other workers.
    import os

    monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)
    pool = render_module._render_pool()
    assert pool.submit(os.getenv, "RAYON_NUM_THREADS").result(timeout=120) == "1"
    assert "RAYON_NUM_THREADS" not in os.environ  # this process keeps Typst's threads
