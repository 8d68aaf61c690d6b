"""Reading the landing zone: discover files, decode them, and hand the normalizer text frames.

A file that cannot be used at all (undecodable, truncated, a required column missing, in a place
the contract does not know) becomes one quarantine row naming the file and the reason; the other
files go on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import re
import stat
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

import fastexcel
import polars as pl

from flows.io.store import (
    S3Store,
    Store,
    _explained,
    open_store,
    parquet_bytes,
    read_parquet_bytes,
)
from transforms.cells import CHANNEL_WEBSITE
from transforms.errors import InputError
from transforms.normalize import QUARANTINE_SCHEMA
from transforms.sources import (
    AGENCY_HEADERS,
    AGENCY_REQUIRED_HEADERS,
    LINEAGE_SCHEMA,
    RAW_LINEAGE_SCHEMA,
    SOURCES,
    Source,
)

AGENCIES_FILE = "agencies.csv"
# Bump when the readers change what they return for the same bytes: retires cached parses.
READER_VERSION = 2
# A reader's verdict on one row it could not split into fields (null for good rows): that row
# is quarantined with this reason instead of being handed to the normalizer.
ROW_PROBLEM = "row_problem"
# An XLSX is unpacked whole by the reader: bound what a landing workbook may ask for, so a tiny
# hostile file (one cell at XFD1048576) is rejected instead of allocating hundreds of GB.
MAX_XLSX_UNPACKED_BYTES = 256 * 2**20
MAX_XLSX_CELLS = 10_000_000
TABLE_SUFFIXES = {".csv", ".xlsx"}
# An office's own text for its report: <agency_id>/narrative/<year>.md (docs/report-document.md).
NARRATIVE_FOLDER = "narrative"
# A narrative is a few pages of text: anything much larger is not one, and is not read whole.
MAX_NARRATIVE_BYTES = 256 * 1024
FIRST_DATA_ROW = 2  # row 1 is the header, as a spreadsheet numbers it
_UTF8_BOM = b"\xef\xbb\xbf"


log = logging.getLogger(__name__)


class LandingReadError(OSError):
    """A landing entry that was refused or could not be fetched; the message says why."""


class UnreadableFile(Exception):
    """A landing file that cannot be used at all; the message says why, for a person."""

    def __init__(self, reason: str, column: str | None = None) -> None:
        super().__init__(reason)
        self.column = column


@dataclass(frozen=True)
class LandingFile:
    """One object in the landing zone, by its path relative to the landing root."""

    path: str
    modified: dt.datetime  # UTC; the delivery order of the newest-delivery-wins rule
    size: int
    # Why the entry is never read (a symbolic link out of the zone, a fifo), or None.
    skipped: str | None = None

    @cached_property  # asked for several times per file by every listing's grouping
    def parts(self) -> tuple[str, ...]:
        return PurePosixPath(self.path).parts

    @property
    def agency_id(self) -> str | None:
        return self.parts[0] if len(self.parts) > 1 else None

    @property
    def source(self) -> str | None:
        return self.parts[1] if len(self.parts) > 2 else None

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.path).suffix.lower()


@runtime_checkable
class Landing(Protocol):
    """A landing zone, only ever read: a local folder (``LocalLanding``) or an S3 prefix
    (``S3Landing``). Code that reads one takes this, so it works for both."""

    def __str__(self) -> str: ...

    def files(self) -> list[LandingFile]:
        """Every entry of the zone by path; those that will not be read carry ``skipped``."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """One file's bytes; FileNotFoundError if gone, another OSError if refused."""
        ...


@dataclass(frozen=True)
class ManifestInput:
    """One landing file a run read, as the manifest's ``inputs`` lists it (keys in this order)."""

    path: str
    sha256: str
    size: int
    modified: str  # ISO 8601, UTC
    source: str
    # The path of the first delivery of the same content (this one was not read again), or None.
    duplicate_of: str | None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RegistryInput:
    """The agency registry a run read, as the manifest's first ``inputs`` entry lists it."""

    path: str
    sha256: str
    source: str

    def to_json(self) -> dict:
        return asdict(self)


_NOT_REGULAR = {
    stat.S_IFIFO: "a named pipe (fifo)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFDIR: "a folder",
}


def file_kind(mode: int) -> str:
    """What an entry of ``mode`` (os.stat's) is, in English, when not a regular file."""
    return _NOT_REGULAR.get(stat.S_IFMT(mode), "not a regular file")


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


@dataclass(frozen=True)
class EntryLook:
    """A folder entry as looked at without opening it or following a link out of the folder
    (``look_at_entry``); the landing zone and ``nianbao audit`` word the reasons each their way."""

    info: os.stat_result  # the entry's; a link's target's when it resolves inside the folder
    link: bool  # the entry is a symbolic link
    outside: bool = False  # a link resolving outside the folder: its target is not looked at
    broken: bool = False  # a link to nothing, or a loop of links

    @property
    def regular(self) -> bool:
        """A regular file inside the folder: the only kind of entry ever opened."""
        return not (self.outside or self.broken) and stat.S_ISREG(self.info.st_mode)

    @property
    def kind(self) -> str:
        """What the entry (a link: its target) is, in English: "a named pipe (fifo)"…"""
        return file_kind(self.info.st_mode)


def look_at_entry(path: str, real_root: str, info: os.stat_result | None = None) -> EntryLook:
    """What the entry ``path`` is, never opening it nor looking beyond ``real_root`` (a real
    path) through a link; ``info``, the entry's own lstat, when already at hand. OSError when
    the entry itself is gone."""
    info = info if info is not None else os.lstat(path)
    if not stat.S_ISLNK(info.st_mode):
        return EntryLook(info, link=False)
    target = os.path.realpath(path)
    if not _inside(real_root, target):
        return EntryLook(info, link=True, outside=True)
    try:
        return EntryLook(os.stat(target), link=True)
    except OSError:  # ENOENT, ELOOP
        return EntryLook(info, link=True, broken=True)


