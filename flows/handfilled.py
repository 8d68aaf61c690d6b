"""Reports filled in by hand: a template in the cell schema, and checking a filled one.

Offices that still count by hand fill the template and run ``nianbao check`` on it: the same
suites as a compile, the same results, the same exit codes.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from flows.landing import AGENCIES_FILE, csv_text, read_agencies_table
from flows.settings import Settings
from flows.validate import ReportValidation, validate_reports
from transforms.agencies import AGENCY_ID_RULE, normalize_agencies
from transforms.balance import validation_frame
from transforms.cells import report_skeleton
from transforms.parse import to_half_width
from transforms.sources import AGENCY_ID_PATTERN, AGENCY_SCHEMA

TEMPLATE_COLUMNS = (
    "agency_id",
    "year",
    "section",
    "row",
    "column",
    "row_label",
    "column_label",
    "value",
)
REQUIRED_COLUMNS = ("agency_id", "year", "section", "row", "column", "value")


class UnusableReport(Exception):
    """A report file that cannot be checked at all (unreadable, wrong columns)."""


def registry_or_none(settings: Settings) -> pl.DataFrame | None:
    """The agency registry of the landing zone, when it has an ``agencies.csv``."""
    try:
        raw, _ = read_agencies_table(settings.landing_zone())
    except FileNotFoundError:
        return None
    agencies, _ = normalize_agencies(raw, AGENCIES_FILE)
    return agencies


def agency_for(
    agency_id: str, registry: pl.DataFrame | None, channels: list[str] | None = None
) -> pl.DataFrame:
    """The registry row of an agency, or one made from what the caller knows."""
    if registry is not None and agency_id in registry["agency_id"].to_list():
        return registry.filter(pl.col("agency_id") == agency_id)
    return pl.DataFrame(
        [{"agency_id": agency_id, "name": agency_id, "channels": channels or ["政府网站"],
          "has_rulemaking_power": False, "fee_decimals": 2}],
        schema=AGENCY_SCHEMA,
    )  # fmt: skip


def report_template(agency: pl.DataFrame, year: int) -> pl.DataFrame:
    """Every cell of one agency's report with its labels and an empty value to fill in."""
    return report_skeleton(agency).select(
        "agency_id",
        pl.lit(year).alias("year"),
        "section",
        "row",
        "column",
        "row_label",
        "column_label",
        pl.lit(None, pl.String).alias("value"),
    )


def template_csv(frame: pl.DataFrame) -> bytes:
    # With a BOM, Excel on Chinese Windows opens the labels as text instead of mojibake.
    return b"\xef\xbb\xbf" + frame.write_csv().encode("utf-8")


def read_report_file(path: Path) -> pl.DataFrame:
    """A report in the cell schema from CSV (UTF-8, BOM or GB18030) or Parquet."""
    try:
        if path.suffix.lower() == ".parquet":
            frame = pl.read_parquet(path).with_columns(pl.all().cast(pl.String))
        else:
            frame = pl.read_csv(io.BytesIO(csv_text(path.read_bytes())), infer_schema=False)
    except Exception as error:
        raise UnusableReport(f"{path}: cannot be read: {error}") from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise UnusableReport(f"{path}: required column {'、'.join(missing)} is missing")
    # Row numbers as a spreadsheet shows them (the header is row 1); a Parquet file has none.
    first_row = 1 if path.suffix.lower() == ".parquet" else 2
    frame = (
        frame.with_row_index("_row", offset=first_row)
        .with_columns(
            pl.col(c).str.strip_chars().replace("", None).alias(c) for c in REQUIRED_COLUMNS
        )
        .with_columns(year=to_half_width(pl.col("year")))
        # A wholly blank line (a spreadsheet's trailing ",,,,") is not a cell.
        .filter(pl.any_horizontal(pl.col(c).is_not_null() for c in REQUIRED_COLUMNS))
    )
    _reject_bad_keys(path, frame)
    years = frame["year"].unique().to_list()
    if len(years) != 1:
        raise UnusableReport(f"{path}: one report year per file, found {sorted(years) or 'none'}")
    # "/" or a blank instead of 0 becomes null, which the suite reports as a blank cell.
    return frame.select(
        "agency_id",
        pl.col("year").cast(pl.Int32),
        *(pl.col(c).str.strip_chars() for c in ("section", "row", "column")),
        value=pl.col("value")
        .str.strip_chars()
        .str.replace_all(",", "")
        .cast(pl.Decimal(18, 4), strict=False),
    )


def _reject_bad_keys(path: Path, frame: pl.DataFrame) -> None:
    """UnusableReport naming the first row whose year or agency_id cannot be used.

    The year picks last year's published report and the agency_id names its folder: a blank,
    ``二〇二四`` or ``../x`` is a bad file, not a crash or a path outside the published dataset.
    """
    year_ok = pl.col("year").str.contains(r"^\d{4}$").fill_null(False)
    id_ok = pl.col("agency_id").str.contains(AGENCY_ID_PATTERN).fill_null(False)
    bad = frame.filter(~year_ok | ~id_ok).head(1).to_dicts()
    if not bad:
        return
    row = bad[0]
    if not re.fullmatch(r"\d{4}", row["year"] or ""):
        shown = "blank" if row["year"] is None else f"{row['year']!r}, not a year such as 2024"
        raise UnusableReport(f"{path}: row {row['_row']}: year is {shown}")
    raise UnusableReport(
        f"{path}: row {row['_row']}: agency_id "
        + ("is blank" if row["agency_id"] is None else f"{row['agency_id']!r} is not valid")
        + f" ({AGENCY_ID_RULE})"
    )


@dataclass
class CheckResult:
    year: int
    agency_ids: list[str]
    validation: ReportValidation

    @property
    def blocking(self) -> pl.DataFrame:
        return self.validation.violations.filter(pl.col("severity") == "error")


def check_report(
    frame: pl.DataFrame, registry: pl.DataFrame | None, previous: pl.DataFrame | None
) -> CheckResult:
    """Run the report suite on a hand-filled report (one year, one or more agencies)."""
    year = int(frame["year"][0])
    agency_ids = frame["agency_id"].unique(maintain_order=True).to_list()
    own_channels = {
        agency_id: [
            r.removeprefix("wechat:") if r != "website" else "政府网站"
            for r in frame.filter(agency_id=agency_id, section="channels")["row"].unique(
                maintain_order=True
            )
            if r != "total"
        ]
        for agency_id in agency_ids
    }
    agencies = pl.concat([agency_for(a, registry, own_channels[a]) for a in agency_ids])
    cells = frame.drop("year")
    return CheckResult(
        year, agency_ids, validate_reports(validation_frame(cells, agencies, previous))
    )


def write_check_results(result: CheckResult, folder: Path) -> Path:
    """result.json and the Data Docs of a check, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "year": result.year,
        "agencies": result.agency_ids,
        "passed": result.blocking.is_empty(),
        "checks": result.validation.expectations,
        "violations": result.validation.violations.to_dicts(),
    }
    (folder / "result.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), "utf-8")
    for name, data in result.validation.docs_files.items():
        target = folder / "data_docs" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder / "result.json"
