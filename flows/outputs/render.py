"""One agency's published inputs → its rendered files: every format from one document model.

``render_report`` is the one function that turns a report's ``Document`` and its agency's
quarantine rows into the files published beside its cells (``RENDERED``); ``render_chunk``
does it for several, their PDFs in one Typst compile. ``render_reports`` renders many at once,
in chunks, in a pool of processes sized to the cores.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import polars as pl

from flows.outputs.formats import docx as docx_format
from flows.outputs.formats import html as html_format
from flows.outputs.formats import markdown as markdown_format
from flows.outputs.formats import pdf as pdf_format
from flows.outputs.formats import spreadsheet as sheet_format
from flows.outputs.formats import xlsx as xlsx_format
from flows.outputs.formats.markdown import escape_markdown
from flows.outputs.layout import PROBLEMS_FILE, RENDERED
from transforms.document import Document

__all__ = [
    "RENDER_HERE_UP_TO",
    "AheadRenders",
    "escape_markdown",
    "inputs_hash",
    "render_chunk",
    "render_report",
    "render_reports",
    "workers",
    "worth_a_pool",
]

log = logging.getLogger(__name__)


def render_report(document: Document, quarantine: pl.DataFrame) -> dict[str, bytes]:
    """Every file of one published report, by name (``RENDERED``, in that order).

    ``quarantine`` is the agency's quarantined rows (``QUARANTINE_SCHEMA``): its
    数据问题清单.xlsx, written even when empty so an office sees that nothing was set aside.
    """
    return render_chunk([(document, quarantine)])[0]


def render_chunk(reports: Sequence[tuple[Document, pl.DataFrame]]) -> list[dict[str, bytes]]:
    """``render_report`` of each (document, quarantine), in order, their PDFs typeset in one
    Typst compile (``to_pdfs``: the tables' labels laid out once, not once a report)."""
    pdfs = pdf_format.to_pdfs([document for document, _ in reports])
    problems = xlsx_format.problems_xlsx_each([quarantine for _, quarantine in reports])
    return [
        _rendered(document, pdf, problem_list)
        for (document, _), pdf, problem_list in zip(reports, pdfs, problems, strict=True)
    ]


def _rendered(document: Document, pdf: bytes, problems: bytes) -> dict[str, bytes]:
    page = html_format.to_html(document)
    rendered = {
        "report.md": markdown_format.to_markdown(document).encode(),
        "report.html": page.encode(),
        "report.docx": docx_format.to_docx(document),
        "report.pdf": pdf,
        "report.xlsx": xlsx_format.to_xlsx(document),
        PROBLEMS_FILE: problems,
    }
    assert tuple(rendered) == RENDERED, "RENDERED lists every rendered file"
    return rendered


# Reports per worker task, and per Typst compile: a PDF costs 20-23 ms of CPU in a batch of
# 10, 25 or 50 (bench/render.py --batch) against 35-40 ms alone; 10 keeps the first results
# coming early and a worker's memory small.
CHUNK = 10


def _chunks(n: int) -> list[range]:
    """Positions 0..n-1 in chunks of at most ``CHUNK``, at least one chunk a worker."""
    size = max(1, min(CHUNK, -(-n // workers())))
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


# One pool per process, shared by the publishing tasks running side by side: sized to the cores
# (rendering is CPU-bound), started on first use and kept for the next run of a long-lived worker.
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# Reports rendered in this process rather than in worker processes: a worker's start-up
# (a new interpreter importing Polars, python-docx, Typst: 0.8 s of CPU) costs
# what rendering about 24 reports does (33 ms of CPU each in chunks, bench/render.py). Up to
# this many, the pool would only add two such start-ups on a 2-core machine and contend with
# the run's checks and publishing for the cores (a one-agency compile: 1.6 s of CPU more).
RENDER_HERE_UP_TO = 24


def worth_a_pool(renders: int) -> bool:
    """Whether ``renders`` reports are rendered in worker processes rather than here.

    Never in a daemonic process (a Dask worker's): it may not have children, and the cluster
    already gives each of its cores a worker of its own."""
    daemonic = multiprocessing.current_process().daemon
    return renders > RENDER_HERE_UP_TO and workers() >= 2 and not daemonic


def _render_pool() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawn, not fork: the parent runs threads (Prefect, Polars) a fork would copy mid-lock.
            context = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(
                max_workers=workers(), mp_context=context, initializer=_typeset_on_one_thread
            )
        return _pool


def _typeset_on_one_thread() -> None:
    """In a worker process: Typst lays out on one thread. The pool has a worker a core, and
    Typst's own threads on top of it cost ~10% more CPU a report (measured: 14.4 → 12.9 ms)."""
    os.environ.setdefault("RAYON_NUM_THREADS", "1")


def _drop_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None


def render_reports(reports: list[tuple[Document, pl.DataFrame]]) -> list[dict[str, bytes]]:
    """``render_report`` of each (document, quarantine), in order.

    The reports are rendered in chunks (``render_chunk``); more than ``RENDER_HERE_UP_TO`` on
    a machine with several cores in worker processes (the documents are pickled in, the files'
    bytes come back), fewer, or on one core, in this process. A pool that cannot start or breaks (a
    worker killed, a daemonic Dask worker that may not have children) falls back to rendering
    here: slower, never a failed run.
    """
    chunks = [[reports[i] for i in chunk] for chunk in _chunks(len(reports))]
    if len(chunks) < 2 or not worth_a_pool(len(reports)):
        return [files for chunk in chunks for files in render_chunk(chunk)]
    try:
        pool = _render_pool()
        futures = [pool.submit(render_chunk, chunk) for chunk in chunks]
        return [files for future in futures for files in future.result()]
    except (BrokenProcessPool, AssertionError, OSError) as error:
        log.warning("rendering in worker processes failed (%s): rendering here", error)
        _drop_pool()
        return [files for chunk in chunks for files in render_chunk(chunk)]


class AheadRenders:
    """Reports rendered in worker processes while the run goes on checking them.

    Rendering needs only a report's document and quarantine rows, both known once the cells
    are counted; the checks that follow leave cores idle (Great Expectations is one Python
    thread). Publishing then takes each report's files from here, or renders it itself when
    it was not submitted (a worker failed, a Dask run).
    """

    def __init__(self) -> None:
        # Each report's chunk (rendered by one worker task) and its place in it.
        self._futures: dict[tuple[str, str], tuple[Future, int]] = {}
        # Each report looked at: the digest of its inputs, and its current version's files
        # when they are those of these inputs (an unchanged report, nothing to render).
        self.looked_at: dict[str, tuple[str, dict[str, bytes] | None]] = {}

    def submit(self, agency_id: str, digest: str, document: Document, quarantine: pl.DataFrame):
        self.submit_all([(agency_id, digest, document, quarantine)])

    def submit_all(self, reports: Sequence[tuple[str, str, Document, pl.DataFrame]]) -> None:
        """Render each (agency_id, digest, document, quarantine), in chunks."""
        for chunk in _chunks(len(reports)):
            members = [reports[i] for i in chunk]
            try:
                future = _render_pool().submit(render_chunk, [(d, q) for _, _, d, q in members])
            except (BrokenProcessPool, RuntimeError, OSError) as error:
                log.warning("cannot render ahead in worker processes (%s)", error)
                return
            for place, (agency_id, digest, _, _) in enumerate(members):
                self._futures[(agency_id, digest)] = (future, place)

    def take(self, agency_id: str, digest: str) -> dict[str, bytes] | None:
        """The files rendered for exactly these inputs, or None (publishing renders them)."""
        entry = self._futures.pop((agency_id, digest), None)
        if entry is None:
            return None
        future, place = entry
        try:
            return future.result()[place]
        except (BrokenProcessPool, OSError) as error:
            log.warning(
                "rendering %s in a worker process failed (%s): rendering here", agency_id, error
            )
            _drop_pool()
            return None

    def __len__(self) -> int:
        """How many reports are rendered ahead and not yet taken."""
        return len(self._futures)

    def cancel(self) -> None:
        for future, _ in self._futures.values():
            future.cancel()
        self._futures.clear()


def _renderer_fingerprint() -> str:
    """What else decides the rendered bytes: the format modules' code and the libraries' versions."""
    digest = hashlib.sha256()
    for module in (
        docx_format,
        html_format,
        markdown_format,
        pdf_format,
        xlsx_format,
        sheet_format,
    ):
        digest.update(Path(module.__file__ or "").read_bytes())
    digest.update(pdf_format._template_file().read_bytes())
    for package in ("python-docx", "typst", "pylopdf-fonts-zh-cn"):
        try:
            digest.update(f"{package}={importlib.metadata.version(package)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(package.encode())
    return digest.hexdigest()


_FINGERPRINT = _renderer_fingerprint()


def inputs_hash(document: Document, quarantine: pl.DataFrame) -> str:
    """A digest of everything a report's rendered files are made from: equal digests, equal
    files, so an unchanged report is copied from its current version instead of rendered."""
    digest = hashlib.sha256(_FINGERPRINT.encode())
    digest.update(repr(document).encode())
    digest.update(_as_csv(quarantine).encode())
    return digest.hexdigest()


def _as_csv(quarantine: pl.DataFrame) -> str:
    """The rows as sorted CSV; most reports have none, and their header alone is known."""
    if quarantine.is_empty():
        return _header_csv(tuple(quarantine.columns))
    return quarantine.sort(pl.all()).write_csv()


@functools.cache
def _header_csv(columns: tuple[str, ...]) -> str:
    return pl.DataFrame(schema=dict.fromkeys(columns, pl.String)).write_csv()
