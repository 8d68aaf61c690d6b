"""Landing and publishing on S3, against a real S3 server (SeaweedFS) on loopback."""

from __future__ import annotations

import time
import uuid

import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.helpers import (
    GOLDEN,
    ONE_AGENCY_REGISTRY,
    RUN_DATE,
    compile_args,
    lay_landing,
    nonzero_cells,
)


def _buckets(server) -> tuple[str, str]:
    landing, out = f"landing-{uuid.uuid4().hex[:8]}", f"published-{uuid.uuid4().hex[:8]}"
    client = server.client()
    client.create_bucket(Bucket=landing)
    client.create_bucket(Bucket=out)
    return landing, out


def test_compile_from_an_s3_landing_zone_to_an_s3_output(prefect_api, s3_env, tmp_path) -> None:
    landing_bucket, out_bucket = _buckets(s3_env)
    folder = lay_landing(GOLDEN / "correction_wins_over_first_delivery", tmp_path / "landing", {})
    # The correction is uploaded last, so its LastModified is the newest delivery (S3 keeps
    # whole seconds: a second apart, or the two deliveries tie and the file name decides).
    correction = folder / "ag-a/website/a-correction.csv"
    kept = correction.read_bytes()
    correction.unlink()
    s3_env.upload(folder, landing_bucket, prefix="exports")
    correction.write_bytes(kept)
    time.sleep(1.1)
    s3_env.client().put_object(
        Bucket=landing_bucket,
        Key="exports/ag-a/website/a-correction.csv",
        Body=(folder / "ag-a/website/a-correction.csv").read_bytes(),
    )

    from flows.compile import compile_reports

    result = compile_reports(
        year=2024,
        landing=f"s3://{landing_bucket}/exports",
        out=f"s3://{out_bucket}/nianbao",
        warehouse=str(tmp_path / "wh"),
        run_date=RUN_DATE,
    )

    assert result.ok
    assert nonzero_cells(result.cells).filter(row="website")["value"].to_list() == ["1"]
    storage = {
        "aws_endpoint_url": s3_env.endpoint,
        "aws_access_key_id": s3_env.environment()["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": s3_env.environment()["AWS_SECRET_ACCESS_KEY"],
        "aws_region": "us-east-1",
    }
    cells = pl.scan_parquet(
        f"s3://{out_bucket}/nianbao/report_cells/**/*.parquet",
        hive_partitioning=True,
        storage_options=storage,
    ).collect()
    assert cells.height == result.cells.height
    assert cells.filter(row="website")["value"].cast(pl.Int64).to_list() == [1]
    keys = [o["Key"] for o in s3_env.client().list_objects_v2(Bucket=out_bucket)["Contents"]]
    assert any(k.startswith("nianbao/runs/") for k in keys)
    assert any(k.startswith("nianbao/validation/data_docs/") for k in keys)
    # No credential in any published object (manifest, results, reports, Data Docs).
    secrets = [
        s3_env.environment()["AWS_SECRET_ACCESS_KEY"].encode(),
        s3_env.environment()["AWS_ACCESS_KEY_ID"].encode(),
    ]
    for key in keys:
        body = s3_env.client().get_object(Bucket=out_bucket, Key=key)["Body"].read()
        assert not any(secret in body for secret in secrets), key


def test_wrong_credentials_give_one_clear_error_and_no_secret(
    prefect_api, s3_env, monkeypatch, tmp_path
) -> None:
    landing_bucket, out_bucket = _buckets(s3_env)
    secret = "definitely-wrong-secret-value"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)

    result = CliRunner().invoke(
        app,
        [
            *compile_args(f"s3://{landing_bucket}/x", f"s3://{out_bucket}/y", str(tmp_path / "wh")),
        ],
    )

    assert result.exit_code == 2
    assert "SignatureDoesNotMatch" in result.output and "Traceback" not in result.output
    assert secret not in result.output


HEADER = "索引号,标题,栏目,发布日期,公开方式,状态,链接\n"
REGISTRY = ONE_AGENCY_REGISTRY


