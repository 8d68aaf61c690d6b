"""Where published objects and warehouse files go: a local folder (the embedded default)."""

from __future__ import annotations

import datetime as dt
import email.utils
import fcntl
import io
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl

from transforms.errors import InputError

LOCK_FILE = ".lock"
# How long a run waits for another run on the same warehouse or output before giving up.
LOCK_WAIT_SECONDS = 600.0
# S3 has no flock and a killed run cannot release its lock object: the holder renews it every
# quarter of this lease, and a lock not renewed for a whole lease belongs to a run that died.
S3_LOCK_LEASE_SECONDS = 120.0
_PRECONDITION_FAILED = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
PARTIAL_WRITE_GLOB = ".tmp-*.part"


def _new_partial(folder: Path) -> tuple[int, str]:
    """A new hidden temp file in ``folder``, open for writing. Created as any new file is:
    mode 0666 less the umask, which the kernel applies (``mkstemp`` makes it 0600, and the
    umask can only be read by setting it, which races other threads, or from /proc)."""
    while True:
        path = os.path.join(folder, f".tmp-{secrets.token_hex(8)}.part")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), path
        except FileExistsError:  # one in 2**64: draw another name
            continue


@runtime_checkable
class Store(Protocol):
    """Where published objects and warehouse files go: what every flow may ask of a location.

    Keys are relative posix paths. A local folder (``LocalStore``) and an S3 prefix (``S3Store``)
    both satisfy it; code that takes a store takes this, so it works for both.
    """

    def __str__(self) -> str: ...

    def uri(self, key: str) -> str:
        """Where ``key`` is, for people and manifests (a path or ``s3://bucket/key``)."""
        ...

    def write_bytes(self, key: str, data: bytes, durable: bool = True) -> str:
        """Write the whole object at once (never half-visible); returns its uri."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError if there is none."""
        ...

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted (hidden files and the lock excluded locally)."""
        ...

    def remove(self, key: str) -> None:
        """Delete one object; nothing happens when it is not there."""
        ...

    def lock(self, run_id: str) -> AbstractContextManager[dict | None]:
        """Hold the location for one run; yields the holder of a cut-off run, else None."""
        ...

    def remove_partial_writes(self) -> list[str]:
        """Delete what unfinished writes left (only under the lock); the keys removed."""
        ...


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
        fd, tmp = _new_partial(target.parent)
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

    def remove(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def check_writable(self) -> None:
        """Before a run: the folder is a folder (or can be made) and can be written to."""
        if self.root.exists() and not self.root.is_dir():
            raise UnusableLocation(f"{self.root} is a file, not a folder")
        existing = next(
            p for p in (self.root.absolute(), *self.root.absolute().parents) if p.exists()
        )
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise UnusableLocation(f"cannot write to {self.root}: {existing} is not writable")

    @contextmanager
    def lock(self, run_id: str) -> Iterator[dict | None]:
        """Hold this folder for one run (``flock`` on ``<root>/.lock``), waiting a bounded time.

        Yields the previous holder (pid, run_id, since) when it was cut off (it never released
        the lock in order; what it left half-written is stale), else None. The kernel drops the lock when the process
        dies, so a killed run never blocks the next one.
        """
        self.check_writable()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise UnusableLocation(f"cannot write to {self.root}: {error.strerror}") from None
        try:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RunLocked.held_by(self.root, _lock_holder(fd)) from None
                    time.sleep(0.5)
            previous = _lock_holder(fd)
            _set_lock_holder(fd, run_id, "running")
            yield previous if previous.get("state") == "running" else None
            _set_lock_holder(fd, run_id, "released")
        finally:
            os.close(fd)  # closing the descriptor releases the flock, on failure too

    def remove_partial_writes(self) -> list[str]:
        """Delete the temporary files of writes that never finished (only safe under the lock)."""
        removed = []
        for path in self.root.rglob(PARTIAL_WRITE_GLOB):
            path.unlink(missing_ok=True)
            removed.append(path.relative_to(self.root).as_posix())
        return removed

    def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        found: list[str] = []
        # Directory entries tell files from folders without a stat each (tens of thousands of
        # files under a year's reports: a stat each cost most of a listing).
        under = base.relative_to(self.root).as_posix()
        folders = [(str(base), "" if under == "." else f"{under}/")]
        while folders:
            folder, key = folders.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append((entry.path, f"{key}{entry.name}/"))
                    elif entry.is_file() and not entry.name.startswith("."):
                        found.append(f"{key}{entry.name}")
        return sorted(found)


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


def read_parquet_bytes(data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data))


class StorageAccessError(Exception):
    """Object storage refused us (credentials, permissions, a missing bucket): one clear line."""


class UnusableLocation(StorageAccessError):
    """A local output or warehouse folder that cannot be written (a file, read-only, refused)."""


class RunLocked(StorageAccessError):
    """Another nianbao run holds the lock on the warehouse or the output."""

    @classmethod
    def held_by(cls, root: Path, holder: dict) -> RunLocked:
        who = ", ".join(
            f"{label} {holder[key]}"
            for key, label in (("pid", "pid"), ("run_id", "run"), ("since", "since"))
            if key in holder
        )
        return cls(
            f"another nianbao run holds the lock on {root} ({who or 'unknown holder'}); "
            "try again when it has finished"
        )


def _lock_holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}


def _lock_holder_json(run_id: str, state: str) -> bytes:
    holder = {
        "pid": os.getpid(),
        "run_id": run_id,
        "state": state,
        "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return json.dumps(holder).encode()


def _set_lock_holder(fd: int, run_id: str, state: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, _lock_holder_json(run_id, state), 0)


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
        raise InputError(
            f"{uri}: {bucket!r} is not a bucket name (3–63 characters: a-z, 0-9, '.' and '-')"
        )
    prefix = prefix.strip("/")
    if prefix and any(part in {"", ".", ".."} for part in prefix.split("/")):
        raise InputError(f"{uri}: the prefix must not have empty, '.' or '..' parts")
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
        if code in {
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "AccessDenied",
            "403",
            "NoSuchBucket",
            "InvalidToken",
            "ExpiredToken",
        }:
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
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "endpoint": self.client.meta.endpoint_url,
            "region": self.client.meta.region_name,
            # botocore keeps max_attempts (retries) as total_max_attempts (retries + 1)
            "attempts": self.client.meta.config.retries["total_max_attempts"] - 1,
        }

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
                io.BytesIO(data),
                self.bucket,
                self._key(key),
                Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD),
            )
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

    @contextmanager
    def lock(self, run_id: str) -> Iterator[dict | None]:
        """Hold this prefix for one run: a ``.lock`` object created only if absent (conditional
        PUT, ``If-None-Match: *``), renewed while the run lasts, deleted at its end.

        Waits a bounded time for another holder. A lock not renewed for a whole lease was left
        by a run that died: it is taken over (``If-Match`` on its ETag, so of several runs
        taking it over one wins), and the lock yields its holder, as the local lock does after a
        cut-off run (else None).
        """
        body = _lock_holder_json(run_id, "running")
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            if self._put_lock(body, IfNoneMatch="*"):
                cut_off = None
                break
            held = self._lock_object()
            if held is None:  # released between the two requests
                continue
            holder, etag, age = held
            if age > S3_LOCK_LEASE_SECONDS and self._put_lock(body, IfMatch=etag):
                cut_off = holder
                break
            if time.monotonic() >= deadline:
                raise RunLocked.held_by(self.uri(""), holder)
            time.sleep(2)
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(S3_LOCK_LEASE_SECONDS / 4):
                self._put_lock(body)

        renewer = threading.Thread(target=renew, name="nianbao-s3-lock", daemon=True)
        renewer.start()
        try:
            yield cut_off
        finally:
            stop.set()
            renewer.join()
            # Not deleted (the store unreachable): the lease runs out and the next run takes over.
            with suppress(Exception):
                self.client.delete_object(Bucket=self.bucket, Key=self._key(LOCK_FILE))

    def _put_lock(self, body: bytes, **condition: str) -> bool:
        """Write the lock object; False when the condition does not hold (someone holds it)."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(LOCK_FILE), Body=body, **condition
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code", "") in _PRECONDITION_FAILED:
                return False
            raise _explained(error, self.uri(LOCK_FILE)) from None
        return True

    def _lock_object(self) -> tuple[dict, str, float] | None:
        """The lock's holder, ETag and age in seconds by the store's own clock; None if gone."""
        from botocore.exceptions import ClientError

        try:
            found = self.client.get_object(Bucket=self.bucket, Key=self._key(LOCK_FILE))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code", "") in {"NoSuchKey", "404"}:
                return None
            raise _explained(error, self.uri(LOCK_FILE)) from None
        try:
            holder = json.loads(found["Body"].read())
        except ValueError:
            holder = {}
        served = found["ResponseMetadata"]["HTTPHeaders"].get("date")
        now = email.utils.parsedate_to_datetime(served) if served else dt.datetime.now(dt.UTC)
        return holder, found["ETag"], (now - found["LastModified"]).total_seconds()

    def remove(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as error:
            raise _explained(error, self.uri(key)) from None

    def remove_partial_writes(self) -> list[str]:
        return []  # a PUT is whole or absent; unfinished multipart uploads expire by lifecycle

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
) -> LocalStore | S3Store:
    """A local folder, or an S3 prefix for ``s3://bucket/prefix``."""
    if uri.startswith(S3_SCHEME):
        return S3Store(uri, s3_client(endpoint_url, region, max_attempts))
    return LocalStore(uri)
