"""``nianbao audit``: read published reports in parallel, check them, write what was found.

Writes ``cells.parquet``, ``findings.parquet`` and ``index.html`` under ``--out``; with
``--import``, the cells of each report whose agency the registry names go to the warehouse as
reported (not compiled) cells. The checks are transforms/audit.py; reading one file is
flows/audit/read.py.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from flows import progress
from flows.audit.read import AuditedReport, find_report_files, read_published_report
from transforms.errors import InputError

# Files read in this process below this many (starting worker processes costs ~1 s); above, in
# one worker process per core, in chunks so each worker's start-up is paid once.
IN_PROCESS_FILES = 8
CHUNK_FILES = 16

# Where --import puts the reported cells of one agency and year in the warehouse: apart from the
# compiled records (records/…), one file per report so a re-audit replaces it whole.
REPORTED_CELLS_PREFIX = "reported_cells/"
REPORTED_STATUS = "reported"

CELLS_SCHEMA = pl.Schema(
    {
        "source_file": pl.String(),
        "agency_name": pl.String(),
        "year": pl.Int32(),
        "section": pl.String(),
        "row": pl.String(),
        "column": pl.String(),
        "value": pl.Decimal(18, 4),
    }
)
REPORTED_CELLS_SCHEMA = pl.Schema(
    {
        "agency_id": pl.String(),
        "year": pl.Int32(),
        "section": pl.String(),
        "row": pl.String(),
        "column": pl.String(),
        "value": pl.Decimal(18, 4),
        "status": pl.String(),
        "source_file": pl.String(),
    }
)


def reported_cells_key(year: int, agency_id: str) -> str:
    """The warehouse key of one agency's reported cells for one year (``--import``)."""
    from flows.outputs.layout import partition

    return f"{REPORTED_CELLS_PREFIX}{partition(year, agency_id)}/data.parquet"


@dataclass
class AuditResult:
    reports: pl.DataFrame  # one row per file: source_file, agency_name, year, status, counts
    findings: pl.DataFrame
    cells: pl.DataFrame
    imported: list[tuple[str, str]] = field(default_factory=list)  # (file, warehouse key)
    not_imported: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    @property
    def with_errors(self) -> int:
        return self.reports.filter(pl.col("errors") > 0).height

    @property
    def with_warnings(self) -> int:
        return self.reports.filter((pl.col("errors") == 0) & (pl.col("warnings") > 0)).height

    @property
    def readable(self) -> int:
        return self.reports.filter(pl.col("layout") != "unreadable").height

    @property
    def summary(self) -> str:
        return (
            f"{self.reports.height} reports, {self.with_errors} with errors, "
            f"{self.with_warnings} with warnings"
        )


def check_out_folder(out: Path, inputs: list[Path]) -> None:
    """InputError when ``out`` lies inside an input folder: the next audit would read it."""
    target = out.resolve()
    for given in inputs:
        folder = given.resolve()
        if given.is_dir() and (target == folder or folder in target.parents):
            raise InputError(f"--out {out} is inside the input folder {given}: choose another")


