"""How a run runs: its id, its retry policy, its task runner, the lock on its locations, and
what is left when it stops part-way. The recipe (flows/recipe.py) says what a run does."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import PurePath
from typing import Any, TypeVar

from prefect import Flow, get_run_logger
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows.io.store import LocalStore, Store
from flows.outputs.history import mark_crashed
from flows.outputs.manifest import interrupted_manifest, write_manifest
from flows.outputs.publish import RunFailed, current_run_id, restore_interrupted
from flows.settings import Settings

T = TypeVar("T")


def is_transient_io_error(task, task_run, state) -> bool:
    """Retry only what a second try can fix: a dropped connection, a timeout, a busy resource.

    A missing file, a permission refused or a bug fails at once: retrying would only delay it.
    """
    try:
        state.result()
    except (ConnectionError, TimeoutError, InterruptedError, BlockingIOError):
        return True
    except Exception:
        return False
    return False


TRANSIENT_IO_RETRIES = {
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": is_transient_io_error,
}


def new_run_id() -> str:
    """The Prefect flow run id when running in a flow, so the manifest and the UI agree."""
    return str(flow_run.get_id() or uuid.uuid4())


def _task_threads() -> int:
    return os.cpu_count() or 2


def default_task_runner() -> ThreadPoolTaskRunner:
    """As many task threads as cores: Polars already fans out inside each task, and more threads
    only fight over the GIL in the Python parts."""
    return ThreadPoolTaskRunner(max_workers=_task_threads())


def _plain(value: Any) -> bool:
    """Whether ``value`` is made only of JSON's kinds of values, dates and paths."""
    if value is None or isinstance(value, (bool, int, float, str, dt.date, PurePath)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, dict) and all(
        isinstance(k, str) and _plain(v) for k, v in value.items()
    )


def _as_json(value: Any) -> Any:
    """A plain value (``_plain``) as FastAPI's ``jsonable_encoder`` writes it."""
    if isinstance(value, dt.date):  # and datetimes
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    return value


class NianbaoFlow(Flow):
    """A Prefect flow whose runs record plain parameters (text, numbers, dates, lists) without
    FastAPI: Prefect imports FastAPI to encode a flow run's parameters, about 0.1 s of every
    command, for values this writes the same way. Anything else is still Prefect's to encode.
    (``with_options`` gives Prefect's own flow: the Dask runs pay the import.)"""

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        plain = {k for k, v in parameters.items() if _plain(v)}
        others = super().serialize_parameters(
            {k: v for k, v in parameters.items() if k not in plain}
        )
        return {k: _as_json(v) if k in plain else others[k] for k, v in parameters.items()}


def nianbao_flow(**options: Any):
    """``prefect.flow(**options)``, giving a :class:`NianbaoFlow`."""
    return lambda fn: NianbaoFlow(fn=fn, **options)


def dask_backed() -> bool:
    """Whether this flow run's tasks go to a Dask cluster."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return bool(context and type(context.task_runner).__name__ == "DaskTaskRunner")


def unvisited(value: T) -> T:
    """``value`` as an argument of a task called in the flow's process (on any task runner):
    quoted, so Prefect does not walk it looking for futures. Walking large collections holds
    the GIL for seconds: 10 s for 400 reports' documents, 25 s for 10,000 agencies' outcomes."""
    return quote(value)  # type: ignore[return-value]


def shipped(value: T) -> T:
    """``value`` as an argument of a task submitted to the task runner. On a Dask cluster it is
    sent to the cluster ahead (only its handle is in the call): Prefect's Dask runner would
    walk it in the flow's process, and Dask turns a quoted value into a tuple. Elsewhere it is
    :func:`unvisited`."""
    if not dask_backed():
        return unvisited(value)
    from prefect.context import FlowRunContext

    [handle] = FlowRunContext.get().task_runner.client.scatter([value], hash=False)
    return handle


def task_slots() -> int:
    """How many tasks this flow run's task runner runs at once: the cluster's worker threads on
    Dask, the thread pool's size elsewhere."""
    from prefect.context import FlowRunContext

    if dask_backed():
        return max(1, sum(FlowRunContext.get().task_runner.client.nthreads().values()))
    return _task_threads()


