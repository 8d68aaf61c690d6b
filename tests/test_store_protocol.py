"""The typed store (issue 10 item 3): local and S3 locations satisfy one ``Store`` protocol, local
and S3 landing zones one ``Landing`` protocol, and the manifest's ``inputs`` rows are typed records
whose JSON keeps the keys and order the manifest always had."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl

from flows.io.landing import (
    Landing,
    LocalLanding,
    ManifestInput,
    RegistryInput,
    S3Landing,
    group_files,
    read_source,
)
from flows.io.registry import load_registry
from flows.io.store import LocalStore, S3Store, Store
from flows.results import CompileResult
from flows.steps import record_run
from tests.helpers import ONE_AGENCY_REGISTRY
from transforms.period import Period
from transforms.sources import SOURCES

FEES_CSV = "票据号,收费项目,缴款日期,金额（元）\nF1,复印费,2024-03-01,1.00\n".encode()
DELIVERED = dt.datetime(2025, 1, 10, tzinfo=dt.UTC)


def test_local_and_s3_stores_satisfy_the_store_protocol(tmp_path) -> None:
    # No request is made: the client is never called while checking the shape.
    stores = [LocalStore(tmp_path), S3Store("s3://bucket/prefix", client=None)]

    assert all(isinstance(store, Store) for store in stores)


def test_local_and_s3_landings_satisfy_the_landing_protocol(tmp_path) -> None:
    zones = [LocalLanding(tmp_path), S3Landing(S3Store("s3://bucket/landing", client=None))]

    assert all(isinstance(zone, Landing) for zone in zones)


def test_a_folder_path_is_not_taken_for_a_landing_zone(tmp_path) -> None:
    # ingest_and_compile opens a path as a local zone and uses a Landing as it is.
    assert not isinstance(tmp_path, Landing) and not isinstance(str(tmp_path), Landing)


def _landing(root: Path) -> LocalLanding:
    for path, data in [
        ("agencies.csv", ONE_AGENCY_REGISTRY.encode()),
        ("ag-a/fees/a.csv", FEES_CSV),
        ("ag-a/fees/resent/a.csv", FEES_CSV),  # the same content again: a duplicate delivery
    ]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
        os.utime(root / path, (DELIVERED.timestamp(), DELIVERED.timestamp()))
    return LocalLanding(root)


def test_the_manifest_lists_its_inputs_with_the_same_keys_in_the_same_order(tmp_path) -> None:
    zone = _landing(tmp_path / "landing")
    _, _, registry_input = load_registry(zone, None)
    files = group_files(zone.files())[0]["fees"]
    read = read_source(zone, SOURCES["fees"], files, {"ag-a": ["政府网站"]})
    assert isinstance(registry_input, RegistryInput)
    assert all(isinstance(i, ManifestInput) for i in read.inputs)
    out = LocalStore(tmp_path / "published")
    result = CompileResult(
        run_id="run-1",
        year=2024,
        period=Period.of_year(2024),
        status="final",
        cells=pl.DataFrame({"agency_id": ["ag-a"]}),
        violations=pl.DataFrame(),
        quarantine=pl.DataFrame(),
    )

    uri = record_run.fn(
        out, result, {}, [registry_input, *read.inputs], DELIVERED, "compile-reports"
    )

    inputs = json.loads(Path(uri).read_bytes())["inputs"]
    fee_sha = inputs[1]["sha256"]
    assert [list(i) for i in inputs] == [
        ["path", "sha256", "source"],
        *[["path", "sha256", "size", "modified", "source", "duplicate_of"]] * 2,
    ]
    assert inputs[1:] == [
        {
            "path": "ag-a/fees/a.csv",
            "sha256": fee_sha,
            "size": len(FEES_CSV),
            "modified": "2025-01-10T00:00:00+00:00",
            "source": "fees",
            "duplicate_of": None,
        },
        {
            "path": "ag-a/fees/resent/a.csv",
            "sha256": fee_sha,
            "size": len(FEES_CSV),
            "modified": "2025-01-10T00:00:00+00:00",
            "source": "fees",
            "duplicate_of": "ag-a/fees/a.csv",
        },
    ]
    assert inputs[0]["path"] == "agencies.csv" and inputs[0]["source"] == "agencies"
    assert len(fee_sha) == 64 and len(inputs[0]["sha256"]) == 64


def test_an_s3_store_removes_an_object_and_a_missing_one_quietly(s3_env) -> None:
    import uuid

    from flows.io.store import open_store

    bucket = f"remove-{uuid.uuid4().hex[:8]}"
    s3_env.client().create_bucket(Bucket=bucket)
    store = open_store(f"s3://{bucket}/published", s3_env.endpoint)
    store.write_bytes("reports/year=2024/agency_id=ag-a/report.md", b"# x")

    store.remove("reports/year=2024/agency_id=ag-a/report.md")
    store.remove("reports/year=2024/agency_id=ag-a/never-there.md")

    assert store.keys("reports/") == []
