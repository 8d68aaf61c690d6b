"""Reports that stand as published: a run leaves them without drafting, rendering or reading
them again, when nothing they are made from changed since their current version.

``<out>/.standing-year=<Y>.parquet`` holds, for each report whose current version a run
published or confirmed, the two digests of what it was made from (transforms/standing.py):
``drafted`` (registry row, cells, last year's cells, narrative, quarantined rows, period,
status, code) and ``checked`` (its validation result), and the W4 findings drafting gave it (so
a standing report's warnings are told again without drafting it). A later run whose digests of
a report are equal, and whose current files are all in place, counts it as unchanged.

The table is written while the publishing journal is open, after the reports; undoing a
cut-off publish (``restore_interrupted``) removes it, so it never describes versions that are
not current. A table that cannot be read is ignored (every report is then looked at as before).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

import expectations
import flows
import transforms
from flows.io.store import Store, parquet_bytes, read_parquet_bytes
from flows.outputs.layout import (
    RENDERED,
    cells_key,
    cells_year_prefix,
    report_key,
    reports_year_prefix,
    standing_key,
    validation_key,
    validation_year_prefix,
)
from transforms.balance import VIOLATION_SCHEMA
from transforms.period import Period
from transforms.standing import agency_digests

if TYPE_CHECKING:
    from flows.steps import NarrativeRead

log = logging.getLogger(__name__)

W4_SCHEMA = pl.Schema({k: v for k, v in VIOLATION_SCHEMA.items() if k != "agency_id"})
STANDING_SCHEMA = pl.Schema(
    {
        "agency_id": pl.String(),
        "drafted": pl.String(),
        "checked": pl.String(),
        "w4": pl.List(pl.Struct(W4_SCHEMA)),
    }
)


@functools.cache
def code_fingerprint() -> str:
    """A digest of nianbao's own code and data files and the versions of the libraries it
    depends on: a report made by other code is never counted as standing."""
    digest = hashlib.sha256()
    for package in (flows, transforms, expectations):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix not in {".pyc", ".pyo"}:
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    try:
        required = importlib.metadata.requires("nianbao") or []
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        required = []
    for name in sorted({re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0] for r in required}):
        try:
            digest.update(f"{name}={importlib.metadata.version(name)};".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{name} missing;".encode())
    return digest.hexdigest()


def read_standing(out: Store, year: int) -> pl.DataFrame:
    """The year's standing table (STANDING_SCHEMA), empty when there is none or it is damaged;
    an agency in it twice (it never is, as written) is left out: its report is looked at."""
    key = standing_key(year)
    try:
        table = read_parquet_bytes(out.read_bytes(key))
        once = pl.len().over("agency_id") == 1
        return table.select(STANDING_SCHEMA.names()).cast(STANDING_SCHEMA).filter(once)
    except FileNotFoundError:
        return pl.DataFrame(schema=STANDING_SCHEMA)
    except Exception as error:  # any damage means: look at every report as before
        log.warning("%s is unreadable (%s): every report is looked at again", key, error)
        return pl.DataFrame(schema=STANDING_SCHEMA)


def in_place(out: Store, year: int, agency_ids: list[str]) -> set[str]:
    """The agencies whose current cells, validation result and rendered files are all there
    (three listings, not a lookup each): a file removed by hand is put back by publishing."""
    listed = set()
    for prefix in (
        cells_year_prefix(year),
        reports_year_prefix(year),
        validation_year_prefix(year),
    ):
        listed.update(out.keys(prefix))
    return {
        agency_id
        for agency_id in agency_ids
        if cells_key(year, agency_id) in listed
        and validation_key(year, agency_id) in listed
        and all(report_key(year, agency_id, name) in listed for name in RENDERED)
    }


def write_standing(out: Store, year: int, table: pl.DataFrame) -> None:
    out.write_bytes(standing_key(year), parquet_bytes(table.cast(STANDING_SCHEMA)))


@dataclass(frozen=True)
class Standing:
    """Which of a run's reports stand as published: what is known before drafting
    (``compare_with_published``), then after the checks (``after_checks``)."""

    table: pl.DataFrame  # the year's table as read (STANDING_SCHEMA)
    drafted: pl.DataFrame  # this run's drafting digest of each of its reports (DIGESTS_SCHEMA)
    # Reports drafted from the same inputs as their current version, its files all in place:
    # not drafted again (their W4 findings are the table's).
    same_drafting: frozenset[str]
    checked: pl.DataFrame | None = None  # this run's checking digests, once the checks ran
    # Of those, the reports whose validation result is that of their current version too:
    # unchanged, neither drafted, rendered nor published.
    stands: frozenset[str] = frozenset()

    def w4(self) -> pl.DataFrame:
        """The W4 findings (VIOLATION_SCHEMA) of the reports not drafted again."""
        kept = self.table.filter(pl.col("agency_id").is_in(self.same_drafting))
        return (
            kept.select("agency_id", "w4")
            .explode("w4")
            .drop_nulls("w4")
            .unnest("w4")
            .select(VIOLATION_SCHEMA.names())
            .cast(VIOLATION_SCHEMA)
        )

    def after_checks(self, checked: pl.DataFrame) -> Standing:
        """This standing once the checks gave each report's checking digest (DIGESTS_SCHEMA)."""
        same = (
            self.table.filter(pl.col("agency_id").is_in(self.same_drafting))
            .join(checked, on="agency_id")
            .filter(pl.col("checked") == pl.col("digest"))
        )
        return replace(self, checked=checked, stands=frozenset(same["agency_id"].to_list()))

    @property
    def drafted_late(self) -> frozenset[str]:
        """Reports not drafted before the checks that do not stand after them (their
        validation result changed): drafted then, and published as any other."""
        return self.same_drafting - self.stands

    def next_table(self, agency_ids: list[str], passed: set[str], w4: pl.DataFrame) -> pl.DataFrame:
        """The table once this run's reports are published: the rows of the reports that
        passed (published, or left as they were) replaced, those refused removed (their
        validation result changed), other agencies' rows as they were."""
        if self.checked is None:
            raise ValueError("the checking digests are known only after the checks")
        ids = pl.DataFrame({"agency_id": sorted(passed)}, schema={"agency_id": pl.String})
        findings = (
            w4.join(ids, on="agency_id", how="semi")
            .group_by("agency_id", maintain_order=True)
            .agg(w4=pl.struct(W4_SCHEMA.names()))
        )
        rows = (
            ids.join(self.drafted.rename({"digest": "drafted"}), on="agency_id")
            .join(self.checked.rename({"digest": "checked"}), on="agency_id")
            .join(findings, on="agency_id", how="left")
            .with_columns(pl.col("w4").fill_null(pl.lit([], STANDING_SCHEMA["w4"])))
            .select(STANDING_SCHEMA.names())
            .cast(STANDING_SCHEMA)
        )
        others = self.table.filter(~pl.col("agency_id").is_in(agency_ids))
        return pl.concat([others, rows]).sort("agency_id")


