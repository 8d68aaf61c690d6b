"""Runs in a hostile world: deleted deliveries, two runs at once, a full disk, a run killed
mid-publish, an output that is a file, a umask. Nothing published is lost or left half-written."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import polars as pl
import pytest

from flows.io import store as storage
from flows.io.records import scan_records
from flows.io.store import LocalStore, RunLocked, S3Store, open_store
from flows.outputs.publish import RENDERED, RunFailed
from flows.outputs.versions import unpacked
from tests.helpers import REGISTRY_HEADER, compile_args

GOLDEN = Path(__file__).parent / "golden"
FEES = GOLDEN / "fee_rounding_half_up" / "landing"  # ag-a, ag-b, ag-c, one fee file each
REPO = Path(__file__).parent.parent


def _cells(out: Path, agency: str, year: int = 2024) -> pl.DataFrame:
    return pl.read_parquet(out / f"report_cells/year={year}/agency_id={agency}/data.parquet")


def _reports(out: Path, agency: str, year: int = 2024) -> dict[str, bytes]:
    folder = out / f"reports/year={year}/agency_id={agency}"
    return {name: (folder / name).read_bytes() for name in RENDERED}


def _result_run(out: Path, agency: str, year: int = 2024) -> str:
    path = out / f"validation/year={year}/agency_id={agency}/result.json"
    return json.loads(path.read_text(encoding="utf-8"))["run_id"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_published_files_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        LocalStore(tmp_path).write_bytes("reports/year=2024/agency_id=ag-a/report.md", b"# x")
    finally:
        os.umask(old)
    written = tmp_path / "reports/year=2024/agency_id=ag-a/report.md"
    assert stat.S_IMODE(written.stat().st_mode) == mode


def test_nightly_counts_a_deleted_file_as_a_change(prefect_api, tmp_path: Path) -> None:
    from flows.nightly import nightly_year_to_date

    landing = tmp_path / "landing"
    (landing / "ag-a/licensing").mkdir(parents=True)
    (landing / "agencies.csv").write_text(
        REGISTRY_HEADER + "ag-a,甲局,,,政府网站,否,2\n",
        encoding="utf-8",
    )
    header = "行政许可决定文书号,许可决定日期\n"
    (landing / "ag-a/licensing/march.csv").write_text(
        header + "甲许〔2025〕1号,2025-03-01\n甲许〔2025〕2号,2025-03-02\n", encoding="utf-8"
    )
    (landing / "ag-a/licensing/april.csv").write_text(
        header + "甲许〔2025〕3号,2025-04-01\n", encoding="utf-8"
    )
    out, warehouse = tmp_path / "published", tmp_path / "warehouse"

    def nightly():
        return nightly_year_to_date(
            landing=str(landing),
            out=str(out),
            warehouse=str(warehouse),
            run_date=dt.date(2025, 7, 2),
        )

    def decisions() -> int:
        cells = _cells(out, "ag-a", 2025)
        return int(
            cells.filter(section="proactive", row="licensing", column="decisions")["value"].item()
        )

    nightly()
    assert decisions() == 3

    (landing / "ag-a/licensing/april.csv").unlink()
    second = nightly()

    assert second.deleted_files == ["ag-a/licensing/april.csv"]
    assert second.agencies == ["ag-a"]
    assert decisions() == 2

    (landing / "agencies.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"agencies\.csv was deleted from the landing zone"):
        nightly()
    assert decisions() == 2  # the published reports stay as they were


def test_a_run_on_locations_another_run_holds_fails_clearly_and_publishes_nothing(
    compile_landing, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(storage, "LOCK_WAIT_SECONDS", 0)
    held = r"another nianbao run holds the lock on \S+warehouse \(pid \d+, run other-run, since "
    with LocalStore(tmp_path / "warehouse").lock("other-run"), pytest.raises(RunLocked, match=held):
        compile_landing(FEES, 2024)
    assert not (tmp_path / "published/report_cells").exists()
    assert not (tmp_path / "warehouse/records").exists()


def _compile_two_agencies_at_once(compile_landing, monkeypatch, store, **locations) -> list:
    """Compile ag-a and ag-b side by side on shared locations; the errors they raised.

    Each run pauses before writing a records file until the other one reaches the same point
    (or 10 s pass): without a lock both read the old file first and the last writer wins.
    """
    together = threading.Barrier(2, timeout=10)
    real_write = store.write_bytes

    def write_after_the_other_read(self, key, data, durable=True):
        if key.startswith("records/"):
            # BrokenBarrierError: the other run waits for the lock; nothing to line up with.
            with contextlib.suppress(threading.BrokenBarrierError):
                together.wait()
        return real_write(self, key, data, durable)

    monkeypatch.setattr(store, "write_bytes", write_after_the_other_read)
    failures = []

    def compile_one(agency: str) -> None:
        try:
            compile_landing(FEES, 2024, agencies=[agency], **locations)
        except Exception as error:  # surfaced by the caller
            failures.append(error)

    runs = [threading.Thread(target=compile_one, args=(a,)) for a in ("ag-a", "ag-b")]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    return failures


def test_two_compiles_sharing_a_warehouse_keep_both_agencies_records(
    compile_landing, tmp_path: Path, monkeypatch
) -> None:
    assert _compile_two_agencies_at_once(compile_landing, monkeypatch, LocalStore) == []

    fees = scan_records(LocalStore(tmp_path / "warehouse"), "fees").collect()
    assert set(fees["agency_id"].cast(pl.String)) == {"ag-a", "ag-b"}
    assert {"ag-a", "ag-b"} <= {
        p.name.removeprefix("agency_id=")
        for p in (tmp_path / "published/report_cells/year=2024").iterdir()
    }


def test_a_publish_cut_off_by_a_full_disk_keeps_previous_versions_and_says_what_was_published(
    compile_landing, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "published"
    first = compile_landing(FEES, 2024, run_date=dt.date(2024, 12, 1))  # provisional
    before = _reports(out, "ag-b")

    real_write = LocalStore.write_bytes
    full = [True]

    def disk_full_at_ag_b_spreadsheet(self, key, data, durable=True):
        # ag-b's report.md and report.html are already replaced when its report.xlsx fails;
        # the space comes back at once (the run's own cleanup, another process).
        if key == "reports/year=2024/agency_id=ag-b/report.xlsx" and full:
            full.pop()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.root / key))
        return real_write(self, key, data, durable)

    monkeypatch.setattr(LocalStore, "write_bytes", disk_full_at_ag_b_spreadsheet)
    with pytest.raises(RunFailed, match="No space left on device") as failed:
        compile_landing(FEES, 2024)  # final: its rendered report differs from the provisional
    monkeypatch.setattr(LocalStore, "write_bytes", real_write)

    assert failed.value.not_published == ["ag-b"]
    assert sorted(failed.value.published) == ["ag-a", "ag-c"]
    manifest = json.loads(Path(failed.value.manifest).read_text(encoding="utf-8"))
    assert manifest["status"] == "interrupted"
    assert manifest["published"] == failed.value.published
    assert manifest["not_published"] == ["ag-b"]
    assert "No space left on device" in manifest["error"]
    # ag-b: cells, rendered files and validation result all of the previous version.
    assert set(_cells(out, "ag-b")["run_id"]) == {first.run_id}
    assert _reports(out, "ag-b") == before
    assert _result_run(out, "ag-b") == first.run_id
    cut_off = next(
        p
        for p in (out / "history/year=2024/agency_id=ag-b").iterdir()
        if p.name != f"run_id={first.run_id}.zip"
    )
    assert unpacked(cut_off.read_bytes()).files["report.md"] != before["report.md"]
    # The others: the new version whole.
    assert set(_cells(out, "ag-a")["status"]) == {"final"}
    assert _result_run(out, "ag-a") == _cells(out, "ag-a")["run_id"][0]
    # The locks were released.
    monkeypatch.setattr(storage, "LOCK_WAIT_SECONDS", 0)
    with LocalStore(out).lock("next"), LocalStore(tmp_path / "warehouse").lock("next"):
        pass


@pytest.mark.slow  # runs the lock-and-repair start of a run, Prefect included
def test_the_run_after_a_killed_publish_restores_its_reports_and_removes_partial_files(
    tmp_path: Path, monkeypatch
) -> None:
    from flows.handfilled import agency_for, report_template
    from flows.outputs.publish import Release, begin_publishing, publish_report
    from flows.runtime import locked_locations
    from flows.settings import load_settings
    from transforms.balance import VIOLATION_SCHEMA
    from transforms.period import Period

    out, warehouse = LocalStore(tmp_path / "published"), LocalStore(tmp_path / "warehouse")
    agency = {"agency_id": "ag-a", "name": "甲局", "fee_decimals": 2}
    cells = report_template(agency_for("ag-a", None), 2024).drop("year", "agency_id")
    period = Period.of_year(2024, as_of=dt.date(2024, 12, 31))
    no_violations = pl.DataFrame(schema=VIOLATION_SCHEMA)

    def publish(run_id: str, value: int) -> None:
        publish_report(
            out,
            agency,
            cells.with_columns(value=pl.lit(value, pl.Decimal(18, 4))),
            no_violations,
            Release(period, "final", run_id, []),
        )

    publish("r1", 0)
    before = _reports(out.root, "ag-a")
    # The next run is killed between ag-a's rendered files and its cells.
    begin_publishing(out, 2024, ["ag-a"], "r2")
    real_write = LocalStore.write_bytes

    def killed_at_the_cells(self, key, data, durable=True):
        if key.startswith("report_cells/"):
            raise KeyboardInterrupt  # stands in for SIGKILL: nothing after this runs
        return real_write(self, key, data, durable)

    monkeypatch.setattr(LocalStore, "write_bytes", killed_at_the_cells)
    with pytest.raises(KeyboardInterrupt):
        publish("r2", 7)
    monkeypatch.setattr(LocalStore, "write_bytes", real_write)
    for store in (out, warehouse):
        (store.root / "reports").mkdir(parents=True, exist_ok=True)
        (store.root / "reports/.tmp-abc123.part").write_bytes(b"half")  # a write cut off
        # SIGKILL never reaches the release: the lock file still says "running".
        (store.root / ".lock").write_text('{"pid": 1, "run_id": "r2", "state": "running"}')
    assert _reports(out.root, "ag-a") != before and _result_run(out.root, "ag-a") == "r2"

    settings = load_settings(
        landing=str(tmp_path / "landing"), out=str(out.root), warehouse=str(warehouse.root)
    )
    with locked_locations(settings):
        assert _reports(out.root, "ag-a") == before
        assert _result_run(out.root, "ag-a") == "r1"
        assert set(_cells(out.root, "ag-a")["run_id"]) == {"r1"}
        assert list(tmp_path.rglob(".tmp-*.part")) == []


def test_run_failures_exit_2_before_any_report_and_3_after_some(monkeypatch) -> None:
    from typer.testing import CliRunner

    from flows.cli import run as cli

    def failing(published: list[str]):
        def run(*args, **kwargs):
            raise RunFailed("run r stopped: disk full", published, ["ag-b"], None)

        return run

    for published, code in (([], 2), (["ag-a"], 3)):
        monkeypatch.setattr(cli, "_run_compile", failing(published))
        result = CliRunner().invoke(cli.app, ["compile", "--year", "2024"])
        assert result.exit_code == code
        assert result.stderr.strip() == "error: run r stopped: disk full"


def test_out_that_is_a_file_fails_in_one_line_with_exit_2(prefect_api, tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    not_a_folder = tmp_path / "published"
    not_a_folder.write_text("I am a file")
    environment = os.environ | {"PREFECT_API_URL": PREFECT_API_URL.value(), "COLUMNS": "200"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            *compile_args(str(FEES), str(not_a_folder), str(tmp_path / "warehouse")),
        ],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == f"error: {not_a_folder} is a file, not a folder"
    assert not_a_folder.read_text() == "I am a file"


# S3 has no flock: a conditional PUT of a lock object, renewed while the run lasts.


def _s3_bucket(s3_env) -> str:
    bucket = f"runs-{uuid.uuid4().hex[:8]}"
    s3_env.client().create_bucket(Bucket=bucket)
    return bucket


def test_two_compiles_sharing_an_s3_warehouse_keep_both_agencies_records(
    compile_landing, s3_env, monkeypatch
) -> None:
    bucket = _s3_bucket(s3_env)
    locations = {"out": f"s3://{bucket}/published", "warehouse": f"s3://{bucket}/warehouse"}

    assert _compile_two_agencies_at_once(compile_landing, monkeypatch, S3Store, **locations) == []

    warehouse = open_store(locations["warehouse"], s3_env.endpoint)
    fees = scan_records(warehouse, "fees").collect()
    assert set(fees["agency_id"].cast(pl.String)) == {"ag-a", "ag-b"}
    left = s3_env.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    assert not [o["Key"] for o in left if o["Key"].endswith("/.lock")]  # released at the end


def test_an_s3_prefix_another_run_holds_fails_clearly_after_the_wait(s3_env, monkeypatch) -> None:
    bucket = _s3_bucket(s3_env)
    monkeypatch.setattr(storage, "LOCK_WAIT_SECONDS", 0.1)
    holder = open_store(f"s3://{bucket}/published", s3_env.endpoint)
    with holder.lock("first-run") as cut_off:
        assert cut_off is None
        second = open_store(f"s3://{bucket}/published", s3_env.endpoint)
        with pytest.raises(RunLocked, match="first-run"), second.lock("second-run"):
            pass
    with open_store(f"s3://{bucket}/published", s3_env.endpoint).lock("third-run") as cut_off:
        assert cut_off is None  # the first run released it in order


def test_an_s3_lock_left_by_a_dead_run_is_taken_over_once_its_lease_ran_out(
    s3_env, monkeypatch
) -> None:
    bucket = _s3_bucket(s3_env)
    dead = b'{"pid": 1, "run_id": "killed-run", "state": "running"}'
    s3_env.client().put_object(Bucket=bucket, Key="published/.lock", Body=dead)
    monkeypatch.setattr(storage, "LOCK_WAIT_SECONDS", 0.1)
    store = open_store(f"s3://{bucket}/published", s3_env.endpoint)
    # Its lease has not run out yet: the next run waits, then says who holds it.
    with pytest.raises(RunLocked, match="killed-run"), store.lock("next-run"):
        pass

    monkeypatch.setattr(storage, "S3_LOCK_LEASE_SECONDS", 0.0)
    with store.lock("next-run") as cut_off:
        assert cut_off["run_id"] == "killed-run"
        body = s3_env.client().get_object(Bucket=bucket, Key="published/.lock")["Body"].read()
        assert json.loads(body)["run_id"] == "next-run"


def test_a_run_killed_holding_the_lock_is_marked_crashed_by_the_next_run(
    compile_landing, tmp_path: Path
) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    @flow(name="compile-annual-reports")
    def killed() -> None: ...

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(killed, state=Running())
    # What a run killed by SIGKILL leaves: its lock file still says "running".
    (tmp_path / "warehouse").mkdir()
    (tmp_path / "warehouse/.lock").write_text(
        json.dumps({"pid": 999999, "run_id": str(run.id), "state": "running"})
    )

    compile_landing(FEES, 2024)

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state.is_crashed()
    assert "killed while holding the run lock" in state.message
