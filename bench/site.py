"""Time the browsable index on N synthetic published agencies (run by hand, never in CI).

    uv run python bench/site.py [N] [--years 2]

Writes, in a temporary folder, what publishing leaves for N agencies and each year (the full
statutory cells of a report, a validation result, the six rendered files as empty stand-ins),
then times ``build_site``: the index of every agency with the pages of none (a run of a few
agencies), and with the pages of all (a full annual run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import polars as pl

from flows.io.store import LocalStore, parquet_bytes
from flows.outputs.layout import RENDERED, cells_key, report_key, validation_key
from flows.outputs.publish import PUBLISHED_COLUMNS
from flows.outputs.site import build_site
from transforms.cells import VALUE_DTYPE, static_cells


def write_dataset(out: LocalStore, agencies: int, years: list[int]) -> pl.DataFrame:
    """Every agency's published report of every year; returns the registry (id, name)."""
    template = static_cells().select("section", "row", "column", "row_label", "column_label")
    channels = pl.DataFrame(
        {
            "section": ["channels"] * 3,
            "row": ["website", "wechat:号", "total"],
            "column": ["items"] * 3,
            "row_label": ["政府网站", "“号”微信公众号", "合计"],
            "column_label": ["条数"] * 3,
        }
    )
    template = pl.concat([channels, template])
    ids = [f"bench-{i:05d}" for i in range(agencies)]
    for year in years:
        for i, agency_id in enumerate(ids):
            cells = template.with_columns(
                value=(pl.int_range(pl.len()) * (i % 7 + year % 3)).cast(VALUE_DTYPE),
                status=pl.lit("final"),
                as_of=pl.lit(dt.date(year, 12, 31)),
                run_id=pl.lit("bench"),
            ).select(PUBLISHED_COLUMNS)
            out.write_bytes(cells_key(year, agency_id), parquet_bytes(cells), durable=False)
            result = {"run_id": "bench", "passed": True, "violations": []}
            out.write_bytes(
                validation_key(year, agency_id), json.dumps(result).encode(), durable=False
            )
            for name in RENDERED:
                out.write_bytes(report_key(year, agency_id, name), b"", durable=False)
    return pl.DataFrame({"agency_id": ids, "name": [f"第{i}局" for i in range(agencies)]})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("agencies", nargs="?", type=int, default=5000)
    parser.add_argument("--years", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = LocalStore(Path(folder) / "out")
        started = time.perf_counter()
        registry = write_dataset(out, args.agencies, list(range(2024 - args.years + 1, 2025)))
        print(f"dataset written in {time.perf_counter() - started:.1f} s")
        for label, pages in (("index only", []), ("index + every page", None)):
            started = time.perf_counter()
            build_site(out, registry, pages)
            took = time.perf_counter() - started
            size = (out.root / "index.html").stat().st_size / 1e6
            print(f"{label}: {took:.2f} s ({args.agencies} agencies, index {size:.1f} MB)")


if __name__ == "__main__":
    main()