def results_in_order(submitted: Iterable, ahead: int) -> Iterator:
    """The result of each future ``submitted`` yields, in order, with at most ``ahead`` of them
    submitted and not yet collected.

    ``submitted`` is consumed lazily, so what a submission sends (a batch's documents, on a
    cluster) is sent only when a slot frees, and dropped once its result is in: the flow and
    the workers hold a few batches at a time, not every batch of 50,000 agencies.
    """
    window: deque = deque()
    for future in submitted:
        window.append(future)
        if len(window) >= ahead:
            yield window.popleft().result()
    while window:
        yield window.popleft().result()


def with_task_runner(flow_, dask_address: str | None):
    """The flow as it runs its tasks: threads here, or on the Dask cluster at ``dask_address``."""
    if not dask_address:
        return flow_
    from prefect_dask import DaskTaskRunner

    return flow_.with_options(task_runner=DaskTaskRunner(address=dask_address))


def _lock_order(store: Store) -> str:
    return str(store.root.resolve()) if isinstance(store, LocalStore) else str(store)


@contextmanager
def locked_locations(settings: Settings) -> Iterator[None]:
    """Hold the warehouse and the published output for one run, and repair what a run cut off
    before it left behind (temporary files, a half-published report)."""
    logger = get_run_logger() if flow_run.get_id() else None
    run_id = new_run_id()
    out_store = settings.store(settings.out)
    stores = [settings.store(settings.warehouse), out_store]
    with ExitStack() as stack:
        # Always in the same order (by real path), so two runs sharing both never deadlock.
        cut_off_runs = set()
        for store in sorted(stores, key=_lock_order):
            if cut_off := stack.enter_context(store.lock(run_id)):
                cut_off_runs.add(cut_off.get("run_id"))
                removed = store.remove_partial_writes()
                if logger and removed:
                    logger.warning("removed %d unfinished writes in %s", len(removed), store)
        mark_crashed(sorted(r for r in cut_off_runs if r), by=run_id)
        restored = restore_interrupted(out_store)
        if logger and restored:
            logger.warning(
                "restored the current version of %d report(s) a cut-off run left half-written: %s",
                len(restored),
                ", ".join(restored[:10]),
            )
        yield


def _listed(agency_ids: list[str], most: int = 5) -> str:
    shown = ", ".join(agency_ids[:most])
    return shown + (f" and {len(agency_ids) - most} more" if len(agency_ids) > most else "")


def run_failed(
    out: Store,
    error: Exception,
    *,
    run_id: str,
    year: int,
    agency_ids: list[str],
    parameters: dict,
    started: dt.datetime,
    flow_name: str,
) -> RunFailed:
    """After a run stopped part-way: repair, write an "interrupted" manifest, say what happened."""
    try:
        published = [a for a in agency_ids if current_run_id(out, year, a) == run_id]
    except Exception:  # the output cannot even be read: say nothing was confirmed published
        published = []
    not_published = [a for a in agency_ids if a not in published]
    with suppress(Exception):  # a full disk may refuse this too: the next run's start retries
        restore_interrupted(out)
    manifest = interrupted_manifest(
        run_id, flow_name, parameters, error, started, published, not_published
    )
    counts = f"{len(published)} of {len(agency_ids)} report(s) published"
    if published:
        counts += f" ({_listed(published)})"
    if not_published:
        counts += f"; not published: {_listed(not_published)}"
    try:
        uri = write_manifest(out, manifest, started)
        where = f"manifest: {uri}"
    except Exception as manifest_error:
        uri, where = None, f"the manifest could not be written either ({manifest_error})"
    return RunFailed(
        f"run {run_id} stopped: {error}; {counts}; {where}", published, not_published, uri
    )