class NotRegularFile(OSError):
    """A path that is no regular file (a fifo, a device…); ``kind`` says what it is."""

    def __init__(self, mode: int) -> None:
        super().__init__(f"{file_kind(mode)}, not a regular file")
        self.kind = file_kind(mode)


def read_regular_file(target: str, limit: int = -1) -> bytes:
    """The bytes of ``target`` (a real path), at most ``limit``, if it is a regular file;
    NotRegularFile otherwise, without ever blocking on a fifo or opening a device."""
    if not stat.S_ISREG(mode := os.stat(target).st_mode):
        raise NotRegularFile(mode)
    # O_NONBLOCK and the second check: a fifo swapped in after the check never blocks us.
    fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(mode := os.fstat(fd).st_mode):
            raise NotRegularFile(mode)
        return handle.read(limit)


class LocalLanding:
    """A landing zone in a local folder. Never written to.

    Only regular files whose real path is inside the zone are read. A symbolic link is read only
    if it resolves to a regular file inside the zone; links out of it, links to folders (never
    descended into), broken links, fifos, sockets and devices are listed with the reason they
    are skipped and never opened.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __str__(self) -> str:
        return str(self.root)

    @cached_property
    def _real_root(self) -> str:
        # Resolved once: a run reads thousands of files, each checked against it.
        return os.path.realpath(self.root)

    def files(self) -> list[LandingFile]:
        """Every entry of the zone by path; those that will not be read carry ``skipped``."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"landing zone {self.root} is not a folder")
        real_root = os.path.realpath(self.root)
        found: list[LandingFile] = []
        folders = [self.root]
        while folders:
            with os.scandir(folders.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(Path(entry.path))
                    elif not entry.name.startswith((".", "~$")):  # locks, hidden: not deliveries
                        found.append(self._entry(entry, real_root))
        return sorted(found, key=lambda f: f.parts)  # the order rglob gave

    def _entry(self, entry: os.DirEntry, real_root: str) -> LandingFile:
        look = look_at_entry(entry.path, real_root, entry.stat(follow_symlinks=False))
        skipped = None
        if look.outside:
            skipped = "symbolic link to a place outside the landing zone: not read"
        elif look.broken:
            skipped = "symbolic link to nothing (broken): not read"
        elif not look.regular and look.link:
            skipped = f"symbolic link to {look.kind}: not read"
        elif not look.regular:
            skipped = f"{look.kind}, not a regular file: not read"
        return LandingFile(
            path=entry.path[len(str(self.root)) + 1 :],
            modified=dt.datetime.fromtimestamp(look.info.st_mtime, dt.UTC),
            size=look.info.st_size,
            skipped=skipped,
        )

    def read_bytes(self, path: str) -> bytes:
        """A regular file inside the zone; anything else is refused without being opened."""
        target = os.path.realpath(self.root / path)
        if not _inside(self._real_root, target):
            raise LandingReadError(f"{path}: resolves to a place outside the landing zone")
        try:
            return read_regular_file(target)
        except NotRegularFile as error:
            raise LandingReadError(f"{path}: {error.kind}, not a regular file") from None


class S3Landing:
    """A landing zone under an S3 prefix. Never written to; LastModified is the delivery time."""

    def __init__(self, store: S3Store) -> None:
        self.store = store

    def __str__(self) -> str:
        return str(self.store)

    def files(self) -> list[LandingFile]:
        return [
            LandingFile(
                path=o["Key"], modified=o["LastModified"].astimezone(dt.UTC), size=o["Size"]
            )
            for o in sorted(self.store.objects(""), key=lambda o: o["Key"])
            if not PurePosixPath(o["Key"]).name.startswith((".", "~$"))
            and not o["Key"].endswith("/")
        ]

    def read_bytes(self, path: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.store.client.get_object(
                Bucket=self.store.bucket, Key=self.store._key(path)
            )["Body"].read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "404"}:
                raise FileNotFoundError(self.store.uri(path)) from None
            # Refusals of this one object; credentials and the bucket were checked at the start.
            if code in {"AccessDenied", "403", "InvalidObjectState", "InvalidRange"}:
                raise LandingReadError(f"the object store refused to give it ({code})") from None
            raise _explained(error, self.store.uri(path)) from None


def open_landing(
    uri: str, endpoint_url: str | None = None, region: str = "us-east-1", max_attempts: int = 6
) -> LocalLanding | S3Landing:
    """The landing zone at a folder or ``s3://bucket/prefix``."""
    store = open_store(uri, endpoint_url, region, max_attempts)
    return S3Landing(store) if isinstance(store, S3Store) else LocalLanding(uri)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_text(data: bytes) -> bytes:
    """CSV bytes as UTF-8: UTF-8 (with or without BOM) as is, otherwise GB18030 re-encoded."""
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030").encode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableFile(
            f"neither UTF-8 nor GB18030 (undecodable byte at offset {error.start})"
        ) from None


_HEADER_FORMS = str.maketrans({"(": "（", ")": "）", " ": None, "\u3000": None, "\ufeff": None})


def _clean_header(name: str) -> str:
    """A header as the contract spells it: spreadsheets drift to half-width brackets and spaces."""
    return name.strip().translate(_HEADER_FORMS)


def _select_headers(found: list[str], wanted: Iterable[str], required: Iterable[str]) -> list[int]:
    """Positions of the wanted columns in a file's header; rejects the file if one is required."""
    cleaned = [_clean_header(h) for h in found]
    missing = [h for h in required if h not in cleaned]
    if missing:
        raise UnreadableFile(
            f"required column {'、'.join(missing)} is missing", column="、".join(missing)
        )
    # Two headers that clean to the same name (`金额（元）` and `金额(元)`): the first one counts.
    first = {h: i for i, h in reversed(list(enumerate(cleaned)))}
    return sorted(i for h, i in first.items() if h in set(wanted))


