"""A real S3 server for the tests: SeaweedFS (`weed mini`) on a free loopback port.

Credentials are configured at start, so the server refuses unsigned or wrongly signed requests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import boto3

ACCESS_KEY = "nianbao-test"
SECRET_KEY = "nianbao-test-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    folder: Path
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def start(self) -> S3Server:
        self.port = self.port or free_port()
        weed = shutil.which("weed") or str(Path(os.sys.executable).parent / "weed")
        env = os.environ | {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "GOMEMLIMIT": "256MiB",
        }
        self.process = subprocess.Popen(
            [
                weed,
                "mini",
                f"-dir={self.folder}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-admin.ui=false",
                "-webdav=false",
                "-master.telemetry=false",
                f"-s3.port={self.port}",
                f"-master.port={free_port()}",
                f"-volume.port={free_port()}",
                f"-filer.port={free_port()}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.client().list_buckets()
                return self
            except Exception:
                if self.process.poll() is not None:
                    raise RuntimeError("weed exited at start") from None
                time.sleep(0.5)
        raise RuntimeError("SeaweedFS did not answer within 60 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def environment(self) -> dict[str, str]:
        """What nianbao needs to reach this server: the AWS chain plus the project's endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "NIANBAO_S3__ENDPOINT_URL": self.endpoint,
        }

    def upload(self, folder: Path, bucket: str, prefix: str = "") -> None:
        """Copy a landing folder into a bucket (as upstream systems would drop it)."""
        client = self.client()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = "/".join(filter(None, [prefix, path.relative_to(folder).as_posix()]))
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
