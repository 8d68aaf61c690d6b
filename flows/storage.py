"""Where published objects and warehouse files go: a local folder (the embedded default)."""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

import polars as pl


class LocalStore:
    """A folder addressed by relative posix keys; every write is atomic (temp file + rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __str__(self) -> str:
        return str(self.root)

    def uri(self, key: str) -> str:
        return str(self.root / key)

    def write_bytes(self, key: str, data: bytes, durable: bool = True) -> str:
        """Write atomically; ``durable=False`` skips the fsync (for caches that can be rebuilt)."""
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        # The temp file sits beside the target (same filesystem, so the rename is atomic) but is
        # hidden, so a glob over *.parquet never sees a half-written file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.uri(key)

    def read_bytes(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


def read_parquet_bytes(data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data))


class StorageAccessError(Exception):
    """Object storage refused us (credentials, permissions, a missing bucket): one clear line."""


S3_SCHEME = "s3://"
MULTIPART_THRESHOLD = 16 * 1024 * 1024


# S3's bucket naming rules (3–63 characters, lowercase letters, digits, dots and hyphens, a
# letter or digit at either end); a name that breaks them is refused by the store anyway.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (``bucket``, ``some/prefix``); ValueError if unusable.

    A prefix is a folder path: no empty, ``.`` or ``..`` segment (a store may resolve them,
    or refuse them with a stack trace).
    """
    bucket, _, prefix = uri.removeprefix(S3_SCHEME).partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(
            f"{uri}: {bucket!r} is not a bucket name (3–63 characters: a-z, 0-9, '.' and '-')"
        )
    prefix = prefix.strip("/")
    if prefix and any(part in {"", ".", ".."} for part in prefix.split("/")):
        raise ValueError(f"{uri}: the prefix must not have empty, '.' or '..' parts")
    return bucket, prefix


def s3_client(endpoint_url: str | None, region: str, max_attempts: int = 6):
    """A boto3 client from the standard AWS credential chain, retrying throttling and 5xx."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        # Retries after the first try, with jittered exponential backoff (throttling, 5xx, resets).
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        signature_version="s3v4",
    )
    # A session of its own: credentials are read from the chain now, not cached process-wide.
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


def _explained(error: Exception, where: str) -> Exception:
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ParamValidationError,
    )

    if isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        # botocore has already retried with backoff: the store is down or the address is wrong.
        return StorageAccessError(f"{where}: cannot reach the object store ({error})")
    if isinstance(error, ParamValidationError):
        return StorageAccessError(f"{where}: {' '.join(str(error).split())}")
    if isinstance(error, NoCredentialsError):
        return StorageAccessError(
            f"{where}: no AWS credentials found (environment, profile or role)"
        )
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403",
                    "NoSuchBucket", "InvalidToken", "ExpiredToken"}:  # fmt: skip
            return StorageAccessError(
                f"{where}: refused by the object store ({code}); check credentials and bucket"
            )
    return error


class S3Store:
    """A bucket prefix addressed by relative keys, through boto3. A PUT is atomic per object."""

    def __init__(self, uri: str, client) -> None:
        self.bucket, self.prefix = split_s3_uri(uri)
        self.client = client

    def __str__(self) -> str:
        return self.uri("")

    def __getstate__(self) -> dict:  # boto3 clients do not pickle (Dask workers rebuild theirs)
        return {"bucket": self.bucket, "prefix": self.prefix, "endpoint": self.client.meta.endpoint_url,
                "region": self.client.meta.region_name,
                # botocore keeps max_attempts (retries) as total_max_attempts (retries + 1)
                "attempts": self.client.meta.config.retries["total_max_attempts"] - 1}  # fmt: skip

    def __setstate__(self, state: dict) -> None:
        self.bucket, self.prefix = state["bucket"], state["prefix"]
        self.client = s3_client(state["endpoint"], state["region"], state["attempts"])

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self._key(key)}".rstrip("/")

    def write_bytes(self, key: str, data: bytes, durable: bool = True) -> str:
        from boto3.s3.transfer import TransferConfig

        try:
            self.client.upload_fileobj(
                io.BytesIO(data), self.bucket, self._key(key),
                Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD),
            )  # fmt: skip
        except Exception as error:
            raise _explained(error, self.uri(key)) from None
        return self.uri(key)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as error:
            from botocore.exceptions import ClientError

            if isinstance(error, ClientError) and error.response["Error"]["Code"] in {
                "NoSuchKey",
                "404",
            }:
                raise FileNotFoundError(self.uri(key)) from None
            raise _explained(error, self.uri(key)) from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as error:
            if isinstance(error, ClientError) and error.response["Error"]["Code"] in {
                "404",
                "NoSuchKey",
                "NotFound",
            }:
                return False
            raise _explained(error, self.uri(key)) from None
        return True

    def objects(self, prefix: str) -> list[dict]:
        """Every object under ``prefix`` (paginated): Key relative to the store, Size, LastModified."""
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                found += page.get("Contents", [])
        except Exception as error:
            raise _explained(error, self.uri(prefix)) from None
        cut = len(self.prefix) + 1 if self.prefix else 0
        return [o | {"Key": o["Key"][cut:]} for o in found]

    def keys(self, prefix: str) -> list[str]:
        return sorted(o["Key"] for o in self.objects(prefix))

    def check_access(self) -> None:
        """One cheap signed request, so bad credentials fail before any work starts.

        Retried once only: an unreachable store should be reported in seconds, not after the
        minute of backoff a running flow's requests may wait.
        """
        meta = self.client.meta
        client = s3_client(meta.endpoint_url, meta.region_name, max_attempts=1)
        try:
            client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(""), MaxKeys=1)
        except Exception as error:
            raise _explained(error, self.uri("")) from None


def open_store(
    uri: str, endpoint_url: str | None = None, region: str = "us-east-1", max_attempts: int = 6
):
    """A local folder, or an S3 prefix for ``s3://bucket/prefix``."""
    if uri.startswith(S3_SCHEME):
        return S3Store(uri, s3_client(endpoint_url, region, max_attempts))
    return LocalStore(uri)
