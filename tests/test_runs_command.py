"""`nianbao runs` and `runs show`: ids that can be copied and opened again, Beijing times, the
reason a run failed, JSON for scripts, and manifests read where they were written (folder or S3)."""

from __future__ import annotations

import datetime as dt
import errno
import itertools
import json
import os
import uuid
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import flows.cli.runs
from flows.cli import app
from flows.io.store import LocalStore, S3Store
from flows.outputs.publish import RunFailed

GOLDEN = Path(__file__).parent / "golden"
FEES = GOLDEN / "fee_rounding_half_up" / "landing"  # ag-a, ag-b, ag-c, one fee file each
BEIJING = dt.timezone(dt.timedelta(hours=8))


def _listed(*args: str) -> list[dict]:
    listed = CliRunner().invoke(app, ["runs", "--json", *args])
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.stdout)


def _listed_run(run_id: str) -> dict:
    return next(r for r in _listed() if r["flow_run_id"] == run_id)


def _run_of(manifest_uri: str) -> str:
    """The run id in a manifest's name, ``<start>-<run id>.json``."""
    return manifest_uri.rpartition("/")[2].split("-", 1)[1].removesuffix(".json")


def _common_start(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _disk_full_at(key: str, store_class, monkeypatch) -> None:
    """The next write of ``key`` fails as on a full disk (once)."""
    real_write = store_class.write_bytes
    full = [True]

    def write(self, k, data, durable=True):
        if k == key and full:
            full.pop()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), k)
        return real_write(self, k, data, durable)

    monkeypatch.setattr(store_class, "write_bytes", write)


def test_runs_json_lists_a_run_with_its_whole_id_outcome_and_beijing_times(
    compile_landing,
) -> None:
    result = compile_landing(FEES, 2024)

    run = _listed_run(result.run_id)

    assert run["short_id"] == result.run_id[:8]
    assert run["state"] == "Completed" and run["reason"] is None
    assert run["outcomes"][0]["year"] == 2024 and run["outcomes"][0]["agencies"] == 3
    start = dt.datetime.fromisoformat(run["start"])
    assert start.utcoffset() == dt.timedelta(hours=8) and run["start"].endswith("+08:00")
    assert dt.datetime.fromisoformat(run["end"]) >= start


@pytest.mark.parametrize("width", [80, 132])
def test_runs_table_keeps_each_short_id_on_one_line_with_its_beijing_start(
    compile_landing, monkeypatch, width: int
) -> None:
    result = compile_landing(FEES, 2024)
    monkeypatch.setattr(flows.cli.runs, "console", Console(width=width))

    listed = CliRunner().invoke(app, ["runs"])

    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert all(len(line) <= width for line in lines)
    line = next(line for line in lines if result.run_id[:8] in line)
    assert line.split()[0] == result.run_id[:8]  # the whole id cell, not a piece of a folded id
    assert "Completed" in line and "2024" in line and " CST" in line
    # The time shown is the run's start in Beijing time.
    start = dt.datetime.fromisoformat(_listed_run(result.run_id)["start"])
    assert f"{start:%Y-%m-%d %H:%M}" in line


def test_runs_show_opens_a_run_by_id_prefix_and_by_name(compile_landing) -> None:
    result = compile_landing(FEES, 2024)
    name = _listed_run(result.run_id)["name"]

    for ref in (result.run_id[:8], name, result.run_id):
        shown = CliRunner().invoke(app, ["runs", "show", ref])
        assert shown.exit_code == 0, shown.output
        assert result.run_id in shown.output and name in shown.output
        assert "fees" in shown.output and "quarantine: 0 rows" in shown.output
        assert " CST" in shown.output

    as_json = CliRunner().invoke(app, ["runs", "show", "--json", result.run_id[:8]])
    assert as_json.exit_code == 0, as_json.output
    shown = json.loads(as_json.stdout)
    assert shown["flow_run_id"] == result.run_id and shown["start"].endswith("+08:00")
    [manifest] = shown["manifests"]
    assert manifest["uri"] == result.manifest_uri
    assert manifest["manifest"]["run_id"] == result.run_id
    assert sorted(manifest["manifest"]["validation"]["passed"]) == ["ag-a", "ag-b", "ag-c"]


