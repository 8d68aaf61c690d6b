"""Landing and publishing on S3, against a real S3 server (SeaweedFS) on loopback."""

from __future__ import annotations

import time
import uuid

import polars as pl
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import nonzero_cells
from tests.test_golden import GOLDEN, lay_landing


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
    from tests.conftest import RUN_DATE

    result = compile_reports(
        year=2024, landing=f"s3://{landing_bucket}/exports", out=f"s3://{out_bucket}/nianbao",
        warehouse=str(tmp_path / "wh"), run_date=RUN_DATE,
    )  # fmt: skip

    assert result.ok
    assert nonzero_cells(result.cells).filter(row="website")["value"].to_list() == ["1"]
    storage = {"aws_endpoint_url": s3_env.endpoint, "aws_access_key_id": s3_env.environment()["AWS_ACCESS_KEY_ID"],
               "aws_secret_access_key": s3_env.environment()["AWS_SECRET_ACCESS_KEY"], "aws_region": "us-east-1"}  # fmt: skip
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


def test_wrong_credentials_give_one_clear_error_and_no_secret(
    prefect_api, s3_env, monkeypatch, tmp_path
) -> None:
    landing_bucket, out_bucket = _buckets(s3_env)
    secret = "definitely-wrong-secret-value"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)

    result = CliRunner().invoke(
        app, ["compile", "--year", "2024", "--landing", f"s3://{landing_bucket}/x",
              "--out", f"s3://{out_bucket}/y", "--warehouse", str(tmp_path / "wh")],
    )  # fmt: skip

    assert result.exit_code == 2
    assert "SignatureDoesNotMatch" in result.output and "Traceback" not in result.output
    assert secret not in result.output
