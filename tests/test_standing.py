"""Reports that stand as published (issue 14): a run leaves a report without drafting, rendering
or reading it only when everything it is made from is that of its current version, and its
files are in place; anything else is looked at, and published, as before."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import flows.recipe as recipe
from flows.demo.landing import AGENCY, DEMO_YEAR, build_demo_landing
from flows.io.store import LocalStore
from flows.outputs.layout import report_key, standing_key
from flows.outputs.publish import begin_publishing, restore_interrupted
from flows.outputs.standing import STANDING_SCHEMA, Standing, read_standing, write_standing
from transforms import standing as standing_module
from transforms.balance import VIOLATION_SCHEMA
from transforms.standing import agency_digests

OTHER = "cq-qijiang-sfj"  # the demo's second agency: no narrative, no records


@pytest.fixture
def drafted(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The agencies each call of ``draft_documents`` in a run drafted."""
    calls: list[list[str]] = []
    draft_documents = recipe.draft_documents

    def recorded(cells, agencies, *args):
        calls.append(sorted(agencies["agency_id"]))
        return draft_documents(cells, agencies, *args)

    monkeypatch.setattr(recipe, "draft_documents", recorded)
    return calls


def _versions(out: Path, agency_id: str) -> int:
    return len(list(out.glob(f"history/year={DEMO_YEAR}/agency_id={agency_id}/*.zip")))


def test_a_rerun_changing_nothing_drafts_nothing_and_tells_the_same_warnings(
    compile_landing, tmp_path: Path, drafted: list[list[str]]
) -> None:
    landing = build_demo_landing(tmp_path / "landing")
    first = compile_landing(landing, DEMO_YEAR)
    drafted.clear()

    again = compile_landing(landing, DEMO_YEAR)

    assert drafted == [[]]  # the one drafting call before the checks had no report to draft
    assert sorted(again.unchanged) == sorted([AGENCY, OTHER])
    assert again.published == []
    key = ["agency_id", "rule", "cells", "actual"]
    assert_frame_equal(again.violations.sort(key), first.violations.sort(key))
    assert "W4" in set(again.violations["rule"])  # the placeholders' warnings, told again
    assert _versions(tmp_path / "published", AGENCY) == 1


def test_a_changed_narrative_drafts_and_publishes_that_report_only(
    compile_landing, tmp_path: Path, drafted: list[list[str]]
) -> None:
    landing = build_demo_landing(tmp_path / "landing")
    compile_landing(landing, DEMO_YEAR)
    narrative = landing / AGENCY / "narrative" / f"{DEMO_YEAR}.md"
    text = narrative.read_text(encoding="utf-8")
    narrative.write_text(
        text.replace("无其他需要报告的事项。", "本年度另有一项说明。"), encoding="utf-8"
    )
    drafted.clear()

    again = compile_landing(landing, DEMO_YEAR)

    assert drafted == [[AGENCY]]
    assert again.unchanged == [OTHER]
    assert _versions(tmp_path / "published", AGENCY) == 2
    html = (tmp_path / "published" / report_key(DEMO_YEAR, AGENCY, "report.html")).read_text()
    assert "本年度另有一项说明。" in html


def test_a_rendered_file_removed_by_hand_is_put_back(compile_landing, tmp_path: Path) -> None:
    landing = build_demo_landing(tmp_path / "landing")
    compile_landing(landing, DEMO_YEAR)
    removed = tmp_path / "published" / report_key(DEMO_YEAR, OTHER, "report.pdf")
    kept = removed.read_bytes()
    removed.unlink()

    again = compile_landing(landing, DEMO_YEAR)

    assert removed.read_bytes() == kept
    assert again.unchanged == [AGENCY]  # the other report stood


