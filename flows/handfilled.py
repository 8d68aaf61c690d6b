"""Reports filled in by hand: a template in the cell schema, and checking a filled one.

Offices that still count by hand fill the template and run ``nianbao check`` on it: the same
suites as a compile, the same results, the same exit codes.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import fastexcel
import polars as pl

from expectations.run import ReportValidation, validate_reports
from flows.io.landing import AGENCIES_FILE, check_xlsx_bounds, csv_text, read_agencies_table
from flows.settings import Settings
from transforms.agencies import AGENCY_ID_RULE, normalize_agencies
from transforms.balance import validation_frame
from transforms.cells import (
    CHANNEL_WEBSITE,
    VALUE_DTYPE,
    channel_name,
    channel_name_of_label,
    report_skeleton,
)
from transforms.errors import InputError
from transforms.parse import to_half_width
from transforms.sources import AGENCY_ID_PATTERN, AGENCY_SCHEMA

REQUIRED_COLUMNS = ("agency_id", "year", "section", "row", "column", "value")


class UnusableReport(InputError):
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
    agency_id: str,
    registry: pl.DataFrame | None,
    channels: list[str] | None = None,
    has_rulemaking_power: bool | None = None,
) -> pl.DataFrame:
    """The registry row of an agency, or one made from what the caller knows.

    Without a registry row the rule-making power is what the caller says, else unknown (null),
    and B9 is not checked: unknown is not "no".
    """
    if registry is not None and agency_id in registry["agency_id"].to_list():
        return registry.filter(pl.col("agency_id") == agency_id)
    return pl.DataFrame(
        [
            {
                "agency_id": agency_id,
                "name": agency_id,
                "channels": channels or [CHANNEL_WEBSITE],
                "has_rulemaking_power": has_rulemaking_power,
                "fee_decimals": 2,
            }
        ],
        schema=AGENCY_SCHEMA,
    )


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


# The optional column of a report file that says whether its agency may make 规章 (for B9 when
# the registry has no row for it), under its registry header or its English name.
POWER_COLUMNS = ("规章制定权", "has_rulemaking_power")
_POWER_VALUES = {"是": True, "否": False, "true": True, "false": False, "1": True, "0": False}
BLANK_REPORT = (
    "the report has no values filled in: fill in the template's value column "
    "(0 where there is nothing to report) and check it again"
)


def hive_keys(path: Path) -> dict[str, str]:
    """``year`` and ``agency_id`` from a published path (``…/year=2024/agency_id=ag-a/…``).

    The published cells and rendered reports carry neither in the file: the path names them.
    """
    keys = {}
    for part in path.parts:
        name, equals, value = part.partition("=")
        if equals and name in {"year", "agency_id"}:
            keys[name] = value
    return keys


def _read_table(path: Path) -> pl.DataFrame:
    """The report file as text columns, whatever its format."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pl.read_parquet(path, hive_partitioning=False).with_columns(pl.all().cast(pl.String))
    if suffix == ".xlsx":
        keys = hive_keys(path)
        return read_report_xlsx(path.read_bytes(), keys.get("agency_id"), keys.get("year"))
    return pl.read_csv(io.BytesIO(csv_text(path.read_bytes())), infer_schema=False)


def read_report_file(path: Path) -> pl.DataFrame:
    """A report in the cell schema from CSV (UTF-8, BOM or GB18030) or Parquet, or nianbao's
    own ``report_cells/…/data.parquet`` and ``report.xlsx`` (year and agency from the path)."""
    try:
        frame = _read_table(path)
    except UnusableReport:
        raise
    except Exception as error:
        raise UnusableReport(f"{path}: cannot be read: {error}") from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    # Published cells leave year and agency_id to the path (hive partitioning).
    frame = frame.with_columns(
        pl.lit(value).alias(name)
        for name, value in hive_keys(path).items()
        if name not in frame.columns
    )
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise UnusableReport(f"{path}: required column {'、'.join(missing)} is missing")
    # Row numbers as a spreadsheet shows them (the header is row 1); a Parquet file has none.
    first_row = 1 if path.suffix.lower() == ".parquet" else 2
    power = next((c for c in POWER_COLUMNS if c in frame.columns), None)
    frame = (
        frame.with_row_index("_row", offset=first_row)
        .with_columns(
            pl.col(c).str.strip_chars().replace("", None).alias(c) for c in REQUIRED_COLUMNS
        )
        .with_columns(
            year=to_half_width(pl.col("year")),
            _power=pl.col(power).str.strip_chars().str.to_lowercase().replace("", None)
            if power
            else pl.lit(None, pl.String),
        )
        # A wholly blank line (a spreadsheet's trailing ",,,,") is not a cell.
        .filter(pl.any_horizontal(pl.col(c).is_not_null() for c in REQUIRED_COLUMNS))
    )
    _reject_bad_keys(path, frame)
    years = frame["year"].unique().to_list()
    if len(years) != 1:
        raise UnusableReport(f"{path}: one report year per file, found {sorted(years) or 'none'}")
    if frame["value"].is_null().all():
        raise UnusableReport(f"{path}: {BLANK_REPORT}")
    # "/" or a blank instead of 0 becomes null, which the suite reports as a blank cell.
    return frame.select(
        "agency_id",
        pl.col("year").cast(pl.Int32),
        *(pl.col(c).str.strip_chars() for c in ("section", "row", "column")),
        value=pl.col("value")
        .str.strip_chars()
        .str.replace_all(",", "")
        .cast(VALUE_DTYPE, strict=False),
        has_rulemaking_power=_rulemaking_power(path, frame, power),
    )