def _put(server, bucket: str, key: str, text: str) -> None:
    server.client().put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
    time.sleep(1.1)  # S3 keeps whole seconds: deliveries a second apart are ordered


def _one_agency_landing(server, items: str = "W1,t,c,2024-03-01,主动公开,已发布,\n"):
    """A landing bucket with one agency and its website export of ``items``, and an output
    bucket."""
    landing_bucket, out_bucket = _buckets(server)
    _put(server, landing_bucket, "agencies.csv", REGISTRY)
    _put(server, landing_bucket, "ag-a/website/export.csv", HEADER + items)
    return landing_bucket, out_bucket


def _compile(landing_bucket: str, out_bucket: str, tmp_path):
    from flows.compile import compile_reports

    return compile_reports(
        year=2024,
        landing=f"s3://{landing_bucket}",
        out=f"s3://{out_bucket}/pub",
        warehouse=str(tmp_path / "wh"),
        run_date=RUN_DATE,
    )


def _current_run(server, out_bucket: str) -> str:
    body = server.client().get_object(
        Bucket=out_bucket, Key="pub/report_cells/year=2024/agency_id=ag-a/data.parquet"
    )
    return pl.read_parquet(body["Body"].read())["run_id"][0]


def test_revisions_list_every_version_with_the_cells_it_changed(
    prefect_api, s3_env, tmp_path
) -> None:
    landing_bucket, out_bucket = _one_agency_landing(
        s3_env, "W1,t,c,2024-03-01,主动公开,已发布,\nW2,t,c,2024-04-01,主动公开,已发布,\n"
    )
    first = _compile(landing_bucket, out_bucket, tmp_path)
    _put(
        s3_env,
        landing_bucket,
        "ag-a/website/fix.csv",
        HEADER + "W2,t,c,2024-04-01,主动公开,已撤回,\n",
    )
    second = _compile(landing_bucket, out_bucket, tmp_path)

    listed = CliRunner().invoke(
        app, ["revisions", "--agency", "ag-a", "--year", "2024", "--out", f"s3://{out_bucket}/pub"]
    )

    assert listed.exit_code == 0, listed.output
    assert first.run_id[:8] in listed.output and second.run_id[:8] in listed.output
    from flows.outputs.publish import revisions
    from flows.settings import load_settings

    settings = load_settings(out=f"s3://{out_bucket}/pub")
    versions = revisions(settings.store(settings.out), 2024, "ag-a")
    assert [v["run_id"] for v in versions] == [first.run_id, second.run_id]
    assert [v["current"] for v in versions] == [False, True]
    changed = {
        (c["section"], c["row"], c["column"]): (str(c["old"]), str(c["new"]))
        for c in versions[1]["changed"]
    }
    assert changed == {
        ("channels", "website", "items"): ("2.0000", "1.0000"),
        ("channels", "total", "items"): ("2.0000", "1.0000"),
    }
    assert _current_run(s3_env, out_bucket) == second.run_id