def compare_with_published(out: Store, year: int, drafted: pl.DataFrame) -> Standing:
    """The year's table, and which reports of ``drafted`` (this run's drafting digests) have
    the digest of their current version and its files in place."""
    table = read_standing(out, year)
    same = table.join(drafted, on="agency_id").filter(pl.col("drafted") == pl.col("digest"))
    candidates = same["agency_id"].to_list()
    placed = in_place(out, year, candidates) if candidates else set()
    return Standing(table, drafted, frozenset(placed))


def checking_digests(
    agency_ids: list[str], violations: pl.DataFrame, checks: list[dict]
) -> pl.DataFrame:
    """Each report's digest (DIGESTS_SCHEMA) of its validation result: every violation found
    for it, in order, and the checks run."""
    salt = code_fingerprint() + json.dumps(checks, ensure_ascii=False, sort_keys=True, default=str)
    return agency_digests(agency_ids, [("violations", violations)], salt)


def drafting_digests(
    agencies: pl.DataFrame,
    cells: pl.DataFrame,
    previous: pl.DataFrame | None,
    narratives: NarrativeRead,
    quarantine: pl.DataFrame,
    period: Period,
    status: str,
) -> pl.DataFrame:
    """Each agency's digest (DIGESTS_SCHEMA) of what its document and W4 findings are made of:
    its registry row, cells, last year's published cells, narrative (as parsed, or why it could
    not be read), quarantined rows, the period and status, and the code."""
    told = [(a, repr(n)) for a, n in narratives.narratives.items()]
    told += [(a, f"unreadable: {why}") for a, why in narratives.unreadable.items()]
    narrative = pl.DataFrame(
        told, schema={"agency_id": pl.String, "narrative": pl.String}, orient="row"
    )
    nothing = pl.DataFrame(schema={"agency_id": pl.String})
    # A cell's labels come with its key from the code (in the fingerprint): a third of the text.
    labels = ["row_label", "column_label"]
    parts = [
        ("agency", agencies),
        ("cells", cells.drop(labels, strict=False)),
        ("previous", nothing if previous is None else previous.drop(labels, strict=False)),
        ("narrative", narrative),
        ("quarantine", quarantine.filter(pl.col("agency_id").is_not_null())),
    ]
    salt = f"{code_fingerprint()}|{period!r}|{status}"
    return agency_digests(agencies["agency_id"].to_list(), parts, salt)
