"""Time rendering one report to each format (run by hand, never in CI).

    uv run python bench/render.py [N] [--batch B ...]

Builds the demo landing zone in a temporary folder, compiles its cells (flows/io/ingest.py),
builds the demo agency's Document N times (N different agency names: Typst memoizes a
compile of identical input, which a compile never repeats) and prints the milliseconds per
report of each format: html, xlsx, docx, pdf (Typst, from the Document). The first render
of each format (imports, font loading) is timed apart as "first"; "cpu" is the process's CPU
time, less noisy than the wall clock on a shared machine. ``--batch B`` adds a row per B: the
PDFs of the N documents typeset B at a time (``to_pdfs``: one Typst compile per batch).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flows.demo.landing import AGENCY, build_demo_landing
from flows.io.ingest import ingest_and_compile
from flows.outputs.formats.docx import to_docx
from flows.outputs.formats.html import to_html
from flows.outputs.formats.pdf import to_pdf, to_pdfs
from flows.outputs.formats.xlsx import to_xlsx
from transforms.document import Document, report_document


def documents(n: int) -> list[Document]:
    with tempfile.TemporaryDirectory() as folder:
        landing = build_demo_landing(Path(folder) / "landing")
        cells, _ = ingest_and_compile(landing, 2024, dt.date(2025, 1, 20))
    cells = cells.filter(agency_id=AGENCY)
    return [
        report_document(
            {"agency_id": AGENCY, "agency_name": f"重庆市綦江区城市管理局{i}"},
            2024,
            "final",
            "2024年1月1日至2024年12月31日",
            cells,
            None,
            None,
            2,
        )
        for i in range(n)
    ]


FORMATS: dict[str, Callable[[Document], object]] = {
    "html": to_html,
    "xlsx": to_xlsx,
    "docx": to_docx,
    "pdf": to_pdf,
}


class _Batches:
    """to_pdfs of a list of documents, ``size`` at a time."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, doc: Document) -> object:
        return to_pdfs([doc])

    def all(self, docs: list[Document]) -> None:
        for start in range(0, len(docs), self.size):
            to_pdfs(docs[start : start + self.size])


def _batches(size: int) -> _Batches:
    return _Batches(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=50, help="documents per format")
    parser.add_argument(
        "--batch", type=int, action="append", default=[], help="PDFs per Typst compile"
    )
    args = parser.parse_args()
    docs = documents(args.n + 1)
    formats = dict(FORMATS)
    for size in args.batch:
        formats[f"pdf batch {size}"] = _batches(size)
    wall_total = cpu_total = 0.0
    print(f"{'format':<15} {'first ms':>9} {'ms/report':>10} {'cpu ms':>8}  (N={args.n})")
    for name, render in formats.items():
        start = time.perf_counter()
        render(docs[-1])
        first = time.perf_counter() - start
        start, start_cpu = time.perf_counter(), time.process_time()
        if isinstance(render, _Batches):
            render.all(docs[:-1])
        else:
            for doc in docs[:-1]:
                render(doc)
        wall = (time.perf_counter() - start) / args.n
        cpu = (time.process_time() - start_cpu) / args.n
        if name in FORMATS:
            wall_total, cpu_total = wall_total + wall, cpu_total + cpu
        print(f"{name:<15} {first * 1000:9.1f} {wall * 1000:10.2f} {cpu * 1000:8.2f}")
    print(f"{'all (4 formats)':<15} {'':>9} {wall_total * 1000:10.2f} {cpu_total * 1000:8.2f}")


if __name__ == "__main__":
    main()
