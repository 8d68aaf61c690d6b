"""Reports filled in by hand: a template in the cell schema, and checking a filled one.

Offices that still count by hand fill the template and run ``nianbao check`` on it: the same
suites as a compile, the same results, the same exit codes.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from expectations.run import ReportValidation, validate_reports
from flows.io.landing import AGENCIES_FILE, csv_text, read_agencies_table
from flows.settings import Settings
from transforms.agencies import AGENCY_ID_RULE, normalize_agencies
from transforms.balance import validation_frame
from transforms.cells import (
    CHANNEL_COLUMN,
    CHANNEL_WEBSITE,
    SECTION_TITLES,
    VALUE_DTYPE,
    channel_name,
    channel_name_of_label,
    channel_row,
    report_skeleton,
)
from transforms.document import (
    OVERVIEW_SUBSECTIONS,
    Document,
    Heading,
    Paragraph,
    ReadDocument,
    Table,
    TableCell,
    _Reader,  # the one reading of a cell's text (blank, "/", 1,322, full-width digits)
    cells_from_read,
    final_report,
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
    return pl.read_csv(io.BytesIO(csv_text(path.read_bytes())), infer_schema=False)


def read_report_file(path: Path) -> pl.DataFrame:
    """A report in the cell schema from CSV (UTF-8, BOM or GB18030) or Parquet, or nianbao's
    own ``report_cells/…/data.parquet`` (year and agency from the path). Rendered reports
    (report.html/.docx/.xlsx) are read by :func:`read_report_document`."""
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


# --- rendered reports: report.html, report.docx, report.xlsx and the fill-in workbook ----------

# Formats of a rendered report, by file extension; everything else is read as cells.
DOCUMENT_SUFFIXES = (".html", ".htm", ".docx", ".xlsx")
# "2024年政府信息公开工作年度报告" in the title names the year; what precedes it, the agency.
_TITLE = re.compile(r"([0-9０-９]{4})\s*年\s*(?:度\s*)?政府信息公开工作年度报告")
# The fill-in workbook's table of section 一 (a published report has its counts in part 一's
# sentence instead, which an office cannot fill in as cells).
CHANNEL_TABLE_HEADER = ("渠道", CHANNEL_COLUMN[1])
CHANNEL_TOTAL_LABEL = "合计"
# Stands in for part 一 when the channel counts come from the fill-in workbook's table: the
# table's values replace the ones read from it.
_CHANNEL_SENTENCE_STANDIN = f"主动公开各类政府信息0条，其中，通过{CHANNEL_WEBSITE}公开信息0条。"


def is_report_document(path: Path) -> bool:
    """Whether ``path`` is read as a rendered report (by its extension) rather than as cells."""
    return path.suffix.lower() in DOCUMENT_SUFFIXES


def _one_line(message: str) -> str:
    return " ".join(message.split())


def read_document(path: Path) -> ReadDocument:
    """A report.html, .docx or .xlsx as paragraphs and table grids; UnusableReport if unreadable."""
    from flows.outputs.formats.docx import read_docx
    from flows.outputs.formats.html import read_html
    from flows.outputs.formats.xlsx import read_xlsx

    readers = {".html": read_html, ".htm": read_html, ".docx": read_docx, ".xlsx": read_xlsx}
    data = path.read_bytes()
    try:
        return readers[path.suffix.lower()](data, str(path))
    except ValueError as error:  # ReportReadError, DocxReadError, UnreadableWorkbook
        raise UnusableReport(_one_line(str(error))) from None


def _channel_table(grid: tuple[tuple[str, ...], ...]) -> bool:
    return bool(grid) and tuple(text.strip() for text in grid[0][:2]) == CHANNEL_TABLE_HEADER


def _channel_cells(
    read: ReadDocument,
) -> tuple[ReadDocument, list[tuple[str, str, str, object]] | None, list[str]]:
    """The fill-in workbook's channel table read as cells, and the document without it.

    None when the document has no such table (a published report: its part 一 sentence holds
    the counts). Its values are read as every other cell is (blank → a problem naming it).
    """
    grids = [grid for grid in read.tables if _channel_table(grid)]
    if not grids:
        return read, None, []
    reader = _Reader(read.source)
    table = f"表“{SECTION_TITLES['channels']}”"
    for cells in grids[0][1:]:
        label = cells[0].strip() if cells else ""
        if not label:
            continue
        row = "total" if label == CHANNEL_TOTAL_LABEL else channel_row(channel_name_of_label(label))
        where = f"{table}行“{label}”列“{CHANNEL_COLUMN[1]}”"
        reader.value("channels", row, CHANNEL_COLUMN[0], cells[1] if len(cells) > 1 else "", where)
    rest = ReadDocument(
        read.source,
        (_CHANNEL_SENTENCE_STANDIN,),
        tuple(grid for grid in read.tables if not _channel_table(grid)),
        read.title,
    )
    return rest, reader.rows, reader.problems


def _title_year_and_name(read: ReadDocument) -> tuple[str | None, str | None]:
    """The year and the agency name a report's title shows ("某局" + "2024年…年度报告")."""
    for text in ("".join(read.title), *read.paragraphs[:3]):
        match = _TITLE.search(text)
        if match:
            year = match.group(1).translate(str.maketrans("０１２３４５６７８９", "0123456789"))
            return year, re.sub(r"\s+", "", text[: match.start()]) or None
    return None, None