def read_reports(files: list[Path]) -> Iterator[AuditedReport]:
    """Every file read as a report, in order; parallel in worker processes for many files."""
    if len(files) <= IN_PROCESS_FILES:
        for file in files:
            yield read_published_report(file)
            progress.advance("reports read", total=len(files))
        return
    workers = max(1, min(os.cpu_count() or 1, len(files) // CHUNK_FILES + 1))
    # spawn, not fork: a forked child of a process running Polars' thread pool can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for report in pool.map(read_published_report, files, chunksize=CHUNK_FILES):
            yield report
            progress.advance("reports read", total=len(files))


def _frames(reports: list[AuditedReport]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The reports, their cells and their paragraphs as the frames transforms/audit.py reads."""
    meta = pl.DataFrame(
        {
            "report": [r.source_file for r in reports],
            "agency_name": [r.agency_name for r in reports],
            "year": [r.year for r in reports],
            "layout": [r.layout for r in reports],
            "problems": [list(r.problems) for r in reports],
        },
        schema={
            "report": pl.String,
            "agency_name": pl.String,
            "year": pl.Int32,
            "layout": pl.String,
            "problems": pl.List(pl.String),
        },
    )
    cell_frames = [
        r.cells.select("section", "row", "column", "value").with_columns(
            report=pl.lit(r.source_file)
        )
        for r in reports
        if r.layout == "2021" and not r.cells.is_empty()
    ]
    cells = (
        pl.concat(cell_frames)
        if cell_frames
        else pl.DataFrame(
            schema={
                "section": pl.String,
                "row": pl.String,
                "column": pl.String,
                "value": CELLS_SCHEMA["value"],
                "report": pl.String,
            }
        )
    ).with_columns(pl.col("value").cast(CELLS_SCHEMA["value"]))
    paragraphs = pl.DataFrame(
        {
            "report": [r.source_file for r in reports for _ in r.paragraphs],
            "position": [i for r in reports for i in range(len(r.paragraphs))],
            "text": [p for r in reports for p in r.paragraphs],
        },
        schema={"report": pl.String, "position": pl.Int32, "text": pl.String},
    )
    return meta, cells, paragraphs


def _channels(meta: pl.DataFrame, cells: pl.DataFrame) -> pl.DataFrame:
    """Each report's channels as it shows them (for C1), and whether it shows any (for B8)."""
    from transforms.cells import channel_name_key

    shown = (
        cells.filter((pl.col("section") == "channels") & (pl.col("row") != "total"))
        .group_by("report", maintain_order=True)
        .agg(channels=channel_name_key(pl.col("row")))
    )
    return meta.join(shown, on="report", how="left", maintain_order="left").with_columns(
        has_channels=pl.col("channels").is_not_null(),
        channels=pl.col("channels").fill_null(pl.lit([], pl.List(pl.String))),
    )


def read_registry(path: Path) -> pl.DataFrame:
    """An agencies.csv (any name) as the registry's agencies; InputError if it cannot be used."""
    from flows.io.landing import UnreadableFile, read_table
    from transforms.agencies import normalize_agencies
    from transforms.sources import AGENCY_HEADERS, AGENCY_REQUIRED_HEADERS

    try:
        raw = read_table(path.read_bytes(), ".csv", AGENCY_HEADERS, AGENCY_REQUIRED_HEADERS)
    except UnreadableFile as error:
        raise InputError(f"--registry {path}: {error}") from None
    except OSError as error:
        raise InputError(f"--registry {path}: {error.strerror or error}") from None
    agencies, _ = normalize_agencies(raw.drop("row_problem", strict=False), path.name)
    return agencies


def audit_reports(
    paths: list[Path],
    out: Path,
    registry: Path | None = None,
    warehouse=None,
) -> AuditResult:
    """Read, check and write: ``out``/cells.parquet, findings.parquet, index.html; with a
    ``warehouse`` store (``--import``), the matched reports' cells as reported cells."""
    from flows.audit.page import index_html
    from transforms.audit import audit_findings, match_registry, report_status

    check_out_folder(out, paths)
    agencies = read_registry(registry) if registry is not None else None
    files, refused = find_report_files(paths)
    read = sorted([*read_reports(files), *refused], key=lambda report: report.source_file)
    meta, cells, paragraphs = _frames(read)
    reports = _channels(meta, cells)
    matched = (
        match_registry(reports, agencies)
        if agencies is not None
        else reports.select(
            "report",
            agency_id=pl.lit(None, pl.String),
            has_rulemaking_power=pl.lit(None, pl.Boolean),
        )
    )
    reports = reports.join(
        matched.select("report", "agency_id", "has_rulemaking_power"),
        on="report",
        how="left",
        maintain_order="left",
    )
    findings = audit_findings(reports, cells, paragraphs)
    status = report_status(reports, findings)
    published_cells = cells.join(
        reports.select("report", "agency_name", "year"), on="report", how="left"
    ).select(source_file="report", **{c: c for c in CELLS_SCHEMA.names()[1:]})
    result = AuditResult(status, findings, published_cells.cast(CELLS_SCHEMA))

    out.mkdir(parents=True, exist_ok=True)
    result.cells.write_parquet(out / "cells.parquet")
    findings.write_parquet(out / "findings.parquet")
    (out / "index.html").write_text(index_html(status, findings), encoding="utf-8")
    if warehouse is not None:
        _import(result, reports, warehouse)
    return result


def _import(result: AuditResult, reports: pl.DataFrame, warehouse) -> None:
    """Store each matched report's cells in the warehouse as reported cells (``--import``)."""
    from flows.io.store import parquet_bytes

    seen: set[tuple[int, str]] = set()
    for row in reports.sort("report").iter_rows(named=True):
        file = row["report"]
        if row["layout"] != "2021":
            result.not_imported.append((file, "not readable as a 2021-format report"))
        elif row["agency_id"] is None:
            result.not_imported.append((file, "no registry agency of that name (机关名称)"))
        elif row["year"] is None:
            result.not_imported.append((file, "the title shows no year"))
        elif (row["year"], row["agency_id"]) in seen:
            result.not_imported.append((file, "another file of the same agency and year was"))
        else:
            seen.add((row["year"], row["agency_id"]))
            frame = result.cells.filter(pl.col("source_file") == file).select(
                agency_id=pl.lit(row["agency_id"]),
                year="year",
                section="section",
                row="row",
                column="column",
                value="value",
                status=pl.lit(REPORTED_STATUS),
                source_file="source_file",
            )
            key = reported_cells_key(row["year"], row["agency_id"])
            warehouse.write_bytes(key, parquet_bytes(frame.cast(REPORTED_CELLS_SCHEMA)))
            result.imported.append((file, key))