def csv_text(data: bytes) -> bytes:
    """CSV bytes as UTF-8 with LF line ends: CRLF and lone CR (old Mac and Excel exports) too,
    so every row is split."""
    text = decode_text(data)
    if b"\r" not in text:
        return text
    return text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


_OVERFLOW = "nianbao:overflow"
_OVERFLOW_REASON = (
    "the row has more values than the header has columns (a separator inside an unquoted "
    "value, or rows run together): not read"
)


_SWALLOWED_REASON = (
    "a quoted value runs across rows (a quote not closed where it should be): not read"
)


def _with_overflow_column(text: bytes) -> bytes:
    """The CSV with one more header name, so a row with more values than the header shows them.

    The reader otherwise truncates such a row silently: a value split at an unquoted comma would
    be read shifted.
    """
    end = text.find(b"\n")
    end = len(text) if end < 0 else end
    if text.count(b'"', 0, end) % 2:
        raise UnreadableFile(
            "cannot be read as CSV: the header row has an unclosed quote or a line break in a name"
        )
    return text[:end] + f",{_OVERFLOW}".encode() + text[end:]


def _csv_header(text: bytes) -> list[str]:
    """The names in a CSV's header row. A row without quotes is split here (a third of a small
    file's reading went to asking Polars); others are left to Polars' reader."""
    first = text[: text.find(b"\n")] if b"\n" in text else text
    if first and b'"' not in first:
        return first.decode().split(",")
    return pl.read_csv(text, n_rows=0, infer_schema=False).columns


def _read_csv(data: bytes, wanted: list[str], required: list[str]) -> pl.LazyFrame:
    """The file parsed (the parse fails here, on a broken file), the rest of its reading not
    yet done: ``read_table`` finishes it in the same query."""
    text = csv_text(data)
    header = _csv_header(text)
    picked = _select_headers(header, wanted, required)
    frame = pl.read_csv(
        _with_overflow_column(text),
        columns=[*picked, len(header)],
        infer_schema=False,
        truncate_ragged_lines=True,
        row_index_name="row",
        row_index_offset=FIRST_DATA_ROW,
        raise_if_empty=False,
    )
    overflow = pl.col(_OVERFLOW).str.strip_chars().str.len_bytes() > 0
    # A quote closed rows later: one value holds whole rows (line breaks and a row's separators).
    swallowed = pl.any_horizontal(
        False,
        *(
            pl.col(c).str.contains("\n", literal=True)
            & (pl.col(c).str.count_matches(",", literal=True) >= max(len(header) - 1, 1))
            for c in frame.columns
            if c not in ("row", _OVERFLOW)
        ),
    )
    return (
        frame.lazy()
        .with_columns(
            pl.when(overflow)
            .then(pl.lit(_OVERFLOW_REASON))
            .when(swallowed)
            .then(pl.lit(_SWALLOWED_REASON))
            .alias(ROW_PROBLEM)
        )
        .drop(_OVERFLOW)
    )


_CELL_REF = re.compile(rb'\sr=["\']([A-Za-z]{1,3})([0-9]{1,9})["\']')
_ROW_REF = re.compile(rb'\sr=["\']([0-9]{1,9})["\']')
_CELL_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - ord("A") + 1
    return number


