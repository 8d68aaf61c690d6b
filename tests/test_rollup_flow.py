"""A compile publishes the roll-up of every parent of the agencies it compiled (上级机关)."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl

from flows.io.store import LocalStore
from flows.outputs.publish import revisions
from tests.helpers import GOLDEN, REGISTRY_HEADER

# City ag-c (fees at 4 places) → district ag-a (2 places) → ag-b (0 places) and ag-d (no files).
# Exact fees: ag-a 1,225,000 分 (published 1.23), ag-b 2,500,000 (3), ag-c 123,456 (0.1235).
REGISTRY = (
    "ag-c,重庆市人民政府,,,政府网站,否,4\n"
    "ag-a,重庆市綦江区人民政府,,ag-c,政府网站,否,2\n"
    "ag-b,整数局,,ag-a,政府网站,否,0\n"
    "ag-d,空白局,,ag-a,政府网站,否,2\n"
)


def _landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    shutil.copytree(GOLDEN / "fee_rounding_half_up" / "landing", landing)
    (landing / "agencies.csv").write_text(REGISTRY_HEADER + REGISTRY, encoding="utf-8")
    return landing


def _rollup(out: Path, parent: str) -> pl.DataFrame:
    return pl.read_parquet(
        out / "rollup_cells" / "year=2024" / f"agency_id={parent}" / "data.parquet"
    )


def _fee(rollup: pl.DataFrame) -> Decimal:
    return rollup.filter(section="proactive", row="fees")["value"].item()


def test_rollups_sum_exact_fen_list_missing_members_and_follow_a_member_change(
    compile_landing, tmp_path
) -> None:
    landing, out = _landing(tmp_path), tmp_path / "published"

    first = compile_landing(landing, 2024, agencies=["ag-a", "ag-b", "ag-c"])

    district, city = _rollup(out, "ag-a"), _rollup(out, "ag-c")
    # 1,225,000 + 2,500,000 分 = 3.725 万元 → 3.73 (the rounded cells would give 4.23).
    assert _fee(district) == Decimal("3.73")
    # + 123,456 分 = 3.848456 万元 → 3.8485 at the city's 4 places.
    assert _fee(city) == Decimal("3.8485")
    assert district["members"].unique().to_list() == [2]
    assert district["missing"][0].to_list() == ["ag-d"]
    assert city["members"].unique().to_list() == [3]
    assert set(district.columns) >= {"section", "row", "column", "value", "status", "run_id"}
    assert district["run_id"].unique().to_list() == [first.run_id]
    manifest = json.loads(Path(first.manifest_uri).read_text(encoding="utf-8"))
    assert manifest["rollups"]["published"] == ["ag-a", "ag-c"]
    assert manifest["rollups"]["missing"] == {"ag-a": ["ag-d"], "ag-c": ["ag-d"]}
    title = (out / "rollup_reports/year=2024/agency_id=ag-a/report.md").read_text(encoding="utf-8")
    assert "2024年政府信息公开工作年度报告（全区汇总）" in title
    assert not (out / "rollup_cells/year=2024/agency_id=ag-b").exists()  # no children

    second = compile_landing(landing, 2024, agencies=["ag-d"], allow_empty=True)

    district = _rollup(out, "ag-a")
    assert district["missing"][0].to_list() == []
    assert district["members"].unique().to_list() == [3]
    assert district["run_id"].unique().to_list() == [second.run_id]
    assert _fee(district) == Decimal("3.73")  # ag-b's exact 分 still found in the warehouse
    versions = sorted(p.name for p in (out / "rollup_history/year=2024/agency_id=ag-a").iterdir())
    assert versions == sorted([f"run_id={first.run_id}.zip", f"run_id={second.run_id}.zip"])
    # `nianbao revisions --rollup` lists both, the second current, with the cells it changed.
    listed = revisions(LocalStore(out), 2024, "ag-a", rollup=True)
    assert [(v["run_id"], v["current"]) for v in listed] == [
        (first.run_id, False),
        (second.run_id, True),
    ]
    assert listed[0]["changed"] == []


def test_a_cycle_in_the_registry_publishes_no_rollup_and_names_its_agencies(tmp_path) -> None:
    from flows.io.store import LocalStore
    from flows.outputs.rollups import publish_rollups
    from tests.test_rollup import registry
    from transforms.period import Period

    agencies = registry([("ag-a", "ag-b", [], 2), ("ag-b", "ag-a", [], 2), ("ag-c", "x", [], 2)])
    out = LocalStore(tmp_path / "out")
    found = publish_rollups(
        out, LocalStore(tmp_path / "wh"), agencies, Period.of_year(2024), "final", "r1", ["ag-a"]
    )
    assert found["published"] == []
    assert "ag-a, ag-b" in found["error"]
    assert found["unknown_parents"] == [{"agency_id": "ag-c", "parent_id": "x"}]
    assert not list(tmp_path.rglob("*.parquet"))


def test_a_member_refused_in_this_run_is_summed_at_its_previous_version_and_named_in_the_manifest(
    compile_landing, tmp_path
) -> None:
    landing, out = _landing(tmp_path), tmp_path / "published"
    compile_landing(landing, 2024, agencies=["ag-a", "ag-b", "ag-c"])
    before = {parent: _rollup(out, parent) for parent in ("ag-a", "ag-c")}
    # ag-b has no rule-making power (否) yet reports a 规章 made this year: B9 refuses it.
    documents = landing / "ag-b" / "documents" / "documents.csv"
    documents.parent.mkdir(parents=True)
    documents.write_text(
        "文号,标题,文件类别,公布日期,废止日期\n令1号,新规章,规章,2024-03-01,\n", encoding="utf-8"
    )

    second = compile_landing(landing, 2024, agencies=["ag-a", "ag-b"])

    assert second.failed_agencies == ["ag-b"]
    manifest = json.loads(Path(second.manifest_uri).read_text(encoding="utf-8"))
    assert manifest["rollups"]["refused"] == {"ag-a": ["ag-b"], "ag-c": ["ag-b"]}
    assert manifest["rollups"]["missing"] == {"ag-a": ["ag-d"], "ag-c": ["ag-d"]}
    for parent, old in before.items():
        new = _rollup(out, parent)
        assert new["run_id"].unique().to_list() == [second.run_id]
        key = ["section", "row", "column"]
        # ag-b's refused cells (one 规章 issued) are not summed: its previous version is.
        assert new.select(*key, "value").equals(old.select(*key, "value"))
        regulations = new.filter(section="proactive", row="regulations", column="issued")
        assert regulations["value"].item() == 0
