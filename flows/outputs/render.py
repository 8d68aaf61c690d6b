"""One agency's published inputs → its rendered files: every format from one document model.

``render_report`` is the one function that turns a report's ``Document`` and its agency's
quarantine rows into the files published beside its cells (``RENDERED``). ``render_reports``
renders many at once, the slow formats (Word, PDF) in a pool of processes sized to the cores.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl

from flows.outputs.formats import docx as docx_format
from flows.outputs.formats import html as html_format
from flows.outputs.formats import markdown as markdown_format
from flows.outputs.formats import pdf as pdf_format
from flows.outputs.formats import xlsx as xlsx_format
from flows.outputs.formats.markdown import escape_markdown
from flows.outputs.layout import PROBLEMS_FILE, RENDERED
from transforms.cells import (
    APPEALS_COLUMNS,
    APPEALS_ROWS,
    CHANNEL_COLUMN,
    PROACTIVE_ROWS,
    REQUEST_COLUMNS,
    REQUEST_ROWS,
    SECTION_TITLES,
    Unit,
    unit,
)
from transforms.document import Document

__all__ = ["escape_markdown", "inputs_hash", "render_report", "render_reports"]

log = logging.getLogger(__name__)


def render_report(document: Document, quarantine: pl.DataFrame) -> dict[str, bytes]:
    """Every file of one published report, by name (``RENDERED``, in that order).

    ``quarantine`` is the agency's quarantined rows (``QUARANTINE_SCHEMA``): its
    数据问题清单.xlsx, written even when empty so an office sees that nothing was set aside.
    """
    page = html_format.to_html(document)
    rendered = {
        "report.md": markdown_format.to_markdown(document).encode(),
        "report.html": page.encode(),
        "report.docx": docx_format.to_docx(document),
        "report.pdf": pdf_format.to_pdf(document),
        "report.xlsx": xlsx_format.to_xlsx(document),
        PROBLEMS_FILE: xlsx_format.problems_xlsx(quarantine),
    }
    assert tuple(rendered) == RENDERED, "RENDERED lists every rendered file"
    return rendered


def _render_args(args: tuple[Document, pl.DataFrame]) -> dict[str, bytes]:
    return render_report(*args)


# One pool per process, shared by the publishing tasks running side by side: sized to the cores
# (rendering is CPU-bound), started on first use and kept for the next run of a long-lived worker.
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _render_pool() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawn, not fork: the parent runs threads (Prefect, Polars) a fork would copy mid-lock.
            context = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(max_workers=_workers(), mp_context=context)
        return _pool


def _drop_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None


def render_reports(reports: list[tuple[Document, pl.DataFrame]]) -> list[dict[str, bytes]]:
    """``render_report`` of each (document, quarantine), in order.

    Several reports on a machine with several cores are rendered in worker processes (the
    documents are pickled in, the files' bytes come back); one report, or one core, in this
    process. A pool that cannot start or breaks (a worker killed, a daemonic Dask worker that
    may not have children) falls back to rendering here: slower, never a failed run.
    """
    if len(reports) < 2 or _workers() < 2:
        return [render_report(*report) for report in reports]
    try:
        chunk = max(1, len(reports) // (_workers() * 4))
        return list(_render_pool().map(_render_args, reports, chunksize=chunk))
    except (BrokenProcessPool, AssertionError, OSError) as error:
        log.warning("rendering in worker processes failed (%s): rendering here", error)
        _drop_pool()
        return [render_report(*report) for report in reports]


def _renderer_fingerprint() -> str:
    """What else decides the rendered bytes: the format modules' code and the libraries' versions."""
    digest = hashlib.sha256()
    for module in (docx_format, html_format, markdown_format, pdf_format, xlsx_format):
        digest.update(Path(module.__file__ or "").read_bytes())
    for package in ("python-docx", "typst", "xlsxwriter", "pylopdf-fonts-zh-cn"):
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
    digest.update(quarantine.sort(pl.all()).write_csv().encode())
    return digest.hexdigest()


# ---- the statutory tables as flat rows (the reader of old-layout workbooks in
# flows/handfilled.py still uses them) -------------------------------------------------------

_OUTCOME_PREFIX = "三、本年度办理结果 "


@dataclass(frozen=True)
class ReportTable:
    title: str
    header: list[str]
    rows: list[list[str]]


def _format(value: Decimal, decimals: int = 0) -> str:
    return f"{value:.{decimals}f}"


def report_tables(cells: pl.DataFrame, fee_decimals: int) -> list[ReportTable]:
    """The four statutory tables of one agency's report, from its cells."""
    value = {
        (s, r, c): v for s, r, c, v in cells.select("section", "row", "column", "value").iter_rows()
    }
    channels = cells.filter(section="channels")
    tables = [
        ReportTable(
            SECTION_TITLES["channels"],
            ["渠道", CHANNEL_COLUMN[1]],
            [[label, _format(v)] for label, v in channels.select("row_label", "value").iter_rows()],
        )
    ]
    proactive_rows = []
    for row, label, group, columns in PROACTIVE_ROWS:
        decimals = fee_decimals if unit("proactive", row) is Unit.TEN_THOUSAND_YUAN else 0
        for column, column_label in columns:
            proactive_rows.append(
                [group, label, column_label, _format(value["proactive", row, column], decimals)]
            )
    tables.append(
        ReportTable(
            SECTION_TITLES["proactive"], ["条款", "信息内容", "项目", "数量"], proactive_rows
        )
    )
    tables.append(
        ReportTable(
            SECTION_TITLES["requests"],
            ["", *(label for _, label in REQUEST_COLUMNS)],
            [
                [
                    label.removeprefix(_OUTCOME_PREFIX),
                    *(_format(value["requests", row, c]) for c, _ in REQUEST_COLUMNS),
                ]
                for row, label in REQUEST_ROWS
            ],
        )
    )
    tables.append(
        ReportTable(
            SECTION_TITLES["appeals"],
            ["", *(label for _, label in APPEALS_COLUMNS)],
            [
                [label, *(_format(value["appeals", row, c]) for c, _ in APPEALS_COLUMNS)]
                for row, label in APPEALS_ROWS
            ],
        )
    )
    return tables
