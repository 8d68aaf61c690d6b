"""Which old versions under ``history/`` and ``rollup_history/`` ``nianbao history prune`` removes.

The rule (docs/published-output.md), per report (one agency, one year) or roll-up:

- a final version is kept forever;
- the current version (the run its ``report_cells`` / ``rollup_cells`` carry) is kept;
- provisional versions (year-to-date, nightly) are all kept until ``provisional_days`` after
  the report's first final version was published, and after that its last ``keep_provisional``;
- a version whose rendered files a kept version names (``files_of``) is kept.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from flows.io.store import Store, read_parquet_bytes
from flows.outputs.layout import cells_key, rollup_cells_key
from flows.outputs.versions import ABOUT, SUFFIX, read_version, version_keys
from transforms.errors import InputError

# Where versions are kept, and where the current cells of the same report are.
_HISTORIES = {"history/": cells_key, "rollup_history/": rollup_cells_key}
_REPORT = re.compile(r"year=(\d{4})/agency_id=([^/]+)/run_id=[^/]+$")


@dataclass(frozen=True)
class RetentionRule:
    provisional_days: int
    keep_provisional: int


@dataclass(frozen=True)
class KeptVersion:
    """One version as the rule sees it: its key and its version.json."""

    key: str
    about: dict

    @property
    def run_id(self) -> str:
        return self.about["run_id"]

    @property
    def published_at(self) -> dt.datetime:
        moment = dt.datetime.fromisoformat(self.about["published_at"])
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # written in UTC


def versions_to_remove(
    versions: list[KeptVersion], current: str | None, rule: RetentionRule, now: dt.datetime
) -> list[KeptVersion]:
    """The versions of one report the rule does not keep, oldest first."""
    ordered = sorted(versions, key=lambda v: v.published_at)
    finals = [v for v in ordered if v.about.get("status") == "final"]
    provisional = [v for v in ordered if v.about.get("status") != "final"]
    kept = {v.run_id for v in finals}
    if current is not None:
        kept.add(current)
    if rule.keep_provisional:
        kept.update(v.run_id for v in provisional[-rule.keep_provisional :])
    final_since = finals[0].published_at if finals else None
    if final_since is None or now - final_since < dt.timedelta(days=rule.provisional_days):
        kept.update(v.run_id for v in provisional)
    # A kept version may hold no files of its own: the one it names must stay (and so on).
    files_of = {v.run_id: v.about.get("files_of") or v.run_id for v in ordered}
    named = [files_of[r] for r in kept if r in files_of]
    while named:
        holder = named.pop()
        if holder not in kept:
            kept.add(holder)
            named.append(files_of.get(holder, holder))
    return [v for v in ordered if v.run_id not in kept]


@dataclass(frozen=True)
class Pruned:
    """A version removed (or, in a dry run, to be removed)."""

    key: str
    run_id: str
    status: str
    published_at: str


def prune_history(
    out: Store, rule: RetentionRule, now: dt.datetime, year: int | None = None, dry_run=False
) -> tuple[list[Pruned], int]:
    """Remove the versions the rule does not keep (of ``year``, or every year); the versions
    removed and how many were kept. A version whose version.json cannot be read is kept."""
    removed, kept = [], 0
    for versions, current in _reports(out, year):
        gone = versions_to_remove(versions, current, rule, now)
        kept += len(versions) - len(gone)
        for version in gone:
            if not dry_run:
                _remove_version(out, version.key)
            about = version.about
            removed.append(
                Pruned(version.key, version.run_id, about.get("status", ""), about["published_at"])
            )
    return removed, kept


def _reports(out: Store, year: int | None) -> Iterator[tuple[list[KeptVersion], str | None]]:
    """Each report's (roll-up's) readable versions and its current run."""
    for prefix, current_key in _HISTORIES.items():
        scope = prefix if year is None else f"{prefix}year={year}/"
        by_report: dict[tuple[int, str], list[str]] = {}
        for key in version_keys(out, scope):
            found = _REPORT.search(key)
            if found:  # anything else under history/ is not nianbao's: left alone
                by_report.setdefault((int(found[1]), found[2]), []).append(key)
        for (report_year, agency_id), keys in sorted(by_report.items()):
            try:
                cells = current_key(report_year, agency_id)
            except InputError:
                continue  # not an agency id nianbao would have written: left alone
            versions = []
            for key in keys:
                try:
                    version = KeptVersion(key, read_version(out, key, False).about)
                    version.published_at  # noqa: B018  (a version without a time is kept)
                except (FileNotFoundError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
                    continue  # unreadable: never removed
                versions.append(version)
            current = (
                read_parquet_bytes(out.read_bytes(cells))["run_id"][0]
                if out.exists(cells)
                else None
            )
            yield versions, current


def _remove_version(out: Store, key: str) -> None:
    """The version's zip, or every file of the folder an older nianbao kept it in."""
    if out.exists(key):
        out.remove(key)
        return
    folder = key.removesuffix(SUFFIX) + "/"
    for file_key in out.keys(folder):
        if not file_key.endswith(ABOUT):
            out.remove(file_key)
    out.remove(folder + ABOUT)  # last: until then the folder is still listed as a version
