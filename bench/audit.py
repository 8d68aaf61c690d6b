"""Time ``nianbao audit`` on N published reports (run by hand, never in CI).

    uv run python bench/audit.py [N] [--formats html,docx,xlsx]

Compiles the demo landing zone once, renders the demo agency's report N times under N agency
names (the formats taken in turn; pdf and md too once the reader reads them) into a temporary
folder, then runs ``nianbao audit`` on the folder as a user would (a new process: start-up,
reading in worker processes, checks, outputs) and prints the wall time and reports a minute.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from flows.demo.landing import AGENCY, build_demo_landing
from flows.io.ingest import ingest_and_compile
from flows.outputs.formats.docx import to_docx
from flows.outputs.formats.html import to_html
from flows.outputs.formats.pdf import to_pdf
from flows.outputs.formats.xlsx import to_xlsx
from transforms.document import final_report

RENDER = {
    "html": lambda doc: to_html(doc).encode(),
    "docx": to_docx,
    "xlsx": to_xlsx,
    "pdf": to_pdf,
}


def build(folder: Path, n: int, formats: list[str], identical: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        landing = build_demo_landing(Path(scratch) / "landing")
        cells, _ = ingest_and_compile(landing, 2024, dt.date(2025, 1, 20))
    cells = cells.filter(agency_id=AGENCY)
    folder.mkdir(parents=True)
    for i in range(n):
        name = f"重庆市綦江区第{i}局"
        # Every count times i + 1: the balances still hold, and no two agencies' tables are
        # alike (unless --identical: every pair is then a copy, the copy check's worst case).
        scaled = cells if identical else cells.with_columns(pl.col("value") * (i + 1))
        doc = final_report(AGENCY, name, 2024, scaled)
        fmt = formats[i % len(formats)]
        (folder / f"{i:04d}.{fmt}").write_bytes(RENDER[fmt](doc))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=300)
    parser.add_argument("--formats", default="html,docx,xlsx")
    parser.add_argument("--identical", action="store_true", help="the same tables in every report")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        reports = Path(root) / "reports"
        build(reports, args.n, args.formats.split(","), args.identical)
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "flows.cli", "audit", str(reports), "--out", f"{root}/audit"],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
    print(run.stdout.strip().splitlines()[-2] if run.stdout.strip() else run.stderr[-2000:])
    print(
        f"{args.n} reports ({args.formats}): {wall:.1f} s wall, {args.n / wall * 60:.0f} a minute"
    )


if __name__ == "__main__":
    main()