def _rulemaking_power(path: Path, frame: pl.DataFrame, column: str | None) -> pl.Series:
    """The file's own 规章制定权 (是/否) per agency, on every row; null where it says nothing."""
    if column is None:
        return pl.Series([None] * frame.height, dtype=pl.Boolean)
    unknown = frame.filter(pl.col("_power").is_not_null() & ~pl.col("_power").is_in(_POWER_VALUES))
    if not unknown.is_empty():
        raise UnusableReport(
            f"{path}: row {unknown['_row'][0]}: {column} is "
            f"{unknown['_power'][0]!r}: expected 是 or 否"
        )
    said = frame.select(
        "agency_id",
        pl.col("_power").replace_strict(_POWER_VALUES, default=None, return_dtype=pl.Boolean),
    )
    both = said.drop_nulls().unique().filter(pl.len().over("agency_id") > 1)
    if not both.is_empty():
        raise UnusableReport(f"{path}: {column} says both 是 and 否 for {both['agency_id'][0]}")
    per_agency = said.drop_nulls().unique()
    return frame.select("agency_id").join(
        per_agency, on="agency_id", how="left", maintain_order="left"
    )["_power"]


def read_report_xlsx(data: bytes, agency_id: str | None, year: str | None = None) -> pl.DataFrame:
    """The cells (as text) of a ``report.xlsx`` laid out as ``flows.outputs.render.to_xlsx`` writes it.

    The layout is rebuilt by rendering the agency's own cell skeleton with each cell's index as
    its value, so every number's place in the sheet names its cell; the labels around it must
    match, or the file is not a report of this layout. Kept apart: a statutory layout will
    replace this one.
    """
    from flows.outputs.render import report_tables

    if agency_id is None:
        raise UnusableReport(
            "which agency's report this is cannot be told: check a report.xlsx "
            "where it was published (reports/year=<Y>/agency_id=<id>/)"
        )
    check_xlsx_bounds(data)
    grid = fastexcel.read_excel(data).load_sheet(0, header_row=None, dtypes="string").to_polars()
    sheet = [[(c or "").strip() for c in row] for row in grid.iter_rows()]  # a few dozen rows

    def text(line: int, column: int) -> str:
        row = sheet[line] if line < len(sheet) else []
        return row[column] if column < len(row) else ""

    # Section 一 lists the agency's own channels: read them first, they shape the skeleton.
    channels, line = [], 5  # title, period, a blank line, the table's title and header
    while text(line, 0) not in {"", "合计"}:
        label = text(line, 0)
        channels.append(channel_name_of_label(label))
        line += 1
    skeleton = report_skeleton(agency_for(agency_id, None, channels)).with_row_index("index")
    numbered = skeleton.with_columns(value=pl.col("index").cast(VALUE_DTYPE))
    values: dict[int, str | None] = {}
    line = 3
    for table in report_tables(numbered, fee_decimals=0):
        expected_rows = [[table.title], table.header, *table.rows]
        for i, expected in enumerate(expected_rows):
            for j, cell in enumerate(expected):
                found = text(line + i, j)
                if i >= 2 and cell.isdigit():
                    values[int(cell)] = found or None
                elif found != cell.strip():
                    raise UnusableReport(
                        f"row {line + i + 1}, column {j + 1}: {found!r} where a report.xlsx of "
                        f"nianbao has {cell!r}: not the layout this check reads"
                    )
        line += len(table.rows) + 3
    if year is None and (title := re.search(r"(\d{4})年政府信息公开工作年度报告", text(0, 0))):
        year = title.group(1)
    return skeleton.select(
        pl.lit(agency_id).alias("agency_id"),
        pl.lit(year, pl.String).alias("year"),
        "section",
        "row",
        "column",
        value=pl.col("index").replace_strict(values, default=None, return_dtype=pl.String),
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
    notes: list[str] = field(default_factory=list)  # what was not checked, and why

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
            channel_name(r)
            for r in frame.filter(agency_id=agency_id, section="channels")["row"].unique(
                maintain_order=True
            )
            if r != "total"
        ]
        for agency_id in agency_ids
    }
    said = (
        frame.select("agency_id", "has_rulemaking_power").drop_nulls().unique()
        if "has_rulemaking_power" in frame.columns
        else pl.DataFrame(schema={"agency_id": pl.String, "has_rulemaking_power": pl.Boolean})
    )
    power = dict(said.iter_rows())
    agencies = pl.concat(
        [agency_for(a, registry, own_channels[a], power.get(a)) for a in agency_ids]
    )
    notes = [
        f"B9 not checked: no registry row for {agency_id}; give --landing with agencies.csv "
        "(or a 规章制定权 column of 是/否 in the file)"
        for agency_id in agencies.filter(pl.col("has_rulemaking_power").is_null())["agency_id"]
    ]
    cells = frame.drop("year", "has_rulemaking_power", strict=False)
    return CheckResult(
        year, agency_ids, validate_reports(validation_frame(cells, agencies, previous)), notes
    )


def write_check_results(result: CheckResult, folder: Path) -> Path:
    """result.json and the Data Docs of a check, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "year": result.year,
        "agencies": result.agency_ids,
        "passed": result.blocking.is_empty(),
        "notes": result.notes,
        "checks": result.validation.expectations,
        "violations": result.validation.violations.to_dicts(),
    }
    (folder / "result.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), "utf-8")
    for name, data in result.validation.docs_files.items():
        target = folder / "data_docs" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder / "result.json"


def default_results_folder(file: Path, year: int, agency_ids: list[str]) -> Path:
    """Where ``check`` writes its results: beside a hand-filled file, but never into a published
    dataset (a ``…/agency_id=<id>/`` folder): there, in the working folder."""
    if any(part.startswith("agency_id=") for part in file.parts):
        return Path(f"{'-'.join(agency_ids)}-{year}.validation")
    return file.with_suffix(".validation")
