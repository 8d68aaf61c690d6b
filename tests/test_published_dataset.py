"""The published dataset reads in one call from every common Arrow tool, with year and agency_id."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds

from flows.io.store import LocalStore
from tests.helpers import GOLDEN, lay_landing


def test_report_cells_read_whole_in_polars_pandas_duckdb_and_pyarrow(
    compile_landing, tmp_path
) -> None:
    landing = lay_landing(GOLDEN / "fee_rounding_half_up", tmp_path / "landing", {})
    result = compile_landing(landing, 2024)
    root = tmp_path / "published" / "report_cells"

    cells = pl.scan_parquet(root / "**/*.parquet", hive_partitioning=True).collect()
    assert cells.height == result.cells.height
    assert set(cells.columns) == {
        "year",
        "agency_id",
        "section",
        "row",
        "column",
        "value",
        "row_label",
        "column_label",
        "status",
        "as_of",
        "run_id",
    }
    assert cells.schema["value"] == pl.Decimal(18, 4)
    assert set(cells["status"]) == {"final"}
    assert cells.select(pl.col("year").unique()).item() == 2024

    assert len(pd.read_parquet(root)) == cells.height
    assert ds.dataset(root, partitioning="hive").count_rows() == cells.height
    duck = duckdb.sql(
        f"select count(*), count(distinct agency_id) from read_parquet('{root}/**/*.parquet', hive_partitioning=1)"
    ).fetchall()
    assert duck == [(cells.height, 3)]


def test_manifest_records_inputs_counts_and_outputs(compile_landing, tmp_path) -> None:
    import json

    landing = lay_landing(GOLDEN / "missing_required_column_rejects_file", tmp_path / "landing", {})
    result = compile_landing(landing, 2024)
    manifest = json.loads(Path(result.manifest_uri).read_text(encoding="utf-8"))

    assert manifest["run_id"] == result.run_id
    assert manifest["parameters"]["year"] == 2024
    paths = {i["path"]: i for i in manifest["inputs"]}
    assert len(paths["ag-a/licensing/good.csv"]["sha256"]) == 64
    assert manifest["sources"]["licensing"]["files_rejected"] == 1
    assert manifest["sources"]["licensing"]["records_kept"] == 2
    assert manifest["validation"]["failed"] == []
    assert any(
        o.endswith("report_cells/year=2024/agency_id=ag-a/data.parquet")
        for o in manifest["outputs"]
    )


def test_a_rerun_publishes_a_new_version_only_of_the_reports_that_changed(
    compile_landing, tmp_path
) -> None:
    import json

    from flows.outputs.layout import agency_page_key, history_prefix, snapshot_part_key
    from flows.outputs.publish import revisions

    landing = lay_landing(GOLDEN / "fee_rounding_half_up", tmp_path / "landing", {})
    published = tmp_path / "published"
    first = compile_landing(landing, 2024)

    def stamps(*keys: str) -> dict[str, int]:
        return {key: (published / key).stat().st_mtime_ns for key in keys}

    kept = [
        "report_cells/year=2024/agency_id=ag-a/data.parquet",
        "validation/year=2024/agency_id=ag-a/result.json",
        agency_page_key("ag-a"),
        snapshot_part_key(2024, 0),
    ]
    before = stamps(*kept)

    again = compile_landing(landing, 2024)  # nothing changed

    assert again.ok and sorted(again.unchanged) == ["ag-a", "ag-b", "ag-c"]
    assert stamps(*kept) == before
    manifest = json.loads(Path(again.manifest_uri).read_text(encoding="utf-8"))
    assert manifest["unchanged"] == ["ag-a", "ag-b", "ag-c"]
    cells = pl.read_parquet(published / "report_cells", hive_partitioning=True)
    assert set(cells["run_id"]) == {first.run_id}
    snapshot = pl.read_parquet(published / "snapshots" / "year=2024" / "*.parquet")
    assert set(snapshot["run_id"]) == {first.run_id}

    # ag-b's office adds its narrative: ag-b alone gets a new version, its page with it.
    narrative = landing / "ag-b" / "narrative" / "2024.md"
    narrative.parent.mkdir()
    narrative.write_text("# 六、其他需要报告的事项\n本年度未收取信息处理费。\n", encoding="utf-8")
    page_b = stamps(agency_page_key("ag-b"))

    third = compile_landing(landing, 2024)

    assert sorted(third.unchanged) == ["ag-a", "ag-c"]
    assert [v["run_id"] for v in revisions(LocalStore(published), 2024, "ag-b")] == [
        first.run_id,
        third.run_id,
    ]
    assert len(list((published / history_prefix(2024, "ag-a")).iterdir())) == 1
    assert stamps(agency_page_key("ag-b")) != page_b
    snapshot = pl.read_parquet(published / "snapshots" / "year=2024" / "*.parquet")
    assert dict(snapshot.group_by("agency_id").agg(pl.col("run_id").first()).iter_rows()) == {
        "ag-a": first.run_id,
        "ag-b": third.run_id,
        "ag-c": first.run_id,
    }
