"""The same flow runs its tasks on an existing Dask cluster, with the same results."""

from __future__ import annotations

from tests.helpers import GOLDEN, RUN_DATE, lay_landing, nonzero_cells


def test_compile_on_a_dask_cluster_matches_the_local_run(
    prefect_api, dask_cluster, tmp_path
) -> None:
    from flows.compile import compile_reports
    from flows.runtime import with_task_runner

    landing = lay_landing(GOLDEN / "gb18030_bom_and_xlsx_exports", tmp_path / "landing", {})
    common = {"year": 2024, "landing": str(landing), "run_date": RUN_DATE}
    local = compile_reports(out=str(tmp_path / "o1"), warehouse=str(tmp_path / "w1"), **common)
    on_dask = with_task_runner(compile_reports, dask_cluster)(
        out=str(tmp_path / "o2"), warehouse=str(tmp_path / "w2"), **common
    )
    assert on_dask.ok
    assert nonzero_cells(on_dask.cells).equals(nonzero_cells(local.cells))
    assert (tmp_path / "o2/report_cells/year=2024/agency_id=ag-a/data.parquet").is_file()
    from distributed import Client

    with Client(dask_cluster) as client:
        ran = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert any("ingest_source" in name for name in ran), ran
    assert any("publish_reports" in name for name in ran), ran
