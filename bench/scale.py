"""A whole compile against the least work, on one landing zone (run by hand, never in CI).

    uv run python bench/scale.py bench/out/landing [--runs 2] [--keep] [--again]

In the same run, alternately, each in its own process: the least-work reference (read every
export of the landing zone once, decode it, parse it with Polars and count its rows per agency:
what any tool must do to count) and ``nianbao compile`` of the same zone into a fresh --out and
--warehouse. Prints wall time, CPU time and peak memory of each, and their ratio. With
PREFECT_API_URL set the compile uses that server; without it, the temporary one nianbao starts
(about 6 s more). ``--again`` compiles a second time into the same output, nothing changed:
what a rerun costs when every report is kept. Issue 14 targets: city scale within 2× and ≤ 2 GiB; 5,000 small agencies
within 10×.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LEAST_WORK = r"""
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

root = Path(sys.argv[1])
files = [p for p in root.glob("*/*/**/*") if p.suffix in (".csv", ".json")]


def rows(path: Path) -> tuple[str, int]:
    agency = path.relative_to(root).parts[0]
    data = path.read_bytes()
    if path.suffix == ".json":  # a WeChat export: its articles
        return agency, len(json.loads(data).get("item", []))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # the zone's damaged exports are read too, as far as they go
        text = data.decode("gb18030", errors="replace")
    try:
        return agency, pl.read_csv(text.encode(), infer_schema=False).height
    except pl.exceptions.PolarsError:  # a file no parser can split: nothing to count
        return agency, 0


with ThreadPoolExecutor(8) as pool:
    counted = pl.DataFrame(list(pool.map(rows, files)), schema=["agency", "rows"], orient="row")
per_agency = counted.group_by("agency").agg(pl.col("rows").sum())
print(per_agency.height, "agencies,", int(per_agency["rows"].sum()), "rows")
"""


def background_done() -> None:
    """Wait for the Data Docs a compile left building (``python -m flows.data_docs``, after the
    command returned): not counted, and not left to slow down the next measurement."""
    while any(b"flows.data_docs" in _cmdline(p) for p in Path("/proc").glob("[0-9]*/cmdline")):
        time.sleep(0.2)


def _cmdline(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # the process ended meanwhile
        return b""


def timed(command: list[str], ok: tuple[int, ...] = (0, 1)) -> dict:
    """Wall time, CPU time (user + system) and peak RSS of one command (GNU time: the largest
    of the process and the children it waited for)."""
    # Output to files, not pipes: the Data Docs builder a compile leaves running shares its
    # stderr, and a pipe would make the wait for the command's end include the builder's work.
    with (
        tempfile.NamedTemporaryFile("r") as figures,
        tempfile.TemporaryFile("w+") as stdout,
        tempfile.TemporaryFile("w+") as stderr,
    ):
        started = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%U %S %M", "-o", figures.name, *command],
            stdout=stdout,
            stderr=stderr,
        )
        wall = time.perf_counter() - started
        user, system, peak_kib = figures.read().split()[-3:]
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    if done.returncode not in ok:  # a compile's 1: a report refused, still a whole compile
        sys.exit(f"{command[:3]} failed ({done.returncode}):\n{err[-2000:]}")
    background_done()
    return {
        "wall": wall,
        "cpu": float(user) + float(system),
        "peak_gib": int(peak_kib) / 2**20,
        "out": out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("landing", type=Path)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--year", type=int, default=2024)
    parser.add_argument("--keep", action="store_true", help="keep the last compile's output")
    parser.add_argument(
        "--again",
        action="store_true",
        help="compile a second time into the same output: nothing changed, every report kept",
    )
    args = parser.parse_args()
    agencies = sum(1 for p in args.landing.iterdir() if p.is_dir())
    print(f"landing zone {args.landing}: {agencies} agencies; load {os.getloadavg()[0]:.1f}")
    print(f"Prefect: {os.environ.get('PREFECT_API_URL') or 'temporary server'}")
    for run in range(1, args.runs + 1):
        least = timed([sys.executable, "-c", LEAST_WORK, str(args.landing)], ok=(0,))
        work = Path(tempfile.mkdtemp(prefix="nianbao-scale-", dir=args.landing.parent))
        command = [
            sys.executable, "-m", "flows.cli", "compile", "--year", str(args.year),
            "--landing", str(args.landing), "--out", str(work / "published"),
            "--warehouse", str(work / "warehouse"),
        ]  # fmt: skip
        compiles = {"compile": timed(command)}
        if args.again:
            compiles["unchanged compile"] = timed(command)
        if not args.keep or run < args.runs:
            shutil.rmtree(work)
        print(
            f"run {run}: least work {least['wall']:.2f} s wall, {least['cpu']:.2f} s CPU "
            f"{least['peak_gib']:.2f} GiB ({least['out'].strip()})"
        )
        for name, figures in compiles.items():
            print(
                f"  {name} {figures['wall']:.2f} s wall, {figures['cpu']:.2f} s CPU, "
                f"peak {figures['peak_gib']:.2f} GiB | ratio {figures['wall'] / least['wall']:.1f}× "
                f"wall, {figures['cpu'] / least['cpu']:.1f}× CPU; load {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
