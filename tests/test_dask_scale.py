"""On a Dask cluster, the flow hands large arguments to the workers without walking them."""

from __future__ import annotations

from tests.helpers import GOLDEN, RUN_DATE, lay_landing


def test_large_arguments_are_not_walked_in_the_flow_process_on_dask(
    prefect_api, dask_cluster, tmp_path, monkeypatch
) -> None:
    """Prefect's Dask runner walks every argument of a submitted task in the flow's process
    (1 s for 100 reports' documents): reports' documents and landing files go to the cluster
    ahead, and the reports are still published from them. Tasks the flow calls itself (storing
    records, the record checks, the manifest) get the sources' outcomes and the run's result
    unwalked too."""
    import prefect.utilities.engine as engine
    import prefect_dask.task_runners as dask_runner

    from flows.compile import compile_reports
    from flows.io.landing import LandingFile
    from flows.results import CompileResult, SourceOutcome
    from flows.runtime import with_task_runner
    from transforms.document import Document

    walked: set[str] = set()

    def spy(module, large: tuple[type, ...]) -> None:
        walk = module.visit_collection

        def spying(expr, visit_fn, **kwargs):
            if module is engine and not isinstance(expr, dict):
                return walk(expr, visit_fn=visit_fn, **kwargs)  # a task's result, not its inputs

            def seen(value):
                if isinstance(value, large):
                    walked.add(type(value).__name__)
                return visit_fn(value)

            return walk(expr, visit_fn=seen, **kwargs)

        monkeypatch.setattr(module, "visit_collection", spying)

    spy(dask_runner, (Document, LandingFile))  # submitting, in the flow's process
    # Resolving a task's inputs: a called task's in the flow's process (a submitted one's, on
    # the in-process workers of this cluster, walks its documents and files as it should).
    spy(engine, (SourceOutcome, CompileResult))
    landing = lay_landing(GOLDEN / "gb18030_bom_and_xlsx_exports", tmp_path / "landing", {})
    result = with_task_runner(compile_reports, dask_cluster)(
        year=2024,
        landing=str(landing),
        out=str(tmp_path / "out"),
        warehouse=str(tmp_path / "warehouse"),
        run_date=RUN_DATE,
    )
    assert result.ok
    assert walked == set()
    report = tmp_path / "out/reports/year=2024/agency_id=ag-a"
    assert (report / "report.html").is_file(), sorted(report.parent.rglob("*"))[:20]
