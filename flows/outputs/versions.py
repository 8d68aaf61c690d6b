"""Every published version of a report or roll-up, kept as one object: ``run_id=<run>.zip``.

A version's zip holds ``version.json`` (which run, what status, as of when, published when, what
its files were rendered from), ``data.parquet`` (its cells, as ``report_cells/`` had them) and its
files (the rendered files; a report's ``result.json``). A version whose rendered files are an
earlier version's (a run that changed nothing in them) does not hold them again: its
version.json names the run whose zip does (``files_of``). Members are stored, not compressed:
PDF, DOCX and XLSX are compressed already.

Versions written before this layout are folders ``run_id=<run>/`` holding the same files; they
are read the same way, so an older published dataset keeps its revisions.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

from flows.io.store import Store

ABOUT = "version.json"
CELLS = "data.parquet"
SUFFIX = ".zip"
# A fixed member date: a version's zip depends only on what it holds.
_MEMBER_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Version:
    """One published version: its version.json, its cells (Parquet bytes) and its files."""

    about: dict
    cells: bytes
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.about["run_id"]

    @property
    def files_of(self) -> str:
        """The run whose version holds this version's rendered files: its own, or an earlier."""
        return self.about.get("files_of") or self.run_id


def packed(version: Version) -> bytes:
    """The version as one zip: version.json, data.parquet, then its files."""
    buffer = io.BytesIO()
    members = {
        ABOUT: json.dumps(version.about, ensure_ascii=False).encode(),
        CELLS: version.cells,
        **version.files,
    }
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, _MEMBER_DATE), data)
    return buffer.getvalue()


def unpacked(data: bytes, with_files: bool = True) -> Version:
    """A version from its zip; ``with_files=False`` leaves the files unread (revisions)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        about = json.loads(archive.read(ABOUT))
        cells = archive.read(CELLS)
        names = [n for n in archive.namelist() if n not in (ABOUT, CELLS)] if with_files else []
        return Version(about, cells, {name: archive.read(name) for name in names})


def write_version(out: Store, key: str, version: Version) -> str:
    """Write one version whole (one object): before the current files, so that a cut-off
    publish can always be restored from the version that stays current."""
    return out.write_bytes(key, packed(version))


def read_version(out: Store, key: str, with_files: bool = True) -> Version:
    """The version at ``key`` (``…/run_id=<run>.zip``), or the folder an older nianbao wrote
    for it; FileNotFoundError when there is neither."""
    if out.exists(key):
        return unpacked(out.read_bytes(key), with_files)
    folder = key.removesuffix(SUFFIX)
    about = json.loads(out.read_bytes(f"{folder}/{ABOUT}"))  # FileNotFoundError: no version
    files = {}
    if with_files:
        for file_key in out.keys(folder + "/"):
            name = file_key.rsplit("/", 1)[1]
            if name not in (ABOUT, CELLS):
                files[name] = out.read_bytes(file_key)
    return Version(about, out.read_bytes(f"{folder}/{CELLS}"), files)


def rendered_files(
    out: Store, key_of_run: Callable[[str], str], version: Version
) -> dict[str, bytes]:
    """The files of ``version``: its own, or those of the version named by ``files_of``
    (``key_of_run(run_id)`` is where a version of the same report is kept)."""
    if version.files_of == version.run_id:
        return version.files
    return read_version(out, key_of_run(version.files_of)).files


def version_keys(out: Store, prefix: str) -> list[str]:
    """The key of every version kept under ``prefix``: zips, and older versions' folders named
    as their zip would be."""
    keys = set()
    for key in out.keys(prefix):
        if key.endswith(SUFFIX):
            keys.add(key)
        elif key.endswith(f"/{ABOUT}"):
            keys.add(key.rsplit("/", 1)[0] + SUFFIX)
    return sorted(keys)
