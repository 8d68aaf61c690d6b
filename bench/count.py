"""Time counting N normalized records against one streaming group-by of them (run by hand).

    uv run python bench/count.py [N] [--agencies 2000]

Writes N synthetic, schema-true normalized records (nine sources, in the proportions below,
dates over 2023 to mid-2025) once, as the warehouse stores them (``records/<source>.parquet``,
sorted by agency), under bench/out/count/<N>/, and reuses them on later runs. Then, each in its
own process so each has its own peak memory:

- reference: one streaming group-by per source by the keys counting needs (agency, the category
  columns, each date's year; fees summed), all collected in one streaming query: the least work;
- counting: the compile's counting as the flow calls it (``scan_stored_records`` of every source,
  then ``compile_cells``), for report year 2024.

Runs each ``--repeat`` times (default 3), in turn; prints each one's best run (wall and CPU
time after imports, peak RSS) and every run's wall time, and the ratios of the two best runs
(CPU time is the steadier figure when other work shares the cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

OUT = Path(__file__).parent / "out" / "count"
YEAR = 2024
FIRST_DAY = dt.date(2023, 1, 1)
DAYS = 912  # 2023-01-01 to 2025-06-30: the year before, the year, half the year after
CHUNK = 5_000_000  # rows generated and written at a time
SHARES = {  # of N, in per mille: decisions dominate, as in real registers
    "penalty": 450,
    "licensing": 250,
    "enforcement": 50,
    "website": 100,
    "wechat": 40,
    "documents": 10,
    "fees": 60,
    "requests": 30,
    "appeals": 10,
}


def _pick(i: pl.Expr, seed: int, n: int) -> pl.Expr:
    """A pseudo-random integer in [0, n) per row, from the row number (no Python loop)."""
    return (i.hash(seed) % n).cast(pl.Int64)


def _day(i: pl.Expr, seed: int) -> pl.Expr:
    return pl.lit(FIRST_DAY) + pl.duration(days=_pick(i, seed, DAYS))


def _choice(i: pl.Expr, seed: int, values: list[str]) -> pl.Expr:
    return pl.lit(pl.Series(values)).get(_pick(i, seed, len(values)))


def _or_null(i: pl.Expr, seed: int, per_mille: int, value: pl.Expr) -> pl.Expr:
    return pl.when(_pick(i, seed, 1000) < per_mille).then(None).otherwise(value)


def _fields(source: str, i: pl.Expr, agency: pl.Expr) -> dict[str, pl.Expr]:
    from transforms.cells import OUTCOME_ROWS
    from transforms.counting import REFUSAL_GROUPS
    from transforms.sources import DISCLOSED_REASON, SOURCES

    categories = {f.name: list(f.dtype.categories) for f in SOURCES[source].fields if f.categories}
    key = i.cast(pl.String)
    if source in {"penalty", "licensing", "enforcement"}:
        fields = {"decision_no": key, "decided_on": _day(i, 1)}
        if source == "enforcement":
            fields["measure"] = _choice(i, 2, categories["measure"])
        return fields
    if source == "website":
        return {
            "item_id": key,
            "title": pl.lit(None, pl.String),
            "published_on": _day(i, 1),
            "disclosure": _choice(i, 2, ["proactive"] * 8 + categories["disclosure"]),
            "state": _choice(i, 3, ["published"] * 9 + ["withdrawn"]),
        }
    if source == "wechat":
        return {
            "article_key": key,
            "account": pl.format("号{}-{}", agency, _pick(i, 2, 2)),
            "title": pl.lit(None, pl.String),
            "published_on": _day(i, 1),
            "is_deleted": _pick(i, 3, 50) == 0,
        }
    if source == "documents":
        published = _day(i, 1)
        return {
            "document_no": key,
            "title": pl.lit(None, pl.String),
            "category": _choice(i, 2, categories["category"]),
            "published_on": published,
            "repealed_on": _or_null(i, 3, 900, published + pl.duration(days=_pick(i, 4, 400))),
        }
    if source == "fees":
        return {
            "receipt_no": key,
            "fee_item": pl.lit(None, pl.String),
            "paid_on": _day(i, 1),
            "amount_fen": _pick(i, 2, 2_000_000) - 100_000,
        }
    if source == "requests":
        # Consistent as the normalizer leaves them: a refusal names its reasons (the first of
        # the result's group), a partial disclosure a disclosed item and a refused one.
        group_of = {row: group for row, _, group in OUTCOME_ROWS if group in REFUSAL_GROUPS}
        first, second = _choice(i, 6, list(group_of)), _choice(i, 7, list(group_of))
        kind = _pick(i, 5, 10)
        received = _day(i, 1)
        concluded = _or_null(i, 3, 100, received + pl.duration(days=_pick(i, 4, 40)))
        result = (
            pl.when(kind < 5)
            .then(pl.lit("disclosed"))
            .when(kind == 5)
            .then(pl.lit("partially_disclosed"))
            .otherwise(first.replace_strict(group_of))
        )
        reasons = (
            pl.when(kind < 5)
            .then(None)
            .when(kind == 5)
            .then(pl.concat_list(pl.lit(DISCLOSED_REASON), first))
            .otherwise(pl.concat_list(first, second).list.head(1 + _pick(i, 8, 2)))
        )
        return {
            "request_id": key,
            "received_on": received,
            "applicant_type": _choice(i, 2, categories["applicant_type"]),
            "concluded_on": concluded,
            "result": pl.when(concluded.is_not_null()).then(result),
            "reasons": pl.when(concluded.is_not_null()).then(reasons),
        }
    if source == "appeals":
        filed = _day(i, 1)
        concluded = _or_null(i, 3, 300, filed + pl.duration(days=_pick(i, 4, 200)))
        case_type = _choice(i, 2, categories["case_type"])
        return {
            "case_no": key,
            "case_type": case_type,
            "route": pl.when(case_type == "litigation").then(_choice(i, 5, categories["route"])),
            "filed_on": filed,
            "concluded_on": concluded,
            "result": pl.when(concluded.is_not_null()).then(_choice(i, 6, categories["result"])),
        }
    raise ValueError(source)


def _generate(source: str, rows: int, agencies: int, folder: Path) -> None:
    from transforms.sources import SOURCES

    schema = SOURCES[source].record_schema
    schema = pl.Schema({**schema, "agency_id": pl.String()})  # as store_records writes it
    chunks = []
    for start in range(0, rows, CHUNK):
        i = pl.col("i")
        # Rows numbered in agency order: the file is sorted by agency, as the warehouse's is.
        agency = (i * agencies // rows).cast(pl.String).str.zfill(5)
        lineage = {
            "agency_id": pl.format("ag-{}", agency),
            "file": pl.format("ag-{}/{}/2024.csv", agency, pl.lit(source)),
            "row": (i % 100_000).cast(pl.UInt32) + 2,
            "delivered_at": pl.lit(dt.datetime(2025, 1, 5, tzinfo=dt.UTC)),
        }
        chunk = (
            pl.LazyFrame()
            .select(i=pl.int_range(start, min(start + CHUNK, rows), dtype=pl.Int64))
            .select(**lineage, **_fields(source, i, agency))
        )
        chunks.append(chunk.select(schema.names()).cast(dict(schema)))
    target = folder / "records" / f"{source}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    pl.concat(chunks).sink_parquet(target, compression="zstd", statistics=True)


def _agencies(n: int) -> pl.DataFrame:
    """A registry of n agencies, each with 政府网站 and the two WeChat accounts generated."""
    from transforms.sources import AGENCY_SCHEMA

    idx = pl.int_range(n).cast(pl.String).str.zfill(5)
    return pl.select(
        agency_id="ag-" + idx,
        name="机关" + idx,
        credit_code=pl.lit(None, pl.String),
        parent_id=pl.lit(None, pl.String),
        channels=pl.concat_list(pl.lit("政府网站"), "号" + idx + "-0", "号" + idx + "-1"),
        has_rulemaking_power=True,
        fee_decimals=2,
    ).cast(dict(AGENCY_SCHEMA))


def build(folder: Path, rows: int, agencies: int) -> None:
    if (folder / "done").exists():
        return
    for source, share in SHARES.items():
        started = time.perf_counter()
        _generate(source, rows * share // 1000, agencies, folder)
        print(f"generated {source}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    (folder / "done").write_text(json.dumps({"rows": rows, "agencies": agencies}))


def reference(folder: Path) -> None:
    """One streaming group-by per source by the keys counting needs, all in one query."""

    def keyed(source: str, *keys: str, sum_of: str | None = None) -> pl.LazyFrame:
        scan = pl.scan_parquet(folder / "records" / f"{source}.parquet")
        dates = [c for c in scan.collect_schema().names() if c.endswith("_on")]
        agg = pl.col(sum_of).sum() if sum_of else pl.len()
        return scan.group_by("agency_id", *keys, *(pl.col(d).dt.year() for d in dates)).agg(agg)

    queries = [
        keyed("website", "disclosure", "state"),
        keyed("wechat", "account", "is_deleted"),
        keyed("documents", "category"),
        keyed("licensing"),
        keyed("penalty"),
        keyed("enforcement"),
        keyed("fees", sum_of="amount_fen"),
        keyed("requests", "applicant_type", "result"),
        keyed("appeals", "case_type", "route", "result"),
    ]
    groups = pl.collect_all(queries, engine="streaming")
    print(f"{sum(g.height for g in groups):,} groups", file=sys.stderr)


def counting(folder: Path) -> None:
    """nianbao's counting as flows/recipe.py ``count`` calls it."""
    from flows.io.store import LocalStore
    from flows.steps import compile_cells, scan_stored_records
    from transforms.period import Period
    from transforms.report import CountingRules
    from transforms.sources import SOURCES

    spec = json.loads((folder / "done").read_text())
    agencies = _agencies(spec["agencies"])
    ids = agencies["agency_id"].to_list()
    warehouse = LocalStore(folder)
    records = {name: scan_stored_records(warehouse, name, ids) for name in SOURCES}
    cells = compile_cells.fn(records, agencies, Period.of_year(YEAR), CountingRules())
    print(f"{cells.height:,} cells", file=sys.stderr)


