"""Time a compile of many small agencies on a local multi-process Dask cluster (run by hand).

    uv run prefect server start &                      # once: a long-lived Prefect server
    PREFECT_API_URL=http://127.0.0.1:4200/api uv run python bench/dask_scale.py --agencies 50000

Builds bench/out/small-<N>/landing once (bench/make_small_landing.py: nine files per agency,
every source's kind), starts ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``
and runs ``nianbao compile --year 2024 --dask-address <scheduler>`` (the installed entry point,
in its own process: the same flow a deployment runs) from empty --out and --warehouse folders.
Prints, from the same run: the wall and CPU time of the compile (its own process and the
workers'), a least-work reference (a fresh process listing the zone and reading every export
once with Polars, counting rows per agency), their ratio, and from the scheduler's task stream
how the work spread: per worker, how many ingest_source and publish_reports tasks it ran and
their compute time; and the run's timeline (when the cluster was busy, when only the flow
process worked).

A running Prefect server is needed (PREFECT_API_URL): the workers report their task runs to it,
and they start before the compile, so they would not know the address of the temporary server
a compile starts for itself.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


def least_work(landing: Path) -> int:
    """List the zone and read every export once, counting rows per agency; returns the rows."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    import polars as pl

    files = [p for p in landing.glob("*/*/**/*") if p.is_file()]

    def rows(path: Path) -> tuple[str, int]:
        agency = path.relative_to(landing).parts[0]
        if path.suffix == ".json":
            return agency, len(json.loads(path.read_bytes())["item"])
        # Every column as text, undecoded bytes replaced: a GB18030 export counts the same.
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
        return agency, frame.height

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        counted = pl.DataFrame(list(pool.map(rows, files)), schema=["agency", "rows"], orient="row")
    per_agency = counted.group_by("agency").agg(pl.col("rows").sum())
    return int(per_agency["rows"].sum())


def timed(
    command: list[str], peaks: PeakMemory | None = None, **kwargs
) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall time and CPU time (user + sys of the process and its children) of ``command``;
    its peak memory sampled into ``peaks``, when given, as "compile"."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with subprocess.Popen(command, **kwargs) as process:
        if peaks:
            peaks.watch("compile", process.pid)
        stdout, stderr = process.communicate()
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


class PeakMemory:
    """Peak resident memory of processes, sampled every second in a thread (psutil)."""

    def __init__(self, pids: dict[str, int]) -> None:
        import threading

        self.pids, self.peaks = dict(pids), dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def watch(self, name: str, pid: int) -> None:
        self.peaks.setdefault(name, 0)
        self.pids[name] = pid

    def _sample(self) -> None:
        import psutil

        while not self._stop.wait(1.0):
            for name, pid in list(self.pids.items()):
                try:
                    rss = psutil.Process(pid).memory_info().rss
                except psutil.Error:
                    continue
                self.peaks[name] = max(self.peaks[name], rss)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return self.peaks


def worker_cpu() -> float:
    """CPU time (user + sys) of this Dask worker process so far."""
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def task_name(key: object) -> str:
    from dask.utils import key_split

    name = key_split(key)
    return next((n for n in ("ingest_source", "publish_reports") if n in name), name)


def spread(records: list[dict], started_at: float) -> tuple[dict, list[tuple[str, float, float]]]:
    """Per worker and task name: tasks and compute seconds; and each task name's span
    (first start, last stop) in seconds from the compile's start."""
    per_worker: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    spans: dict[str, list[float]] = {}
    for record in records:
        name = task_name(record["key"])
        for part in record.get("startstops", ()):
            if part["action"] != "compute":
                continue
            per_worker[record["worker"]][name].append(part["stop"] - part["start"])
            first, last = spans.get(name, [part["start"], part["stop"]])
            spans[name] = [min(first, part["start"]), max(last, part["stop"])]
    timeline = sorted(
        (name, first - started_at, last - started_at) for name, (first, last) in spans.items()
    )
    return per_worker, sorted(timeline, key=lambda span: span[1])


