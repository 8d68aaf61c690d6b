"""The published dataset reads in one call from every common Arrow tool, with year and agency_id."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds

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