def _agency_by_name(path: Path, name: str | None, registry: pl.DataFrame | None) -> str:
    """The agency_id whose registry 机关名称 the title shows; without a registry row, a title
    that is itself an agency_id (as a template made without a registry shows it)."""
    ask = "give --agency (or check it where it was published: reports/year=<Y>/agency_id=<id>/)"
    if name is None:
        raise UnusableReport(f"{path}: the title names no agency: {ask}")
    if registry is not None:
        names = registry.select("agency_id", bare=pl.col("name").str.replace_all(r"\s+", ""))
        found = names.filter(pl.col("bare") == name)["agency_id"].to_list()
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise UnusableReport(
                f"{path}: {len(found)} agencies of the registry are named {name!r}: {ask}"
            )
    if re.fullmatch(AGENCY_ID_PATTERN, name):
        return name
    where = "in the registry (agencies.csv 机关名称)" if registry is not None else "(no registry)"
    raise UnusableReport(f"{path}: the agency {name!r} of the title is not found {where}: {ask}")


def read_report_document(
    path: Path,
    registry: pl.DataFrame | None,
    agency_id: str | None = None,
    year: int | None = None,
) -> tuple[pl.DataFrame, list[str]]:
    """A rendered report (report.html/.docx/.xlsx, nianbao's or filled in by hand in the same
    layout, or the fill-in workbook) as cells in the schema of :func:`read_report_file`, and
    the problems met reading it, each naming the file, table, row and column.

    Year and agency: ``year``/``agency_id`` if given, else the published path's keys, else the
    title (the agency by its registry name). Channels: the registry's, else those the document
    shows. A cell that cannot be read is null (B7 names it too).
    """
    read = read_document(path)
    read, channel_rows, problems = _channel_cells(read)
    try:
        cells, read_problems = cells_from_read(read)
    except ValueError as error:  # nothing in the file is a report
        raise UnusableReport(_one_line(str(error))) from None
    problems += read_problems
    if channel_rows is not None:
        channels = pl.DataFrame(channel_rows, schema=cells.schema, orient="row")
        cells = pl.concat([channels, cells.filter(pl.col("section") != "channels")])

    keys = hive_keys(path)
    title_year, title_name = _title_year_and_name(read)
    shown_year = str(year) if year is not None else keys.get("year") or title_year
    if shown_year is None or not re.fullmatch(r"\d{4}", shown_year):
        raise UnusableReport(
            f"{path}: the report year cannot be told from the path or the title "
            f"({shown_year or 'none'}): give --year"
        )
    agency_id = agency_id or keys.get("agency_id") or _agency_by_name(path, title_name, registry)
    if not re.fullmatch(AGENCY_ID_PATTERN, agency_id):
        raise UnusableReport(f"{path}: agency_id {agency_id!r} is not valid ({AGENCY_ID_RULE})")

    shown_channels = [
        channel_name(row)
        for row in cells.filter(section="channels")["row"].to_list()
        if row != "total"
    ]
    agency = agency_for(agency_id, registry, shown_channels or None)
    key = ["section", "row", "column"]
    skeleton = report_skeleton(agency).select(key)
    for (row,) in cells.join(skeleton, on=key, how="anti").select("row").unique().iter_rows():
        problems.append(
            f"{path}：一、总体情况中的“{channel_name(row)}”不是{agency_id}在机关名录"
            f"（agencies.csv 渠道）中登记的渠道（channel not in the registry）"
        )
    full = skeleton.join(cells, on=key, how="left", maintain_order="left")
    if full["value"].is_null().all():
        raise UnusableReport(f"{path}: {BLANK_REPORT}")
    frame = full.select(
        pl.lit(agency_id).alias("agency_id"),
        pl.lit(int(shown_year), pl.Int32).alias("year"),
        *key,
        pl.col("value").cast(VALUE_DTYPE),
        pl.lit(None, pl.Boolean).alias("has_rulemaking_power"),
    )
    return frame, problems