def check_xlsx_bounds(data: bytes) -> None:
    """Reject a workbook that would unpack or spread beyond the bounds, before it is loaded.

    The reader allocates every cell from A1 to the farthest cell named in any sheet, whatever the
    sheet's declared dimension; a cell without a reference takes the next column.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableFile("cannot be read as XLSX: not a zip archive (truncated?)") from None
    with archive:
        unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_XLSX_UNPACKED_BYTES:
            raise UnreadableFile(
                f"the workbook unpacks to {unpacked / 2**20:,.0f} MiB, more than the "
                f"{MAX_XLSX_UNPACKED_BYTES // 2**20} MiB a landing XLSX may hold: not read"
            )
        rows = columns = 0
        for info in archive.infolist():
            part = archive.read(info)
            refs = _CELL_REF.findall(part)
            if refs:
                letters, numbers = zip(*refs, strict=True)
                columns = max(columns, *map(_column_number, set(letters)))
                rows = max(rows, *map(int, set(numbers)))
            rows = max(rows, 0, *map(int, set(_ROW_REF.findall(part))))
            if len(refs) < (tags := len(_CELL_TAG.findall(part))):
                columns = max(columns, tags)  # cells placed one after another: at most this wide
        if rows * columns > MAX_XLSX_CELLS:
            raise UnreadableFile(
                f"a sheet reaches row {rows:,} and column {columns:,}: more than the "
                f"{MAX_XLSX_CELLS:,} cells a landing XLSX may span: not read"
            )


def _read_xlsx(data: bytes, wanted: list[str], required: list[str]) -> pl.LazyFrame:
    check_xlsx_bounds(data)
    sheet = fastexcel.read_excel(data).load_sheet(0, n_rows=0)
    header = [c.name for c in sheet.available_columns()]
    picked = _select_headers(header, wanted, required)
    return (
        fastexcel.read_excel(data)
        .load_sheet(0, use_columns=picked, dtypes="string")
        .to_polars()
        .lazy()
        .with_row_index("row", offset=FIRST_DATA_ROW)
        .with_columns(pl.lit(None, pl.String).alias(ROW_PROBLEM))
    )


def _fixed_reason(error: Exception, suffix: str) -> str:
    """Why a file cannot be parsed, without the parser's message: that quotes the file's text
    (an unclosed quote quotes the rest of the file, names and ID numbers included)."""
    if suffix == ".xlsx":
        return f"cannot be read as XLSX ({type(error).__name__}): damaged or not a workbook"
    if isinstance(error, pl.exceptions.NoDataError):
        return "cannot be read as CSV: the file is empty"
    if "not properly escaped" in str(error) or "quote" in str(error):
        return "cannot be read as CSV: a quote is opened and never closed (or a stray quote)"
    return f"cannot be read as CSV ({type(error).__name__}): rows cannot be split"


def read_table(
    data: bytes, suffix: str, wanted: Iterable[str], required: Iterable[str]
) -> pl.DataFrame:
    """A CSV or XLSX file as text columns (only ``wanted`` ones) with its spreadsheet row number.

    Columns not wanted (personal data among them) are never loaded. Wholly blank rows are not
    records and are skipped. ``ROW_PROBLEM`` says why a row could not be split (else null).
    """
    wanted, required = list(wanted), list(required)
    try:
        if suffix == ".csv":
            frame = _read_csv(data, wanted, required)
        elif suffix == ".xlsx":
            frame = _read_xlsx(data, wanted, required)
        else:
            raise UnreadableFile(f"unsupported file type {suffix!r} (expected .csv or .xlsx)")
        # One query per file: each eager step costs ~0.15 ms, most of a small file's reading.
        return _text_columns(frame, wanted).collect()
    except UnreadableFile:
        raise
    except Exception as error:  # a truncated XLSX, an unbalanced quote: the file is unusable
        raise UnreadableFile(_fixed_reason(error, suffix)) from None


def _text_columns(frame: pl.LazyFrame, wanted: list[str]) -> pl.LazyFrame:
    """Headers as the contract spells them, every value as text, absent wanted columns as
    nulls, wholly blank rows left out."""
    lineage = {"row", ROW_PROBLEM, _BATCH_FILE}
    found = frame.collect_schema().names()
    cleaned = {c: _clean_header(c) for c in found if c not in lineage}
    data_columns = list(cleaned.values())
    missing = [h for h in wanted if h not in data_columns]
    return (
        frame.rename(cleaned)
        .with_columns(pl.col(c).cast(pl.String) for c in [*data_columns, ROW_PROBLEM])
        .with_columns(pl.lit(None, pl.String).alias(h) for h in missing)
        .filter(pl.any_horizontal(pl.col(c).is_not_null() for c in [*data_columns, ROW_PROBLEM]))
    )


_WECHAT_SCHEMA = pl.Schema(
    {
        "item": pl.List(
            pl.Struct(
                {
                    "article_id": pl.String,
                    "content": pl.Struct(
                        {
                            "create_time": pl.Int64,
                            "news_item": pl.List(
                                pl.Struct({"title": pl.String, "is_deleted": pl.Boolean})
                            ),
                        }
                    ),
                }
            )
        )
    }
)


def read_wechat(data: bytes, account: str) -> pl.DataFrame:
    """One ``freepublish/batchget`` response as one text row per article.

    The row number is the item's position in ``item`` (1-based); an article's key is the item's
    ``article_id`` and its position in ``news_item``.
    """
    try:
        body = pl.read_json(io.BytesIO(data), schema=_WECHAT_SCHEMA)
    except Exception as error:  # its message would quote the body
        raise UnreadableFile(
            f"not a freepublish/batchget response (invalid JSON: {type(error).__name__})"
        ) from None
    if body.is_empty() or body["item"].null_count() == body.height:
        raise UnreadableFile(_NO_ITEM_LIST)
    one_file = body.with_columns(account=pl.lit(account), **{_BATCH_FILE: pl.lit(0, pl.UInt32)})
    return _wechat_rows(one_file).drop(_BATCH_FILE)


# An error body ({"errcode": 40001, ...}) has no item list: nothing was delivered.
_NO_ITEM_LIST = "no `item` list: an error response, not a freepublish/batchget page"


@dataclass(frozen=True)
class WechatJson:
    """A small WeChat export left to be parsed with the others of its source
    (:func:`read_wechats`)."""

    account: str
    data: bytes


def read_wechats(bodies: list[WechatJson]) -> list[pl.DataFrame | UnreadableFile]:
    """``read_wechat`` of each body (its rows, or why it cannot be used), parsed in one read.

    The bodies that are one JSON object each are read as one JSON array; when that read fails
    (a body that is not valid JSON spoils it) or any other body is there, those are read alone:
    every body gets the rows, or the reason, it gets read alone.
    """
    results: list[pl.DataFrame | UnreadableFile | None] = [None] * len(bodies)
    objects = [i for i, body in enumerate(bodies) if _one_object(body.data)]
    if len(objects) > 1:
        array = b"[" + b",".join(bodies[i].data for i in objects) + b"]"
        try:
            batch = pl.read_json(io.BytesIO(array), schema=_WECHAT_SCHEMA)
        except Exception:  # a body that is not valid JSON: each is read alone below
            batch = None
        if batch is not None and batch.height == len(objects):
            for i, rows in zip(objects, _wechat_rows_each(batch, bodies, objects), strict=True):
                results[i] = rows
    for i, body in enumerate(bodies):
        if results[i] is None:
            try:
                results[i] = read_wechat(body.data, body.account)
            except UnreadableFile as error:
                results[i] = error
    return results


def _one_object(data: bytes) -> bool:
    """Whether ``data`` starts and ends as one JSON object does (JSON's own white space aside)."""
    text = data.strip(b" \t\r\n")
    return text[:1] == b"{" and text[-1:] == b"}"


def _wechat_rows_each(
    batch: pl.DataFrame, bodies: list[WechatJson], objects: list[int]
) -> list[pl.DataFrame | UnreadableFile]:
    """The rows of each body of a batch read (one row of ``batch`` per body in ``objects``)."""
    batch = batch.with_columns(
        account=pl.Series([bodies[i].account for i in objects], dtype=pl.String),
        **{_BATCH_FILE: pl.int_range(pl.len(), dtype=pl.UInt32)},
    )
    rows = _wechat_rows(batch)  # a body with no item list has no rows: refused below
    of_file = rows.partition_by(_BATCH_FILE, as_dict=True, include_key=False)
    empty = rows.clear().drop(_BATCH_FILE)
    return [
        UnreadableFile(_NO_ITEM_LIST) if item is None else of_file.get((place,), empty)
        for place, item in enumerate(batch["item"])
    ]


def _wechat_rows(body: pl.DataFrame) -> pl.DataFrame:
    """Responses' articles, one text row each: ``body`` holds ``item``, ``account`` and the
    response's file (``_BATCH_FILE``); rows are numbered within each file."""
    # Numbered before anything is dropped: a null item keeps its place and is quarantined.
    items = (
        body.filter(pl.col("item").list.len() > 0)
        .select(_BATCH_FILE, "account", "item")
        .explode("item")
        .with_columns(row=(pl.int_range(1, pl.len() + 1).over(_BATCH_FILE)).cast(pl.UInt32))
    )
    articles = (
        items.drop_nulls("item")
        .unnest("item")
        .unnest("content")
        .with_columns(position=pl.int_ranges(pl.col("news_item").list.len()))
        .explode("news_item", "position")
        .drop_nulls("news_item")
        .unnest("news_item")
        .select(
            _BATCH_FILE,
            "row",
            article_key=pl.col("article_id") + pl.lit(":") + pl.col("position").cast(pl.String),
            account="account",
            title="title",
            create_time=pl.col("create_time").cast(pl.String),
            is_deleted=pl.col("is_deleted").cast(pl.String),
        )
        .with_columns(pl.lit(None, pl.String).alias(ROW_PROBLEM))
    )
    null_items = items.filter(pl.col("item").is_null()).select(
        _BATCH_FILE,
        "row",
        *(pl.lit(None, pl.String).alias(c) for c in ("article_key", "account", "title")),
        *(pl.lit(None, pl.String).alias(c) for c in ("create_time", "is_deleted")),
        pl.lit("item is null: no article in it").alias(ROW_PROBLEM),
    )
    return pl.concat([articles, null_items]).sort(_BATCH_FILE, "row", maintain_order=True)


def with_lineage(
    frame: pl.DataFrame, file: LandingFile, agency_id: str, delivery: int
) -> pl.LazyFrame:
    """A file's rows with where they come from: agency, file, row, when it was delivered, and
    its place in the delivery order."""
    return frame.lazy().with_columns(
        agency_id=pl.lit(agency_id),
        file=pl.lit(file.path),
        row=pl.col("row").cast(pl.UInt32),
        delivered_at=pl.lit(file.modified).cast(LINEAGE_SCHEMA["delivered_at"]),
        delivery=pl.lit(delivery, pl.UInt32),
    )


def file_problem(source: str, file: LandingFile, reason: str, column: str | None = None) -> dict:
    """A quarantine row for a whole file."""
    return {
        "source": source,
        "agency_id": file.agency_id,
        "file": file.path,
        "row": None,
        "column": column,
        "value": None,
        "reason": reason,
    }


@dataclass
class SourceRead:
    """What one source's landing files gave: text rows, rejected files, and what was read."""

    source: Source
    raw: pl.DataFrame
    rejected: pl.DataFrame
    inputs: list[ManifestInput]
    # Rows read, including those the reader could not split (quarantined, not in ``raw``).
    rows_read: int


# A landing file smaller than this is parsed on every run, not cached: a 1 KB CSV parses in
# ~1.3 ms, its entry takes ~1 ms to read back and ~1 ms to write (bench: 1,000 such files per
# source); a 900 KB one parses in 7 ms against 2.7 ms from its entry.
MIN_CACHED_BYTES = 64 * 1024


class ParsedFileCache:
    """Text rows of landing files already parsed, by content: a file (of ``min_bytes`` or more)
    is never parsed twice.

    Kept in the warehouse (``parsed/<source>/<reader fingerprint>/<sha256>.parquet``); only the
    columns the pipeline reads are stored, so no personal data is kept. The fingerprint changes
    when the columns read change, which retires old entries.
    """

    def __init__(self, store: Store, min_bytes: int = MIN_CACHED_BYTES) -> None:
        self.store = store
        self.min_bytes = min_bytes

    def keeps(self, data: bytes) -> bool:
        """Whether a file this size is worth an entry: a small file parses faster than its
        entry is read back."""
        return len(data) >= self.min_bytes

    @staticmethod
    def key(source: Source, file: LandingFile, checksum: str) -> str:
        reader = hashlib.sha256(f"{READER_VERSION}|{'|'.join(source.headers)}".encode()).hexdigest()
        # A WeChat pull's rows carry its account, which comes from the folder, not the content.
        scope = f"{file.parts[2]}/" if source.name == "wechat" and len(file.parts) > 3 else ""
        return f"parsed/{source.name}/{reader[:12]}/{scope}{checksum}.parquet"

    def get(self, key: str, columns: Iterable[str] = ()) -> pl.DataFrame | None:
        """The cached rows, or None: an entry that cannot be read (empty, garbage, other columns)
        is ignored, so it is parsed again and overwritten by ``put``."""
        if not self.store.exists(key):
            return None
        try:
            frame = read_parquet_bytes(self.store.read_bytes(key))
        except Exception as error:  # any damage to an entry means: parse again
            log.warning("parse cache entry %s is unreadable (%s): parsing again", key, error)
            return None
        if missing := {"row", ROW_PROBLEM, *columns} - set(frame.columns):
            log.warning("parse cache entry %s lacks %s: parsing again", key, sorted(missing))
            return None
        return frame

    def put(self, key: str, frame: pl.DataFrame) -> None:
        # A lost entry is only parsed again: no need to wait for the disk.
        self.store.write_bytes(key, parquet_bytes(frame), durable=False)


def _check_place(source: Source, file: LandingFile, channels: dict[str, list[str]]) -> None:
    """A file must belong to a registered agency and to one of its registry channels: a website
    export to an agency with 政府网站, a WeChat pull to one of its accounts.

    Checked before the parse cache is consulted: the registry may change between runs.
    """
    agency_id = file.agency_id or ""
    if agency_id not in channels:
        raise UnreadableFile(f"agency folder {agency_id!r} is not in {AGENCIES_FILE}")
    # A channel not in the registry has no row in the agency's report: its items are refused
    # here, with the reason, rather than counted and then left out of the report unseen.
    if source.name == "website" and CHANNEL_WEBSITE not in channels[agency_id]:
        raise UnreadableFile(f"{CHANNEL_WEBSITE} is not among the agency's 渠道 in {AGENCIES_FILE}")
    if source.name == "wechat":
        if file.suffix != ".json":
            raise UnreadableFile("expected wechat/<account name>/<file>.json")
        if file.parts[2] == CHANNEL_WEBSITE:
            raise UnreadableFile(
                f"{CHANNEL_WEBSITE} is the website channel, not a WeChat account: its exports "
                "go to website/"
            )
        if file.parts[2] not in channels[agency_id]:
            raise UnreadableFile(
                f"WeChat account {file.parts[2]!r} is not among the agency's 渠道 in {AGENCIES_FILE}"
            )


def _parse(data: bytes, source: Source, file: LandingFile) -> pl.DataFrame:
    if source.name == "wechat":
        return read_wechat(data, file.parts[2])
    return read_table(data, file.suffix, source.headers, source.required_headers)


@dataclass(frozen=True)
class PlainCsv:
    """A small CSV regular enough to be parsed together with others of the same header: no
    quotes but around whole values without separators in them, and on every line as many
    separators as in the header (so no blank, ragged or overflowing row: each line is a row)."""

    header: bytes
    names: list[str]  # the header's names, as written
    body: bytes  # the lines after the header, each ending in a line end


_BATCH_FILE = "nianbao:file"  # the column naming which file of a batch a line came from


# A whole value in quotes with no quote, separator or line end inside (``""``, ``"2024"``):
# it cannot hide a separator, so counting separators still counts values.
_SIMPLY_QUOTED = re.compile(rb'(?:^|(?<=[,\n]))"[^",\n]*"(?=[,\n]|$)')


def plain_csv(data: bytes) -> PlainCsv | None:
    """``data`` as a :class:`PlainCsv`, or None when it needs a reader of its own."""
    try:
        text = csv_text(data)
    except UnreadableFile:
        return None
    if b'"' in text and b'"' in _SIMPLY_QUOTED.sub(b"", text):
        return None
    end = text.find(b"\n")
    header, body = (text, b"") if end < 0 else (text[:end], text[end + 1 :])
    separators = header.count(b",")
    names = _csv_header(header)
    cleaned = {_clean_header(name) for name in names}
    if not separators or {"row", ROW_PROBLEM} & cleaned or _BATCH_FILE.encode() in text:
        return None  # one column (a blank line would be a row), or names the reader uses
    if body and not body.endswith(b"\n"):
        body += b"\n"
    lines = body[:-1].split(b"\n") if body else []
    if any(line.count(b",") != separators for line in lines):
        return None
    return PlainCsv(header, names, body)


def read_plain_csvs(files: list[PlainCsv], wanted: list[str], required: list[str]) -> pl.LazyFrame:
    """Files of one header (its required columns checked) as ``read_table`` reads each, in one
    parse: their lines marked with the file's place in ``files`` (column ``nianbao:file``),
    rows numbered per file."""
    header = files[0].header
    picked = _select_headers(files[0].names, wanted, required)
    marked = b"".join(
        f"{place},".encode() + plain.body[:-1].replace(b"\n", f"\n{place},".encode()) + b"\n"
        for place, plain in enumerate(files)
        if plain.body
    )
    frame = pl.read_csv(
        f"{_BATCH_FILE},".encode() + header + b"\n" + marked,
        columns=[0, *(i + 1 for i in picked)],
        infer_schema=False,
        raise_if_empty=False,
    )
    numbered = frame.lazy().with_columns(
        pl.col(_BATCH_FILE).cast(pl.UInt32),
        row=(pl.int_range(pl.len()).over(_BATCH_FILE) + FIRST_DATA_ROW).cast(pl.UInt32),
        **{ROW_PROBLEM: pl.lit(None, pl.String)},
    )
    return _text_columns(numbered, wanted)


def _load(
    landing: Landing,
    source: Source,
    file: LandingFile,
    channels: dict[str, list[str]],
    cache: ParsedFileCache | None,
    together: bool = True,
) -> tuple[str | None, pl.DataFrame | PlainCsv | WechatJson | UnreadableFile]:
    """One file's checksum and its text rows (or why it cannot be used); a small plain CSV or
    WeChat export is left to be parsed with the others of its source (:func:`read_plain_csvs`,
    :func:`read_wechats`).

    A file that cannot be read (refused, permission denied, an I/O error) has no checksum.
    """
    try:
        data = landing.read_bytes(file.path)
    except OSError as error:
        reason = error.strerror if error.strerror else str(error)
        return None, UnreadableFile(f"cannot be read from the landing zone: {reason}")
    checksum = sha256(data)
    key = ParsedFileCache.key(source, file, checksum)
    try:
        _check_place(source, file, channels)
        # What the cache would not keep is read together with others when it can be.
        kept = cache.keeps(data) if cache else len(data) >= MIN_CACHED_BYTES
        if together and not kept and file.suffix == ".csv" and (plain := plain_csv(data)):
            # Its header checked now, as its own reading would: refused alone, not with a batch.
            _select_headers(plain.names, source.headers, source.required_headers)
            return checksum, plain
        if together and not kept and source.name == "wechat":
            return checksum, WechatJson(file.parts[2], data)
        cached = cache if cache and kept else None
        frame = cached.get(key, source.headers) if cached else None
        if frame is None:
            frame = _parse(data, source, file)
            if cached:
                cached.put(key, frame)
    except UnreadableFile as error:
        return checksum, error
    return checksum, frame


def _wechat_read_together(
    loaded: list[tuple[str | None, pl.DataFrame | PlainCsv | WechatJson | UnreadableFile]],
) -> list[tuple[str | None, pl.DataFrame | PlainCsv | UnreadableFile]]:
    """``loaded`` with each WeChat body left by ``_load`` replaced by its rows (or why it cannot
    be used), all of them read together (:func:`read_wechats`)."""
    at = [i for i, (_, frame) in enumerate(loaded) if isinstance(frame, WechatJson)]
    read = read_wechats([loaded[i][1] for i in at])
    together = dict(zip(at, read, strict=True))
    return [(checksum, together.get(i, frame)) for i, (checksum, frame) in enumerate(loaded)]


def in_delivery_order(files: list[LandingFile]) -> list[LandingFile]:
    """Oldest first (modification time, then name, then path), so an identical re-delivery
    keeps its first delivery's place in the order: re-delivering a file then changes nothing,
    even after a correction came in between."""
    return sorted(files, key=lambda f: (f.modified, f.parts[-1], f.path))


def manifest_inputs(
    source: str, ordered: list[LandingFile], checksums: list[str | None]
) -> list[ManifestInput]:
    """The inputs the manifest lists for files read in delivery order (``in_delivery_order``)
    with these checksums: each file read, and for a repeat of content already delivered, the
    path of its first delivery. A file that could not be read (no checksum) is not listed."""
    inputs, first_delivery = [], {}
    for file, checksum in zip(ordered, checksums, strict=True):
        if checksum is None:
            continue
        duplicate_of = first_delivery.setdefault(_delivery_scope(file, checksum), file.path)
        inputs.append(
            ManifestInput(
                path=file.path,
                sha256=checksum,
                size=file.size,
                modified=file.modified.isoformat(),
                source=source,
                duplicate_of=None if duplicate_of == file.path else duplicate_of,
            )
        )
    return inputs


def _delivery_scope(file: LandingFile, checksum: str) -> str:
    """Identical content delivered again for the same agency and source (WeChat: account), in
    any subfolder, is one delivery."""
    parts = file.parts[:3] if file.source == "wechat" else file.parts[:2]
    return "/".join([*parts, checksum])


def read_source(
    landing: Landing,
    source: Source,
    files: list[LandingFile],
    channels: dict[str, list[str]],
    cache: ParsedFileCache | None = None,
    together: bool = True,
) -> SourceRead:
    """Read every landing file of one source; rejected files are returned, never raised.

    Small plain CSVs (:class:`PlainCsv`) are parsed together, one parse per header (a parse per
    file cost ten times as much); ``together=False`` reads each file alone, to the same rows.
    """
    ordered = in_delivery_order(files)
    # Decoding and parsing many small files: overlap them (Polars and IO release the GIL).
    with ThreadPoolExecutor(max_workers=4) as pool:
        loaded = _wechat_read_together(
            list(pool.map(lambda f: _load(landing, source, f, channels, cache, together), ordered))
        )
    frames, problems = [], []
    plain: dict[bytes, list[tuple[LandingFile, int, PlainCsv]]] = {}  # by header
    delivery = 0  # each file's place in the delivery order, duplicates left out
    inputs = manifest_inputs(source.name, ordered, [checksum for checksum, _ in loaded])
    first = {i.path for i in inputs if i.duplicate_of is None}
    for file, (checksum, frame) in zip(ordered, loaded, strict=True):
        if checksum is None:  # never read: no checksum to list among the inputs
            problems.append(file_problem(source.name, file, str(frame)))
            continue
        if file.path not in first:
            continue
        if isinstance(frame, UnreadableFile):
            problems.append(file_problem(source.name, file, str(frame), frame.column))
            continue
        if isinstance(frame, PlainCsv):
            plain.setdefault(frame.header, []).append((file, delivery, frame))
        else:
            frames.append(with_lineage(frame, file, file.agency_id or "", delivery))
        delivery += 1
    frames += [_plain_with_lineage(group, source) for group in plain.values()]
    schema = {
        **RAW_LINEAGE_SCHEMA,
        **dict.fromkeys(source.headers, pl.String()),
        ROW_PROBLEM: pl.String(),
    }
    raw = _joined([f.select(list(schema)).cast(schema) for f in frames], schema)
    if plain:  # the plain files' rows back in delivery order
        raw = raw.sort("delivery", maintain_order=True)
    broken = raw.filter(pl.col(ROW_PROBLEM).is_not_null()).select(
        source=pl.lit(source.name),
        agency_id="agency_id",
        file="file",
        row="row",
        column=pl.lit(None, pl.String),
        value=pl.lit(None, pl.String),
        reason=ROW_PROBLEM,
    )
    rejected = pl.concat(
        [pl.DataFrame(problems, schema=QUARANTINE_SCHEMA), broken.cast(QUARANTINE_SCHEMA)]
    )
    rows_read = raw.height
    raw = raw.filter(pl.col(ROW_PROBLEM).is_null()).drop(ROW_PROBLEM)
    return SourceRead(source, raw, rejected, inputs, rows_read)


# Files' rows joined in one query at most this many files at a time: a query per file and step
# was most of a small file's cost, but planning one query of tens of thousands of inputs takes
# time that grows with their square (20,000 files: 20 s; in chunks of 500: 1.8 s).
JOINED_PER_QUERY = 500


def _joined(frames: list[pl.LazyFrame], schema: dict) -> pl.DataFrame:
    """``frames`` one after another, collected ``JOINED_PER_QUERY`` at a time."""
    chunks = [
        pl.concat(frames[start : start + JOINED_PER_QUERY]).collect()
        for start in range(0, len(frames), JOINED_PER_QUERY)
    ]
    return pl.concat(chunks) if chunks else pl.DataFrame(schema=schema)


def _plain_with_lineage(
    group: list[tuple[LandingFile, int, PlainCsv]], source: Source
) -> pl.LazyFrame:
    """Plain CSVs of one header (each with its place in the delivery order), read in one parse,
    with their lineage as ``with_lineage`` gives it."""
    rows = read_plain_csvs([p for _, _, p in group], source.headers, source.required_headers)
    lineage = pl.LazyFrame(
        {
            _BATCH_FILE: range(len(group)),
            "agency_id": [f.agency_id or "" for f, _, _ in group],
            "file": [f.path for f, _, _ in group],
            "delivered_at": [f.modified for f, _, _ in group],
            "delivery": [d for _, d, _ in group],
        },
        schema_overrides={
            _BATCH_FILE: pl.UInt32,
            "delivered_at": LINEAGE_SCHEMA["delivered_at"],
            "delivery": pl.UInt32,
        },
    )
    return rows.join(lineage, on=_BATCH_FILE, how="left", maintain_order="left")


def group_files(files: list[LandingFile]) -> tuple[dict[str, list[LandingFile]], list[dict]]:
    """Landing files by source; files in places the landing contract does not know, as problems."""
    by_source: dict[str, list[LandingFile]] = {name: [] for name in SOURCES}
    unknown = []
    for file in files:
        if file.path == AGENCIES_FILE:
            continue
        if file.skipped:  # a symbolic link out of the zone, a fifo: listed, never read
            unknown.append(file_problem("landing", file, file.skipped))
            continue
        if file.source == NARRATIVE_FOLDER:  # read by read_narrative, not by a source reader
            if not is_narrative(file):
                unknown.append(
                    file_problem(
                        NARRATIVE_FOLDER,
                        file,
                        "not a narrative file (expected <agency_id>/narrative/<year>.md)",
                    )
                )
            continue
        # Upstream systems may file exports in subfolders (by month, by batch): any depth is fine.
        if file.source in by_source and len(file.parts) >= (4 if file.source == "wechat" else 3):
            if file.source != "wechat" and file.suffix not in TABLE_SUFFIXES:
                unknown.append(file_problem(file.source, file, "not a .csv or .xlsx file"))
                continue
            by_source[file.source].append(file)
        else:
            unknown.append(
                file_problem("landing", file, "not a landing path (<agency_id>/<source>/<file>)")
            )
    return by_source, unknown


def narrative_path(agency_id: str, year: int) -> str:
    """Where an agency's narrative file for ``year`` lies in the landing zone."""
    return f"{agency_id}/{NARRATIVE_FOLDER}/{year}.md"


def is_narrative(file: LandingFile) -> bool:
    """``<agency_id>/narrative/<name>.md``: a narrative file (of some year) in its place."""
    return (
        len(file.parts) == 3
        and file.parts[1] == NARRATIVE_FOLDER
        and file.suffix == ".md"
        and file.skipped is None
    )


def read_narrative(landing: Landing, file: LandingFile) -> str:
    """A narrative file's text; ``UnreadableFile`` saying why it cannot be used.

    Read like every landing file (a regular file inside the zone, never through a link out of
    it), at most ``MAX_NARRATIVE_BYTES``, UTF-8 with or without a BOM.
    """
    too_big = f"larger than the {MAX_NARRATIVE_BYTES // 1024} KiB a narrative file may be: not read"
    if file.size > MAX_NARRATIVE_BYTES:
        raise UnreadableFile(too_big)
    try:
        data = landing.read_bytes(file.path)
    except OSError as error:
        reason = error.strerror if error.strerror else str(error)
        raise UnreadableFile(f"cannot be read from the landing zone: {reason}") from None
    if len(data) > MAX_NARRATIVE_BYTES:  # grew after it was listed
        raise UnreadableFile(too_big)
    try:
        return data.removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableFile(
            f"not UTF-8 text (undecodable byte at offset {error.start}): save it as UTF-8"
        ) from None


def read_agencies_table(landing: Landing) -> tuple[pl.DataFrame, str]:
    """The registry's rows as text, with the file checksum; a missing registry stops the run."""
    try:
        data = landing.read_bytes(AGENCIES_FILE)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{AGENCIES_FILE} is missing from the landing zone {landing}: "
            "it lists the agencies to compile"
        ) from None
    except OSError as error:  # a link out of the zone, a fifo, permission denied, EIO
        reason = error.strerror if error.strerror else str(error)
        raise InputError(f"{AGENCIES_FILE} cannot be read from {landing}: {reason}") from None
    try:
        frame = read_table(data, ".csv", AGENCY_HEADERS, AGENCY_REQUIRED_HEADERS)
    except UnreadableFile as error:
        raise InputError(f"{AGENCIES_FILE}: {error}") from None
    # A registry row split wrongly would shift its channels and powers: stop rather than guess.
    broken = frame.filter(pl.col(ROW_PROBLEM).is_not_null())
    if not broken.is_empty():
        raise InputError(
            f"{AGENCIES_FILE} row {broken['row'][0]}: {broken[ROW_PROBLEM][0]}"
            + (f" (and {broken.height - 1} more rows)" if broken.height > 1 else "")
        )
    return frame.drop(ROW_PROBLEM), sha256(data)
