"""Time the snapshot of a year against reading ``report_cells`` (run by hand, never in CI).

    uv run python bench/snapshot.py [N]

Publishes N agencies' cells (203 each, as ``report_cells`` holds them) into a temporary folder,
then prints, each beside its least-work reference measured in the same run:
- building the whole snapshot from the run's cells vs writing those rows once as one file;
- a one-agency run's refresh vs reading and writing that agency's own cells file;
- a consumer reading the year from the snapshot vs from N ``report_cells`` files.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time

import polars as pl

from flows.handfilled import agency_for, report_template
from flows.io.store import LocalStore, parquet_bytes
from flows.outputs.layout import cells_key
from flows.outputs.publish import PUBLISHED_COLUMNS, Release
from flows.outputs.snapshot import publish_snapshot
from transforms.period import Period

PERIOD = Period.of_year(2024, as_of=dt.date(2024, 12, 31))


def timed(what, *args):
    start = time.perf_counter()
    result = what(*args)
    return time.perf_counter() - start, result


def main(n: int) -> None:
    one = report_template(agency_for("x", None), 2024).drop("year", "agency_id")
    one = one.with_columns(value=pl.lit(1, pl.Decimal(18, 4)))
    ids = [f"ag-{i:05d}" for i in range(n)]
    cells = pl.DataFrame({"agency_id": ids}).join(one, how="cross")
    release = Release(PERIOD, "final", "r1", [])
    published = cells.with_columns(status=pl.lit("final"), as_of=PERIOD.end, run_id=pl.lit("r1"))
    with tempfile.TemporaryDirectory() as folder:
        out = LocalStore(folder)
        written = [
            out.write_bytes(cells_key(2024, a), parquet_bytes(mine.select(PUBLISHED_COLUMNS)))
            for (a,), mine in published.partition_by("agency_id", as_dict=True).items()
        ]
        build, _ = timed(publish_snapshot, out, release, ids, cells, written)
        once, _ = timed(lambda: parquet_bytes(published.with_columns(year=2024)))
        print(f"{n} agencies, {cells.height} cells")
        print(f"whole snapshot built: {build:.2f} s; one file of the rows written: {once:.2f} s")

        rerun, _ = timed(
            publish_snapshot, out, Release(PERIOD, "final", "r1b", []), ids, cells, written
        )
        print(f"every part rewritten by a rerun of all: {rerun:.2f} s")

        agency = ids[n // 2]
        mine = cells.filter(agency_id=agency)
        again = Release(PERIOD, "final", "r2", [])
        refresh, _ = timed(
            publish_snapshot, out, again, [agency], mine, [out.uri(cells_key(2024, agency))]
        )
        key = cells_key(2024, agency)
        least, _ = timed(lambda: out.write_bytes(key, out.read_bytes(key)))
        print(
            f"one-agency refresh: {refresh * 1000:.0f} ms; its own cells read and written: {least * 1000:.1f} ms"
        )

        snapshot, rows = timed(lambda: pl.read_parquet(f"{folder}/snapshots/year=2024/*.parquet"))
        files, all_rows = timed(
            lambda: pl.read_parquet(
                f"{folder}/report_cells/year=2024/*/data.parquet", hive_partitioning=True
            )
        )
        assert rows.height == all_rows.height == cells.height
        print(f"read the year: snapshot {snapshot:.2f} s; report_cells ({n} files) {files:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