def task_runs(run_id: str, started_at: float) -> list[tuple[str, int, float, float, float]]:
    """The flow run's task runs from the Prefect server, by task: how many, seconds run in
    all, first start and last end in seconds from the compile's start."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs, page = [], 200
    with get_client(sync_client=True) as client:
        flow_runs = FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        while batch := client.read_task_runs(
            flow_run_filter=flow_runs, limit=page, offset=len(runs)
        ):
            runs += batch
    by_task: dict[str, list] = defaultdict(list)
    for run in runs:
        if run.start_time and run.end_time:
            by_task[run.name.rsplit("-", 1)[0]].append(run)
    return sorted(
        (
            (
                name,
                len(group),
                sum(r.total_run_time.total_seconds() for r in group),
                min(r.start_time.timestamp() for r in group) - started_at,
                max(r.end_time.timestamp() for r in group) - started_at,
            )
            for name, group in by_task.items()
        ),
        key=lambda row: row[3],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agencies", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--least-work", type=Path, help=argparse.SUPPRESS
    )  # the reference's process
    args = parser.parse_args()
    if args.least_work:
        print(least_work(args.least_work))
        return
    if not os.environ.get("PREFECT_API_URL"):
        sys.exit("error: PREFECT_API_URL is not set: start `uv run prefect server start` first")

    base = OUT / f"small-{args.agencies}"
    landing, out, warehouse = base / "landing", base / "published", base / "warehouse"
    if not (landing / "agencies.csv").is_file():
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, ROOT / "bench/make_small_landing.py", landing,
             "--agencies", str(args.agencies)],
            check=True,
        )  # fmt: skip
        print(f"built in {time.perf_counter() - started:.0f} s")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(warehouse, ignore_errors=True)

    ref_wall, ref_cpu, ref = timed(
        [sys.executable, __file__, "--least-work", str(landing)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    print(f"least work: {ref_wall:.1f} s (CPU {ref_cpu:.1f} s), {ref.stdout.strip()} rows")

    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.get_task_stream()  # installs the scheduler's task-stream plugin before the run
        cpu_before = client.run(worker_cpu)
        peaks = PeakMemory({"this process (scheduler)": os.getpid()} | client.run(os.getpid))
        nianbao = Path(sys.executable).parent / "nianbao"
        started_at = time.time()
        wall, cpu, done = timed(
            [nianbao, "compile", "--year", "2024", "--landing", landing, "--out", out,
             "--warehouse", warehouse, "--dask-address", cluster.scheduler_address],
            peaks, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        peak = peaks.stop()
        records = client.get_task_stream(start=started_at)
        cpu_after = client.run(worker_cpu)
    summary = [line for line in done.stdout.splitlines() if "report(s) published" in line]
    print(f"compile exit code {done.returncode}: {' '.join(summary) or done.stderr[-2000:]}")
    workers_cpu = sum(cpu_after[w] - cpu_before[w] for w in cpu_after)
    print(
        f"compile: {wall:.1f} s wall; CPU {cpu:.1f} s in the flow process, "
        f"{workers_cpu:.1f} s in the {args.workers} workers"
    )
    print(
        f"ratio to least work: {wall / ref_wall:.1f}× wall, {(cpu + workers_cpu) / ref_cpu:.1f}× CPU"
    )
    print(f"per agency: {wall / args.agencies * 1000:.2f} ms wall")
    print("peak memory (sampled each second):")
    for name, rss in peak.items():
        print(f"  {name}: {rss / 2**30:.2f} GiB")

    per_worker, timeline = spread(records, started_at)
    print("\nwork on the cluster (from the scheduler's task stream):")
    for worker, names in sorted(per_worker.items()):
        used = cpu_after[worker] - cpu_before[worker]
        shown = ", ".join(
            f"{name} {len(times)} tasks {sum(times):.1f} s" for name, times in sorted(names.items())
        )
        print(f"  {worker}: {shown}; process CPU {used:.1f} s")
    print("\ntimeline (seconds from the compile's start; the rest is the flow process alone):")
    for name, first, last in timeline:
        print(f"  {name}: {first:.1f} → {last:.1f}")
    print(f"  compile ends: {wall:.1f}")

    run_id = summary[0].rsplit("Run ", 1)[-1].strip() if summary else None
    if run_id:
        print("\ntask runs (Prefect server; on the cluster: ingest_source, publish_reports;")
        print("the others in the flow process): tasks, seconds run, first start → last end")
        for name, count, seconds, first, last in task_runs(run_id, started_at):
            print(f"  {name}: {count}, {seconds:.1f} s, {first:.1f} → {last:.1f}")
    (OUT / f"small-{args.agencies}.log").write_text(done.stdout + done.stderr)


if __name__ == "__main__":  # the cluster's worker processes import this module again
    main()