def test_an_interrupted_publish_leaves_the_previous_version_current(
    prefect_api, s3_env, tmp_path, monkeypatch
) -> None:
    import flows.io.store
    import flows.steps
    from flows.io.store import S3Store

    landing_bucket, out_bucket = _one_agency_landing(s3_env)
    before = _compile(landing_bucket, out_bucket, tmp_path)
    _put(
        s3_env,
        landing_bucket,
        "ag-a/website/more.csv",
        HEADER + "W3,t,c,2024-05-01,主动公开,已发布,\n",
    )

    # The server stops just as the new version's rendered report starts to be written.
    monkeypatch.setenv("NIANBAO_S3__MAX_RETRIES", "0")
    monkeypatch.setattr(flows.steps.publish_reports, "retries", 0)
    real_write = S3Store.write_bytes

    def write_then_crash(self, key: str, data: bytes) -> str:
        if key.startswith("reports/") and s3_env.process is not None:
            s3_env.stop()
        return real_write(self, key, data)

    monkeypatch.setattr(S3Store, "write_bytes", write_then_crash)
    with pytest.raises(Exception):  # noqa: B017 - whatever the dropped connection raises
        _compile(landing_bucket, out_bucket, tmp_path)
    monkeypatch.setattr(S3Store, "write_bytes", real_write)
    s3_env.start()

    assert _current_run(s3_env, out_bucket) == before.run_id  # nothing half-written became current
    # The cut-off run could not delete its lock object with the server down: the next run takes
    # it over once its lease runs out (two minutes in real life; shortened here).
    monkeypatch.setattr(flows.io.store, "S3_LOCK_LEASE_SECONDS", 1.0)
    after = _compile(landing_bucket, out_bucket, tmp_path)
    assert _current_run(s3_env, out_bucket) == after.run_id
    keys = [
        o["Key"]
        for o in s3_env.client().list_objects_v2(Bucket=out_bucket, Prefix="pub/report_cells/")[
            "Contents"
        ]
    ]
    assert keys == [
        "pub/report_cells/year=2024/agency_id=ag-a/data.parquet"
    ]  # exactly one current file


def test_the_demo_landing_zone_uploaded_to_a_bucket_compiles_to_the_reference_report(
    prefect_api, s3_env, tmp_path
) -> None:
    from flows.compile import compile_reports
    from flows.demo.landing import build_demo_landing
    from tests.reference_reports import QIJIANG_CGJ_2024 as REFERENCE

    landing_bucket, out_bucket = _buckets(s3_env)
    # Uploaded in one go, as `aws s3 sync` would: the files' own times are lost.
    s3_env.upload(build_demo_landing(tmp_path / "demo"), landing_bucket)

    result = compile_reports(
        year=2024,
        landing=f"s3://{landing_bucket}",
        out=f"s3://{out_bucket}",
        warehouse=str(tmp_path / "wh"),
        run_date=RUN_DATE,
    )

    assert result.ok
    cells = result.cells.filter(agency_id=REFERENCE["agency_id"])
    for row, items in REFERENCE["channels"].items():
        assert cells.filter(section="channels", row=row)["value"].item() == items, row
    for (row, column), value in REFERENCE["proactive"].items():
        assert (
            str(cells.filter(row=row, column=column)["value"].item()).rstrip("0").rstrip(".")
            == value
        ), row


def test_a_rerun_on_s3_takes_the_stored_records_and_leaves_the_report_standing(
    prefect_api, s3_env, tmp_path, monkeypatch
) -> None:
    import flows.recipe as recipe

    landing_bucket, out_bucket = _one_agency_landing(s3_env)
    first = _compile(landing_bucket, out_bucket, tmp_path)
    segments = sorted((tmp_path / "wh" / "records").rglob("segment-*.parquet"))
    drafted = []
    draft_documents = recipe.draft_documents

    def recorded(cells, agencies, *args):
        drafted.append(sorted(agencies["agency_id"]))
        return draft_documents(cells, agencies, *args)

    monkeypatch.setattr(recipe, "draft_documents", recorded)

    again = _compile(landing_bucket, out_bucket, tmp_path)

    assert again.unchanged == ["ag-a"] and drafted == [[]]
    assert sorted((tmp_path / "wh" / "records").rglob("segment-*.parquet")) == segments
    assert _current_run(s3_env, out_bucket) == first.run_id
    pdf = "pub/reports/year=2024/agency_id=ag-a/report.pdf"
    kept = s3_env.client().get_object(Bucket=out_bucket, Key=pdf)["Body"].read()
    s3_env.client().delete_object(Bucket=out_bucket, Key=pdf)

    third = _compile(landing_bucket, out_bucket, tmp_path)  # a file gone: looked at, put back

    assert drafted == [[], ["ag-a"]]
    assert s3_env.client().get_object(Bucket=out_bucket, Key=pdf)["Body"].read() == kept
    assert third.unchanged == []  # a new version puts the file back