def template_document(agency: pl.DataFrame, year: int) -> Document:
    """The report of one agency as a fill-in form: its statutory tables with every value to
    fill in, and a table of channel counts in part 一 (the sentence a report drafts from them
    cannot be filled in). Rendered by ``template_xlsx``, which leaves value cells empty."""
    row = agency.row(0, named=True)
    cells = report_skeleton(agency).with_columns(value=pl.lit(0, VALUE_DTYPE))
    doc = final_report(
        row["agency_id"], row["name"] or row["agency_id"], year, cells, row["fee_decimals"]
    )
    channels = cells.filter(section="channels")
    table = Table(
        "channels",
        channels.height + 1,
        2,
        (
            TableCell(0, 0, CHANNEL_TABLE_HEADER[0], header=True),
            TableCell(0, 1, CHANNEL_TABLE_HEADER[1], header=True),
            *(
                cell
                for i, (key, label) in enumerate(channels.select("row", "row_label").iter_rows())
                for cell in (
                    TableCell(i + 1, 0, label),
                    TableCell(i + 1, 1, "", key=("channels", key, CHANNEL_COLUMN[0])),
                )
            ),
        ),
        header_rows=1,
        column_widths=(3.0, 1.0),
    )
    drafted = {heading for key, heading in OVERVIEW_SUBSECTIONS if key in {"proactive", "requests"}}
    blocks: list = []
    skipping = False
    for block in doc.blocks:
        if isinstance(block, Heading):
            skipping = block.text in drafted
            blocks.append(block)
            if block.text == OVERVIEW_SUBSECTIONS[0][1]:
                blocks += [Paragraph(TEMPLATE_CHANNEL_NOTE), table]
            elif skipping:
                blocks.append(Paragraph(TEMPLATE_DRAFTED_NOTE))
        elif not (skipping and isinstance(block, Paragraph)):
            blocks.append(block)
    return replace(doc, blocks=tuple(blocks))


TEMPLATE_CHANNEL_NOTE = (
    "请在下表填写本年度通过各渠道主动公开的信息条数；正式报告的本部分文字由统计数据生成。"
)
TEMPLATE_DRAFTED_NOTE = "正式报告的本部分文字由统计表数据生成，无需在此填写。"


@dataclass
class CheckResult:
    year: int
    agency_ids: list[str]
    validation: ReportValidation
    notes: list[str] = field(default_factory=list)  # what was not checked, and why
    # What could not be read from a rendered report (a blank or "/" cell, a missing row), each
    # naming file, table, row and column: blocking, as a wrong number is.
    problems: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> pl.DataFrame:
        return self.validation.violations.filter(pl.col("severity") == "error")

    @property
    def passed(self) -> bool:
        return self.blocking.is_empty() and not self.problems


def check_report(
    frame: pl.DataFrame,
    registry: pl.DataFrame | None,
    previous: pl.DataFrame | None,
    problems: list[str] | None = None,
) -> CheckResult:
    """Run the report suite on a hand-filled report (one year, one or more agencies);
    ``problems``: what reading it met (:func:`read_report_document`)."""
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
        year,
        agency_ids,
        validate_reports(validation_frame(cells, agencies, previous)),
        notes,
        list(problems or []),
    )


def write_check_results(result: CheckResult, folder: Path) -> Path:
    """result.json and the Data Docs of a check, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "year": result.year,
        "agencies": result.agency_ids,
        "passed": result.passed,
        "notes": result.notes,
        "problems": result.problems,
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
