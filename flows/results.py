"""What a run produced, as the flows hand it on: to the manifest, the artifacts, the CLI, tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from flows.io.landing import ManifestInput
from transforms.period import Period


@dataclass
class SourceOutcome:
    """One source after normalization: records kept, rows quarantined, files read."""

    name: str
    records: pl.DataFrame
    quarantine: pl.DataFrame
    rows_read: int
    inputs: list[ManifestInput]
    # Per agency normalized by this run: where its records came from (flows/io/records.py).
    provenance: pl.DataFrame | None = None
    # The agencies whose stored records were taken, their inputs unchanged (not stored again).
    reused: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "files": len(self.inputs),
            "rows_read": self.rows_read,
            "rows_quarantined": self.quarantine.filter(pl.col("row").is_not_null())
            .select("file", "row")
            .n_unique(),
            "files_rejected": self.quarantine.filter(pl.col("row").is_null()).height,
            "records_kept": self.records.height,
        }


@dataclass
class CompileResult:
    """What a compile did, for the command line, the manifest and the tests."""

    run_id: str
    year: int
    period: Period
    status: str
    cells: pl.DataFrame
    violations: pl.DataFrame
    quarantine: pl.DataFrame
    published: list[str] = field(default_factory=list)
    # The reports that passed and equal their current version: no new version was written.
    unchanged: list[str] = field(default_factory=list)
    failed_agencies: list[str] = field(default_factory=list)
    manifest_uri: str = ""
    quarantine_uri: str = ""
    source_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    data_docs_uri: str | None = None
    record_checks: dict[str, list[dict]] = field(default_factory=dict)
    # The roll-ups along 上级机关 this run published, and their members with no report.
    rollups: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed_agencies
