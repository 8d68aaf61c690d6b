"""The annual compilation flow: landing → normalized records → statutory cells → checked → published."""

from __future__ import annotations

import datetime as dt

from flows.clock import beijing_today
from flows.recipe import Job, compile_and_publish
from flows.results import CompileResult
from flows.runtime import default_task_runner, locked_locations, nianbao_flow
from flows.settings import check_locations, load_settings
from flows.steps import select_inputs
from transforms.period import Period, check_report_year

FLOW_NAME = "compile-annual-reports"


@nianbao_flow(name=FLOW_NAME, log_prints=False, task_runner=default_task_runner())
def compile_reports(
    year: int,
    agencies: list[str] | None = None,
    landing: str | None = None,
    out: str | None = None,
    warehouse: str | None = None,
    run_date: dt.date | None = None,
    allow_empty: bool = False,
) -> CompileResult:
    """Compile, check and publish the reports of ``year`` for the named agencies (default: all).

    After the year's end the reports are final; during the year, provisional up to yesterday.
    A final compile in which every report would be all zeros stops unless ``allow_empty``.
    """
    run_date = run_date or beijing_today()
    check_report_year(year, run_date)
    settings = load_settings(landing=landing, out=out, warehouse=warehouse)
    check_locations(settings)
    period = Period.of_year(year, as_of=run_date - dt.timedelta(days=1))
    with locked_locations(settings):
        job = Job(
            settings=settings,
            selection=select_inputs(settings.landing_zone(), agencies),
            period=period,
            status="final" if period.is_full_year else "provisional",
            run_date=run_date,
            parameters={
                "year": year,
                "agencies": agencies,
                "landing": str(settings.landing),
                "out": str(settings.out),
                "warehouse": str(settings.warehouse),
            },
            flow_name=FLOW_NAME,
            allow_empty=allow_empty,
        )
        return compile_and_publish(job)


__all__ = ["CompileResult", "compile_reports"]