def _measure(task: str, folder: Path) -> dict:
    """Run one task in a new process: its wall time (imports excluded) and its peak RSS."""
    done = subprocess.run(
        [sys.executable, __file__, "--task", task, "--folder", str(folder)],
        capture_output=True,
        text=True,
    )
    print(done.stderr.strip(), file=sys.stderr)
    done.check_returncode()
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=100_000_000)
    parser.add_argument("--agencies", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best taken")
    parser.add_argument("--task", choices=["reference", "counting"])
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.task:
        if args.task == "counting":  # imports first: the flow's process has them already
            import flows.steps  # noqa: F401
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        {"reference": reference, "counting": counting}[args.task](args.folder)
        wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
        peak = usage.ru_maxrss * 1024  # kB on Linux
        print(json.dumps({"wall": wall, "cpu": cpu, "peak": peak}))
        return
    folder = OUT / f"{args.rows}-{args.agencies}"
    build(folder, args.rows, args.agencies)
    size = sum(f.stat().st_size for f in (folder / "records").iterdir())
    print(f"{args.rows:,} records of {args.agencies:,} agencies, {size / 2**30:.2f} GiB of parquet")
    # Taken in turn, each a few times: other work on the machine changes both alike, and the
    # best of each is the least disturbed.
    runs: dict[str, list[dict]] = {"reference": [], "counting": []}
    for _ in range(args.repeat):
        for task, measured in runs.items():
            measured.append(_measure(task, folder))
    best = {task: min(m, key=lambda r: r["wall"]) for task, m in runs.items()}
    names = {"reference": "reference (one streaming group-by)", "counting": "nianbao counting"}
    for task, m in best.items():
        walls = ", ".join(f"{r['wall']:.2f}" for r in runs[task])
        print(
            f"{names[task]:36} {m['wall']:6.2f} s  cpu {m['cpu']:5.2f} s  "
            f"peak {m['peak'] / 2**30:.2f} GiB  (walls {walls})"
        )
    ratio = best["counting"]["wall"] / best["reference"]["wall"]
    cpu_ratio = best["counting"]["cpu"] / best["reference"]["cpu"]
    print(f"ratio {ratio:.2f} wall, {cpu_ratio:.2f} cpu (best of {args.repeat})")


if __name__ == "__main__":
    main()
