"""What the landing zone held after the last nightly run, and what changed in it since.

Imports nothing of Prefect: ``nianbao nightly`` asks :func:`landing_changes` before starting a
flow, so a night with nothing new ends after one listing of the zone and one read of the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from flows.io.landing import Landing, LandingFile, sha256
from flows.io.store import Store, read_parquet_bytes
from flows.outputs.layout import LEDGER_KEY

LEDGER_SCHEMA = pl.Schema(
    {
        "path": pl.String(),
        "size": pl.Int64(),
        "modified": pl.Datetime("us", "UTC"),
        "sha256": pl.String(),
    }
)


@dataclass(frozen=True)
class LandingChanges:
    """Files new or changed since the ledger, paths deleted since, and the ledger as it is now."""

    changed: list[LandingFile]
    deleted: list[str]
    ledger: pl.DataFrame
    listed: list[LandingFile]  # the zone as this listing saw it, skipped entries included

    @property
    def nothing_new(self) -> bool:
        return not self.changed and not self.deleted


def read_ledger(warehouse: Store) -> pl.DataFrame:
    """What the landing zone held when the last nightly run finished."""
    try:
        return read_parquet_bytes(warehouse.read_bytes(LEDGER_KEY))
    except FileNotFoundError:
        return pl.DataFrame(schema=LEDGER_SCHEMA)


def find_changed_files(zone: Landing, ledger: pl.DataFrame) -> LandingChanges:
    """What changed in ``zone`` since ``ledger``.

    A file whose size and modification time match the ledger is not read again; one that was
    touched but not changed (same checksum) is not a change. A deletion is a change.
    """
    known = {
        path: (size, modified, checksum)
        for path, size, modified, checksum in ledger.select(LEDGER_SCHEMA.names()).iter_rows()
    }
    changed, rows = [], []
    listed = zone.files()
    for file in listed:
        if file.skipped:  # a link out of the zone, a fifo: never read (the compile lists it)
            continue
        before = known.get(file.path)
        if before and before[0] == file.size and before[1] == file.modified:
            checksum = before[2]
        else:
            try:
                checksum = sha256(zone.read_bytes(file.path))
            except OSError:  # unreadable: a change the compile rejects by name
                checksum = None
            if not before or before[2] != checksum:
                changed.append(file)
        rows.append((file.path, file.size, file.modified, checksum))
    present = {row[0] for row in rows}
    deleted = sorted(path for path in known if path not in present)
    ledger_now = pl.DataFrame(rows, schema=LEDGER_SCHEMA, orient="row")
    return LandingChanges(changed, deleted, ledger_now, listed)


def landing_changes(zone: Landing, warehouse: Store) -> LandingChanges:
    """What changed in the landing zone since the last nightly run finished."""
    return find_changed_files(zone, read_ledger(warehouse))


class ListedLanding:
    """A landing zone whose listing was taken once: the nightly run compiles the files its
    ledger records, and the zone is not walked again. Reads go to the zone."""

    def __init__(self, zone: Landing, listed: list[LandingFile]) -> None:
        self.zone, self.listed = zone, listed

    def __str__(self) -> str:
        return str(self.zone)

    def files(self) -> list[LandingFile]:
        return list(self.listed)

    def read_bytes(self, path: str) -> bytes:
        return self.zone.read_bytes(path)