def test_runs_show_refuses_an_ambiguous_or_unknown_run_in_one_line(prefect_api) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client

    @flow(name="placeholder-for-ids")
    def placeholder() -> None:
        pass

    # Seventeen runs: two of them at least share their first hex digit.
    with get_client(sync_client=True) as client:
        created = [client.create_flow_run(placeholder).id for _ in range(17)]
    try:
        ids = sorted(r["flow_run_id"] for r in _listed("--limit", "200"))
        prefix = max((_common_start(a, b) for a, b in itertools.pairwise(ids)), key=len)
        matching = [i for i in ids if i.startswith(prefix)]
        assert len(matching) >= 2

        ambiguous = CliRunner().invoke(app, ["runs", "show", prefix])

        assert ambiguous.exit_code == 2
        [line] = ambiguous.stderr.strip().splitlines()
        assert f"{prefix!r} matches {len(matching)} flow runs" in line
        assert all(i[: max(8, len(prefix) + 1)] in line for i in matching[:10])
        assert ambiguous.stdout == ""

        unknown = CliRunner().invoke(app, ["runs", "show", "not-a-run"])
        assert unknown.exit_code == 2
        [line] = unknown.stderr.strip().splitlines()
        assert "'not-a-run'" in line and unknown.stdout == ""
    finally:
        with get_client(sync_client=True) as client:
            for run_id in created:
                client.delete_flow_run(run_id)


def test_a_failed_run_shows_its_reason_and_what_it_published(
    compile_landing, tmp_path: Path, monkeypatch
) -> None:
    compile_landing(FEES, 2024, run_date=dt.date(2024, 12, 1))  # provisional
    _disk_full_at("reports/year=2024/agency_id=ag-b/report.xlsx", LocalStore, monkeypatch)
    with pytest.raises(RunFailed) as failed:
        compile_landing(FEES, 2024)  # final: its rendered report differs from the provisional
    run_id = _run_of(failed.value.manifest)

    run = _listed_run(run_id)
    assert run["state"] == "Failed" and "No space left on device" in run["reason"]
    assert run["outcomes"] == []
    monkeypatch.setattr(flows.cli.runs, "console", Console(width=132))
    table = CliRunner().invoke(app, ["runs"]).output
    assert "Failed" in next(line for line in table.splitlines() if run_id[:8] in line)

    # The manifest is found under the run's own --out (it left no outcome row).
    shown = CliRunner().invoke(app, ["runs", "show", run_id[:8]])
    assert shown.exit_code == 0, shown.output
    assert "reason:" in shown.output and "No space left on device" in shown.output
    assert "interrupted:" in shown.output
    assert "published: ag-a, ag-c" in shown.output and "not published: ag-b" in shown.output

    as_json = json.loads(CliRunner().invoke(app, ["runs", "show", "--json", run_id]).stdout)
    assert "No space left on device" in as_json["reason"]
    [manifest] = as_json["manifests"]
    assert manifest["manifest"]["status"] == "interrupted"
    assert manifest["manifest"]["not_published"] == ["ag-b"]


def _s3_out(s3_env) -> str:
    bucket = f"published-{uuid.uuid4().hex[:8]}"
    s3_env.client().create_bucket(Bucket=bucket)
    return f"s3://{bucket}/nianbao"


def test_runs_show_reads_the_manifest_of_a_run_published_to_s3(compile_landing, s3_env) -> None:
    out = _s3_out(s3_env)
    result = compile_landing(FEES, 2024, out=out)
    assert result.manifest_uri.startswith(f"{out}/runs/")

    shown = CliRunner().invoke(app, ["runs", "show", result.run_id])

    assert shown.exit_code == 0, shown.output
    assert result.manifest_uri in shown.output
    assert "fees" in shown.output and "quarantine: 0 rows" in shown.output
    assert "reports passed: 3" in shown.output


def test_runs_show_finds_the_interrupted_manifest_of_a_failed_s3_run(
    compile_landing, s3_env, monkeypatch
) -> None:
    out = _s3_out(s3_env)
    compile_landing(FEES, 2024, run_date=dt.date(2024, 12, 1), out=out)
    _disk_full_at("reports/year=2024/agency_id=ag-b/report.xlsx", S3Store, monkeypatch)
    with pytest.raises(RunFailed) as failed:
        compile_landing(FEES, 2024, out=out)
    assert failed.value.manifest.startswith(f"{out}/runs/")
    run_id = _run_of(failed.value.manifest)

    # It left no outcome row: its manifest is found by listing the run's own --out on S3.
    shown = CliRunner().invoke(app, ["runs", "show", run_id])

    assert shown.exit_code == 0, shown.output
    assert failed.value.manifest in shown.output
    assert "interrupted:" in shown.output and "No space left on device" in shown.output
    assert "published: ag-a, ag-c" in shown.output and "not published: ag-b" in shown.output
