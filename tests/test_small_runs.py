"""Small runs pay no fixed cost they do not need: a compile of a few reports renders them in
this process (no worker process started, each costing 0.8 s of CPU to import), and a run
started by the command does not wait for Prefect's heartbeat thread to end."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from flows.demo.landing import build_demo_landing
from flows.io.store import LocalStore
from flows.outputs import publish as publish_module
from flows.outputs import render as render_module
from flows.outputs.layout import RENDERED, report_key
from transforms.document import Document, Paragraph
from transforms.normalize import QUARANTINE_SCHEMA


def test_a_compile_of_two_reports_renders_them_here_and_starts_no_worker_process(
    compile_landing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools = []

    def no_pool():
        pools.append("started")
        raise OSError("a worker process was started")  # rendering would fall back to here

    monkeypatch.setattr(render_module, "_render_pool", no_pool)
    rendered_here = []
    render_chunk = render_module.render_chunk
    monkeypatch.setattr(
        render_module,
        "render_chunk",
        lambda reports: rendered_here.extend(reports) or render_chunk(reports),
    )
    landing = build_demo_landing(tmp_path / "landing")  # two agencies, one without files

    result = compile_landing(landing, 2024)

    assert pools == []
    published = sorted(set(result.cells["agency_id"]))
    assert len(published) == 2 and len(rendered_here) == 2
    out = LocalStore(tmp_path / "published")
    for agency_id in published:
        for name in RENDERED:
            assert out.read_bytes(report_key(2024, agency_id, name))


def _reports(n: int) -> list[tuple[str, Document, pl.DataFrame]]:
    empty = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return [
        (f"ag-{i}", Document(f"局{i}", 2024, (f"局{i}",), (Paragraph(f"局{i}的报告。"),)), empty)
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("reports", "in_workers"),
    [
        pytest.param(3, 3, id="more-than-the-limit-rendered-in-workers"),
        pytest.param(2, 0, id="up-to-the-limit-left-to-publishing-here"),
    ],
)
def test_reports_are_rendered_ahead_in_workers_only_when_more_than_a_start_up_is_worth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reports: int, in_workers: int
) -> None:
    monkeypatch.setattr(render_module, "RENDER_HERE_UP_TO", 2)
    monkeypatch.setattr(render_module, "workers", lambda: 2)
    submitted = []
    monkeypatch.setattr(
        render_module.AheadRenders, "submit_all", lambda _, todo: submitted.extend(todo)
    )

    ahead = publish_module.render_ahead(LocalStore(tmp_path / "out"), 2024, _reports(reports))

    assert len(submitted) == in_workers
    assert len(ahead.looked_at) == (reports if in_workers else 0)


def test_reports_published_up_to_the_limit_are_rendered_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render_module, "workers", lambda: 2)
    monkeypatch.setattr(render_module, "_render_pool", lambda: pytest.fail("a pool was started"))
    reports = _reports(render_module.RENDER_HERE_UP_TO)[:3]

    rendered = publish_module.render_published(LocalStore(tmp_path / "out"), 2024, reports)

    # Rendered here in one chunk: their PDFs typeset in one Typst compile, the rest as alone.
    for (_, document, quarantine), report in zip(reports, rendered, strict=True):
        assert report.files is not None
        alone = render_module.render_report(document, quarantine)
        assert report.files == {**alone, "report.pdf": report.files["report.pdf"]}
        assert report.files["report.pdf"].startswith(b"%PDF")


def _heartbeat_frequency() -> int | None:
    from prefect import flow
    from prefect.settings import get_current_settings

    @flow(name="heartbeat-setting")
    def heartbeat_setting() -> int | None:
        # What Prefect's flow engine reads to start (or not) its heartbeat thread.
        return get_current_settings().flows.heartbeat_frequency

    from flows.cli.run import _run_flow

    return _run_flow(lambda: heartbeat_setting, None, checked=True)


def test_a_run_started_by_the_command_sends_no_heartbeats(prefect_api, monkeypatch) -> None:
    monkeypatch.delenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", raising=False)

    assert _heartbeat_frequency() is None


def test_a_run_started_by_the_command_keeps_heartbeats_asked_for(prefect_api, monkeypatch) -> None:
    from prefect.settings import get_current_settings

    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "60")

    assert _heartbeat_frequency() == get_current_settings().flows.heartbeat_frequency is not None


def _pool_wanted_in_this_process(answer) -> None:
    answer.put(render_module.worth_a_pool(10 * render_module.RENDER_HERE_UP_TO))


def test_a_daemonic_process_like_a_dask_worker_renders_in_itself_and_starts_no_pool() -> None:
    """A Dask worker is daemonic and may not have children: it renders its batch itself,
    without trying (and warning about) a pool of worker processes for every batch."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    answers = context.Queue()
    for daemon in (True, False):
        process = context.Process(
            target=_pool_wanted_in_this_process, args=(answers,), daemon=daemon
        )
        process.start()
        process.join(timeout=60)
        assert answers.get(timeout=5) is (not daemon and render_module.workers() >= 2)