def test_a_report_whose_validation_result_differs_is_drafted_after_the_checks(
    compile_landing, tmp_path: Path, drafted: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = build_demo_landing(tmp_path / "landing")
    compile_landing(landing, DEMO_YEAR)
    checking_digests = recipe.checking_digests

    def other_result_for_agency(agency_ids, violations, checks):
        digests = checking_digests(agency_ids, violations, checks)
        return digests.with_columns(
            digest=pl.when(pl.col("agency_id") == AGENCY).then(pl.lit("other")).otherwise("digest")
        )

    monkeypatch.setattr(recipe, "checking_digests", other_result_for_agency)
    drafted.clear()

    again = compile_landing(landing, DEMO_YEAR)

    assert drafted == [[], [AGENCY]]  # none before the checks, that one after them
    # Looked at as before standing existed: the same report, so still no new version.
    assert sorted(again.unchanged) == sorted([AGENCY, OTHER])
    table = read_standing(LocalStore(tmp_path / "published"), DEMO_YEAR)
    assert table.filter(agency_id=AGENCY)["checked"].to_list() == ["other"]


def _row(agency_id: str, digest: str) -> dict:
    return {"agency_id": agency_id, "drafted": digest, "checked": digest, "w4": []}


def test_the_next_table_replaces_passed_reports_drops_refused_ones_and_keeps_the_rest() -> None:
    table = pl.DataFrame(
        [_row("in-run-passed", "old"), _row("in-run-refused", "old"), _row("not-in-run", "old")],
        schema=STANDING_SCHEMA,
    )
    digests = pl.DataFrame(
        {"agency_id": ["in-run-passed", "in-run-refused"], "digest": ["new", "new"]}
    )
    w4 = pl.DataFrame(
        [["in-run-passed", "W4", "warning", "a/narrative/2024.md", "叙述文件", "未填写"]],
        schema=VIOLATION_SCHEMA,
        orient="row",
    )
    looked = Standing(table, digests, frozenset()).after_checks(digests)

    after = looked.next_table(["in-run-passed", "in-run-refused"], {"in-run-passed"}, w4)

    assert after["agency_id"].to_list() == ["in-run-passed", "not-in-run"]
    assert after["drafted"].to_list() == ["new", "old"]
    assert after["checked"].to_list() == ["new", "old"]
    assert after["w4"].list.len().to_list() == [1, 0]
    again = Standing(after, digests, frozenset(["in-run-passed"]))
    assert_frame_equal(again.w4(), w4)


def test_an_agency_twice_in_the_standing_table_is_looked_at_again(tmp_path: Path) -> None:
    out = LocalStore(tmp_path)
    rows = [_row("ag-a", "x"), _row("ag-a", "y"), _row("ag-b", "z")]
    write_standing(out, DEMO_YEAR, pl.DataFrame(rows, schema=STANDING_SCHEMA))

    assert read_standing(out, DEMO_YEAR)["agency_id"].to_list() == ["ag-b"]


def test_undoing_a_cut_off_publish_forgets_the_standing_table(tmp_path: Path) -> None:
    out = LocalStore(tmp_path)
    write_standing(out, DEMO_YEAR, pl.DataFrame(schema=STANDING_SCHEMA))
    begin_publishing(out, DEMO_YEAR, [], "cut-off-run")

    restore_interrupted(out)

    assert not out.exists(standing_key(DEMO_YEAR))


@pytest.mark.parametrize("damage", [b"", b"not parquet", "other columns"])
def test_a_damaged_standing_table_is_ignored_and_written_again(
    compile_landing, tmp_path: Path, damage: bytes | str
) -> None:
    landing = build_demo_landing(tmp_path / "landing")
    compile_landing(landing, DEMO_YEAR)
    path = tmp_path / "published" / standing_key(DEMO_YEAR)
    if damage == "other columns":
        pl.DataFrame({"agency_id": [AGENCY]}).write_parquet(path)
    else:
        path.write_bytes(damage)

    again = compile_landing(landing, DEMO_YEAR)

    assert sorted(again.unchanged) == sorted([AGENCY, OTHER])  # looked at one by one
    assert sorted(read_standing(LocalStore(tmp_path / "published"), DEMO_YEAR)["agency_id"]) == [
        AGENCY,
        OTHER,
    ]


def test_the_standing_table_keeps_the_w4_findings_of_each_report(
    compile_landing, tmp_path: Path
) -> None:
    compile_landing(build_demo_landing(tmp_path / "landing"), DEMO_YEAR)

    table = pl.read_parquet(tmp_path / "published" / standing_key(DEMO_YEAR))

    assert table.schema == STANDING_SCHEMA
    findings = dict(zip(table["agency_id"], table["w4"].list.len(), strict=True))
    assert findings == {AGENCY: 0, OTHER: 1}  # the other agency has no narrative file
    [w4] = table.filter(agency_id=OTHER)["w4"].to_list()[0]
    assert w4["rule"] == "W4" and w4["cells"] == f"{OTHER}/narrative/{DEMO_YEAR}.md"


# The digests themselves.


def _digests(parts, ids=("a", "b"), salt="s") -> dict[str, str]:
    frame = agency_digests(list(ids), parts, salt)
    return dict(zip(frame["agency_id"], frame["digest"], strict=True))


CELLS = pl.DataFrame({"agency_id": ["a", "a", "b"], "key": ["x", "y", "x"], "value": [1, 2, 3]})


def test_a_digest_changes_with_any_value_row_order_part_or_salt_of_its_agency_only() -> None:
    base = _digests([("cells", CELLS)])
    changed_value = _digests([("cells", CELLS.with_columns(value=pl.Series([1, 5, 3])))])
    reordered = _digests([("cells", CELLS[[1, 0, 2]])])
    renamed = _digests([("rows", CELLS)])
    salted = _digests([("cells", CELLS)], salt="t")

    assert changed_value["a"] != base["a"] and changed_value["b"] == base["b"]
    assert reordered["a"] != base["a"] and reordered["b"] == base["b"]
    assert renamed["a"] != base["a"] and salted["b"] != base["b"]


def test_a_digest_tells_no_rows_from_an_empty_row_and_text_from_null() -> None:
    text = pl.DataFrame({"agency_id": ["a", "b"], "note": ["", None]})
    none = pl.DataFrame(schema={"agency_id": pl.String, "note": pl.String})

    found = _digests([("notes", text)], ids=("a", "b", "c"))
    empty = _digests([("notes", none)], ids=("c",))

    assert len({found["a"], found["b"], found["c"]}) == 3
    assert empty["c"] == found["c"]


def test_digests_do_not_depend_on_how_many_agencies_are_hashed_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = _digests([("cells", CELLS), ("more", CELLS)], ids=("b", "a", "z"))
    monkeypatch.setattr(standing_module, "AGENCIES_AT_ONCE", 1)

    assert _digests([("cells", CELLS), ("more", CELLS)], ids=("b", "a", "z")) == whole


def test_a_line_break_or_quote_in_a_value_cannot_pass_for_another_row() -> None:
    one = pl.DataFrame({"agency_id": ["a"], "text": ['x"}\n{"text":"y']})
    two = pl.DataFrame({"agency_id": ["a", "a"], "text": ["x", "y"]})

    assert _digests([("p", one)], ids=("a",)) != _digests([("p", two)], ids=("a",))
