"""Writing one report to the published dataset, and reading published cells back."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import polars as pl

from flows.render import report_tables, report_title, to_html, to_markdown, to_xlsx
from flows.storage import LocalStore, parquet_bytes, read_parquet_bytes
from transforms.agencies import safe_agency_id
from transforms.period import Period
from transforms.report import changed_cells

PUBLISHED_COLUMNS = (
    "section", "row", "column", "value", "row_label", "column_label", "status", "as_of", "run_id",
)  # fmt: skip


def cells_key(year: int, agency_id: str) -> str:
    return f"report_cells/year={year}/agency_id={safe_agency_id(agency_id)}/data.parquet"


def published_cells(out: LocalStore, year: int, agency_ids: list[str]) -> pl.DataFrame | None:
    """The current published cells of ``year`` for these agencies, or None if there are none."""
    frames = [
        read_parquet_bytes(out.read_bytes(cells_key(year, agency_id))).select(
            pl.lit(agency_id).alias("agency_id"), "section", "row", "column", "value"
        )
        for agency_id in agency_ids
        if out.exists(cells_key(year, agency_id))
    ]
    return pl.concat(frames) if frames else None


@dataclass(frozen=True)
class Release:
    """What every report of one run is published as."""

    period: Period
    status: str  # final | provisional
    run_id: str
    checks: list[dict]  # the report suite's checks, for each report's validation result


def publish_report(
    out: LocalStore, agency: dict, cells: pl.DataFrame, violations: pl.DataFrame, release: Release
) -> list[str]:
    """Write one agency's report: history version first, then the current files, cells last.

    A report with a blocking violation writes only its validation result: the previous
    published version stays current.
    """
    period, status, run_id = release.period, release.status, release.run_id
    partition = f"year={period.year}/agency_id={safe_agency_id(agency['agency_id'])}"
    blocking = violations.filter(pl.col("severity") == "error")
    failed_rules = set(violations["rule"])
    validation = {
        "agency_id": agency["agency_id"],
        "year": period.year,
        "run_id": run_id,
        "passed": blocking.is_empty(),
        "checks": [
            {"rule": c["rule"], "severity": c["severity"], "passed": c["rule"] not in failed_rules}
            for c in release.checks
        ],
        "violations": violations.to_dicts(),
    }
    written = [
        out.write_bytes(
            f"validation/{partition}/result.json",
            json.dumps(validation, ensure_ascii=False, indent=2).encode(),
        )
    ]
    if not blocking.is_empty():
        return written
    published = cells.with_columns(
        status=pl.lit(status), as_of=pl.lit(period.end), run_id=pl.lit(run_id)
    ).select(PUBLISHED_COLUMNS)
    title = report_title(agency["name"] or agency["agency_id"], period.year, status)
    period_text = f"{period.start:%Y年%-m月%-d日}至{period.end:%Y年%-m月%-d日}"
    tables = report_tables(cells, agency["fee_decimals"])
    rendered = {
        "report.md": to_markdown(title, period_text, tables).encode(),
        "report.html": to_html(title, period_text, tables).encode(),
        "report.xlsx": to_xlsx(title, period_text, tables),
    }
    cells_bytes = parquet_bytes(published)
    version = f"history/{partition}/run_id={run_id}"
    about = {"run_id": run_id, "status": status, "as_of": period.end.isoformat(),
             "published_at": dt.datetime.now(dt.UTC).isoformat()}  # fmt: skip
    out.write_bytes(f"{version}/version.json", json.dumps(about).encode())
    out.write_bytes(f"{version}/data.parquet", cells_bytes)
    for name, data in rendered.items():
        out.write_bytes(f"{version}/{name}", data)
    for name, data in rendered.items():
        written.append(out.write_bytes(f"reports/{partition}/{name}", data))
    written.append(out.write_bytes(cells_key(period.year, agency["agency_id"]), cells_bytes))
    return written


def revisions(out: LocalStore, year: int, agency_id: str) -> list[dict]:
    """Every published version of one report, oldest first, with the cells each one changed."""
    prefix = f"history/year={year}/agency_id={safe_agency_id(agency_id)}/"
    versions = sorted(
        (json.loads(out.read_bytes(key)) | {"folder": key.rsplit("/", 1)[0]}
         for key in out.keys(prefix) if key.endswith("/version.json")),
        key=lambda v: v["published_at"],
    )  # fmt: skip
    current = (
        read_parquet_bytes(out.read_bytes(cells_key(year, agency_id)))["run_id"][0]
        if out.exists(cells_key(year, agency_id))
        else None
    )
    previous = None
    for version in versions:
        cells = read_parquet_bytes(out.read_bytes(f"{version['folder']}/data.parquet"))
        version["current"] = version["run_id"] == current
        version["changed"] = [] if previous is None else changed_cells(previous, cells).to_dicts()
        previous = cells
    return versions
