"""report.xlsx, its fill-in template, 数据问题清单.xlsx, and the reader of report workbooks.

A report workbook has a first sheet 报告正文 (the title lines, a blank row, then the headings and
paragraphs, one per row) and one printable sheet per table: row 1 the table's title, then the
table cell for cell (merged ranges from the spans, every position of the grid bordered). The
reader relies on that layout only, so a workbook filled in by hand in the same layout reads too.

Every string from a Document is user-controlled: it is written as a shared string
(flows/outputs/formats/spreadsheet.py), never as a formula, a link or a number, so
``=HYPERLINK(…)`` or ``http://…`` stays text.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import polars as pl

from flows.outputs.formats.spreadsheet import Sheet, Style, Validation, workbook
from transforms.cells import Unit, unit
from transforms.document import Document, Heading, Paragraph, ReadDocument, Table
from transforms.problems import reason_zh

TEXT_SHEET = "报告正文"
# Sheet names by Table.section: the part's number and a short name (Excel allows 31 characters).
SHEET_NAMES = {
    "channels": "一、总体情况",
    "proactive": "二、主动公开",
    "requests": "三、依申请公开",
    "appeals": "四、复议诉讼",
}
# Pointer left in 报告正文 where a table stands; the reader skips it (it is not report text).
_TABLE_POINTER = "（表格见工作表“{}”）"
_TABLE_POINTER_RE = re.compile(r"^（表格见工作表“.+”）$")

BODY_FONT = "仿宋"
HEADING_FONT = "黑体"
# Total width (in Excel character units) a table is scaled to: A4 portrait, or landscape for
# wide tables (table 四 has 15 value columns), so that fit-to-width barely shrinks it.
PORTRAIT_WIDTH = 96.0
LANDSCAPE_WIDTH = 140.0
LANDSCAPE_FROM_COLUMNS = 9
# LibreOffice does not shrink a one-column sheet to the page: 75 fits A4 portrait as is.
TEXT_COLUMN_WIDTH = 75.0
LINE_HEIGHT = 15.0  # points per line of 11-point text

# Bounds of a workbook the reader opens: a report is a few sheets of a few hundred cells.
MAX_XLSX_BYTES = 4 * 2**20
# openpyxl holds every cell as an object: 8 MiB of sheet XML stays within a few hundred MiB.
MAX_XLSX_UNPACKED_BYTES = 8 * 2**20
MAX_SHEET_CELLS = 200_000
MAX_SHEETS = 64


class UnreadableWorkbook(ValueError):
    """A report workbook that cannot be read; the message names the file and says why."""


# ---- writing -----------------------------------------------------------------------------------


def to_xlsx(doc: Document) -> bytes:
    """The report as a workbook: 报告正文, then one printable sheet per table."""
    return _workbook(doc, template=False)


def template_xlsx(doc: Document) -> bytes:
    """A fill-in workbook in the report's layout: value cells empty and unlocked (whole numbers
    ≥ 0, decimals ≥ 0 for money), labels locked by sheet protection without a password."""
    return _workbook(doc, template=True)


def _workbook(doc: Document, template: bool) -> bytes:
    tables = [b for b in doc.blocks if isinstance(b, Table)]
    names = _sheet_names(tables)
    sheets = [_text_sheet(doc, names)]
    heading = ""
    for block in doc.blocks:
        if isinstance(block, Heading) and block.level == 1:
            heading = block.text
        elif isinstance(block, Table):
            name = names[id(block)]
            sheets.append(_table_sheet(name, block, heading or name, template))
    return workbook(sheets)


def _sheet_names(tables: list[Table]) -> dict[int, str]:
    names: dict[int, str] = {}
    used = {TEXT_SHEET}
    for number, table in enumerate(tables, start=1):
        base = re.sub(r"[\[\]:*?/\\']", "", SHEET_NAMES.get(table.section, table.section))[:28]
        name, n = base or f"表{number}", 1
        while name in used:
            n += 1
            name = f"{base[:27]}{n}"
        used.add(name)
        names[id(table)] = name
    return names


_TITLE = Style(font=HEADING_FONT, size=18, horizontal="center", vertical="center")
_HEADINGS = {
    1: Style(font=HEADING_FONT, size=14, vertical="top"),
    2: Style(font=BODY_FONT, size=12, bold=True),
}
_BODY = Style(font=BODY_FONT, size=12, wrap=True, vertical="top")
# A placeholder must not be published unknowingly: red on yellow, as a reviewer marks it.
_PLACEHOLDER = replace(_BODY, color="C00000", fill="FFF2CC", italic=True)
_POINTER = Style(font=BODY_FONT, size=10, color="595959")
_TABLE_TITLE = Style(font=HEADING_FONT, size=14, horizontal="center", vertical="center")
_GRID = Style(font=BODY_FONT, size=10, border=True, vertical="center")
_HEADER = replace(_GRID, bold=True, wrap=True, horizontal="center")
_LABEL = replace(_GRID, wrap=True, horizontal="center")
_INTEGER = Validation("whole", 0, "数值不正确", "请填写不小于 0 的整数")
_DECIMAL = Validation("decimal", 0, "数值不正确", "请填写不小于 0 的数字（收费金额单位：万元）")


@functools.cache
def _number_style(num_format: str, locked: bool = True) -> Style:
    return replace(_GRID, horizontal="right", num_format=num_format, locked=locked)


def _text_sheet(doc: Document, names: dict[int, str]) -> Sheet:
    sheet = Sheet(
        TEXT_SHEET,
        margins=(0.8, 0.8, 1.0, 1.0),
        center_horizontally=True,
        fit_to_width=True,
        widths={0: TEXT_COLUMN_WIDTH},
    )
    row = 0
    for line in doc.title:
        sheet.write(row, 0, line, _TITLE)
        sheet.heights[row] = 30
        row += 1
    row += 1  # the blank row ends the title (the reader relies on it)
    for block in doc.blocks:
        if isinstance(block, Heading):
            sheet.write(row, 0, block.text, _HEADINGS[block.level])
            sheet.heights[row] = 24
        elif isinstance(block, Paragraph):
            sheet.write(row, 0, block.text, _PLACEHOLDER if block.placeholder else _BODY)
            lines = _lines(block.text, TEXT_COLUMN_WIDTH - 2, chars_per_unit=0.9)
            sheet.heights[row] = max(1, lines) * LINE_HEIGHT * 1.2
        else:
            sheet.write(row, 0, _TABLE_POINTER.format(names[id(block)]), _POINTER)
        row += 1
    if row:
        sheet.print_area = (0, 0, row - 1, 0)
    return sheet


def _table_sheet(name: str, table: Table, title: str, template: bool) -> Sheet:
    n_rows, n_cols = table.n_rows, table.n_cols
    widths = _column_widths(table)
    sheet = Sheet(
        name,
        landscape=n_cols >= LANDSCAPE_FROM_COLUMNS,
        margins=(0.5, 0.5, 0.75, 0.75),
        center_horizontally=True,
        fit_to_width=True,
        frozen_rows=1 + table.header_rows,
        print_area=(0, 0, n_rows, max(n_cols - 1, 0)),
        repeat_rows=(0, table.header_rows),
        # No password: the protection only guides typing into the value cells.
        protected=template,
        widths=dict(enumerate(widths)),
    )
    sheet.write(0, 0, title, _TABLE_TITLE)
    if n_cols > 1:
        sheet.merge(0, 0, 0, n_cols - 1, _TABLE_TITLE)
    sheet.heights[0] = 28

    heights = [1] * n_rows
    for cell in table.cells:
        top, left = cell.row + 1, cell.col
        bottom, right = top + cell.rowspan - 1, left + cell.colspan - 1
        if cell.key is None:
            style = _HEADER if cell.header else _LABEL
            value: str | float | None = cell.text
            span_width = sum(widths[left : right + 1])
            per_row = -(-_lines(cell.text, span_width - 1) // cell.rowspan)
            for r in range(cell.row, cell.row + cell.rowspan):
                heights[r] = max(heights[r], per_row)
        else:
            money = unit(*cell.key[:2]) is Unit.TEN_THOUSAND_YUAN
            value = None if template else _exact_number(cell.text)
            if template:
                style = _number_style("0.00##" if money else "0", locked=False)
                sheet.validate(top, left, bottom, right, _DECIMAL if money else _INTEGER)
            elif value is None:
                style, value = _LABEL, cell.text
            else:
                style = _number_style(_format_of(cell.text))
        sheet.write(top, left, value, style)
        if (top, left) != (bottom, right):
            sheet.merge(top, left, bottom, right, style)
    for r in range(n_rows):  # every position of the grid bordered, covered ones too
        for c in range(n_cols):
            sheet.cells.setdefault((r + 1, c), (_GRID, None))
    for r, lines in enumerate(heights):
        sheet.heights[r + 1] = max(lines, 1) * LINE_HEIGHT + 3
    return sheet


def _column_widths(table: Table) -> list[float]:
    relative = list(table.column_widths) if len(table.column_widths) == table.n_cols else []
    relative = relative or [1.0] * table.n_cols
    total = sum(relative) or 1.0
    target = LANDSCAPE_WIDTH if table.n_cols >= LANDSCAPE_FROM_COLUMNS else PORTRAIT_WIDTH
    return [max(4.0, round(target * w / total, 1)) for w in relative]


@functools.lru_cache(maxsize=4096)  # a table's labels are the same in every report
def _lines(text: str, width: float, chars_per_unit: float = 1.0) -> int:
    """Lines ``text`` wraps to in a column ``width`` characters wide (a CJK character counts 2)."""
    width = max(width * chars_per_unit, 2.0)
    lines = 0
    for part in text.split("\n"):
        units = sum(2 if ord(ch) > 0x2E7F else 1 for ch in part)
        lines += max(1, -(-units // int(width)))
    return lines


def _exact_number(text: str) -> float | None:
    """The number a value text shows, if a float holds it exactly as written; else None (text)."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or text.strip() != text:
        return None
    value = float(number)
    # 15 significant digits round-trip through a double; beyond that the text is kept as text.
    return value if Decimal(repr(value)) == number else None


def _format_of(text: str) -> str:
    """Number format showing as many decimals as ``text`` does: "12" → 0, "0.50" → 0.00."""
    _, _, decimals = text.strip().partition(".")
    return "0." + "0" * len(decimals) if decimals else "0"


# ---- 数据问题清单 -----------------------------------------------------------------------------

PROBLEM_COLUMNS = (("文件", 48), ("行", 8), ("列", 16), ("值", 36), ("问题", 72))
NO_PROBLEMS = "无（本次编制未隔离任何数据）"


def problems_xlsx(quarantine: pl.DataFrame) -> bytes:
    """One agency's quarantine rows as 数据问题清单.xlsx: 文件, 行, 列, 值, 问题 (in Chinese).

    ``quarantine`` has the columns of transforms.normalize.QUARANTINE_SCHEMA. A whole-file problem
    has no row or column: those cells are left empty.
    """
    return problems_xlsx_each([quarantine])[0]


def problems_xlsx_each(quarantines: Sequence[pl.DataFrame]) -> list[bytes]:
    """``problems_xlsx`` of each agency's rows, their reasons translated in one pass: a
    translation compiles every wording's pattern however few the rows (6 ms for one row)."""
    if not quarantines:
        return []
    every = pl.concat(
        q.select(pl.col(_PROBLEM_SOURCE).cast(pl.String), report=pl.lit(i, pl.UInt32))
        for i, q in enumerate(quarantines)
    )
    listed = _problem_rows(every).partition_by("report", as_dict=True, include_key=False)
    return [
        _problems_workbook(listed[(i,)]) if (i,) in listed else _no_problems_xlsx()
        for i in range(len(quarantines))
    ]


@functools.cache
def _no_problems_xlsx() -> bytes:
    # Most agencies: the same file every time.
    return _problems_workbook(pl.DataFrame(schema={c: pl.String for c in _PROBLEM_SOURCE}))


_PROBLEM_SOURCE = ("file", "row", "column", "value", "reason")


def _problem_rows(quarantine: pl.DataFrame) -> pl.DataFrame:
    """The list's cells (text), reasons in Chinese; every other column kept."""
    return quarantine.with_columns(
        pl.col("file").fill_null(""),
        pl.col("row").fill_null(""),
        pl.col("column").fill_null(""),
        pl.col("value").fill_null(""),
        reason_zh(pl.col("reason")).fill_null("").alias("reason"),
    )


_PROBLEM_HEAD = Style(font=HEADING_FONT, bold=True, border=True, fill="D9E1F2")
_PROBLEM_TEXT = Style(font=BODY_FONT, wrap=True, vertical="top")


def _problems_workbook(listed: pl.DataFrame) -> bytes:
    """The workbook of rows already listed (``_problem_rows``)."""
    listed = listed.select(_PROBLEM_SOURCE)
    sheet = Sheet(
        "数据问题清单",
        landscape=True,
        fit_to_width=True,
        frozen_rows=1,
        repeat_rows=(0, 0),
        autofilter=(0, 0, max(listed.height, 1), len(PROBLEM_COLUMNS) - 1),
    )
    for col, (name, width) in enumerate(PROBLEM_COLUMNS):
        sheet.write(0, col, name, _PROBLEM_HEAD)
        sheet.widths[col] = width
    for r, values in enumerate(listed.iter_rows(), start=1):
        for col, value in enumerate(values):
            if value:  # a whole-file problem has no row, column or value
                sheet.write(r, col, value, _PROBLEM_TEXT)
    if listed.is_empty():  # said, not left blank: the office sees nothing was set aside
        sheet.write(1, 0, NO_PROBLEMS, _PROBLEM_TEXT)
    return workbook([sheet])


# ---- reading -----------------------------------------------------------------------------------


def read_xlsx(data: bytes, source: str) -> ReadDocument:
    """A report workbook (written by :func:`to_xlsx`, or filled in by hand in its layout) back to
    paragraphs and table grids. Numbers come back as the text they show: 727.08, 0, 12."""
    import openpyxl  # only the reader needs it; imported when a workbook is read

    _check_bounds(data, source)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except Exception as error:  # its message may quote the file's content
        raise UnreadableWorkbook(
            f"{source}: cannot be read as XLSX ({type(error).__name__}): damaged or not a workbook"
        ) from None
    if len(book.worksheets) > MAX_SHEETS:
        raise UnreadableWorkbook(f"{source}: more than {MAX_SHEETS} sheets: not read")
    title: tuple[str, ...] = ()
    paragraphs: tuple[str, ...] = ()
    tables = []
    for sheet in book.worksheets:
        if sheet.max_row * sheet.max_column > MAX_SHEET_CELLS:
            raise UnreadableWorkbook(
                f"{source}: sheet {sheet.title!r} reaches row {sheet.max_row:,} and column "
                f"{sheet.max_column:,}: more than the {MAX_SHEET_CELLS:,} cells a report may span"
            )
        grid = [[_cell_text(c) for c in row] for row in sheet.iter_rows()]
        if sheet.title == TEXT_SHEET:
            title, paragraphs = _text_of(grid)
        else:
            # Row 1 is the table's title; the table is everything below it.
            tables.append(tuple(tuple(row) for row in grid[1:]))
    return ReadDocument(source, paragraphs, tuple(tables), title)


def _text_of(grid: list[list[str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    lines = [next((t for t in row if t), "") for row in grid]
    end = lines.index("") if "" in lines else len(lines)
    body = (t for t in lines[end:] if t and not _TABLE_POINTER_RE.match(t))
    return tuple(t for t in lines[:end]), tuple(body)


_BLANKS = " \t\r\n\u3000\ufeff\xa0"
_NUMBER_FORMAT = re.compile(r"^0(?:\.(0*)(#*))?$")


def _cell_text(cell) -> str:
    """A cell's text as the sheet shows it: numbers without float noise, ints without .0."""
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        shown = _NUMBER_FORMAT.match(cell.number_format or "")
        if shown:
            # "0.00##": at least two decimals, at most four, rounded as Excel shows it.
            least = len(shown.group(1) or "")
            most = least + len(shown.group(2) or "")
            text = f"{Decimal(repr(value)).quantize(Decimal(1).scaleb(-most), ROUND_HALF_UP):f}"
            whole, _, decimals = text.partition(".")
            decimals = decimals.rstrip("0").ljust(least, "0")
            return f"{whole}.{decimals}" if decimals else whole
        # General shows at most the 15 significant digits Excel keeps: 727.0800000000001 (a
        # typed sum's float noise) is 727.08.
        text = f"{Decimal(f'{value:.15g}'):f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip(_BLANKS)


def _check_bounds(data: bytes, source: str) -> None:
    """Refuse a workbook too large to be a report before it is unpacked."""
    if len(data) > MAX_XLSX_BYTES:
        raise UnreadableWorkbook(
            f"{source}: {len(data) / 2**20:,.0f} MiB, more than the "
            f"{MAX_XLSX_BYTES // 2**20} MiB a report workbook may be: not read"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableWorkbook(
            f"{source}: cannot be read as XLSX: not a zip archive (truncated or not a workbook)"
        ) from None
    with archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise UnreadableWorkbook(
            f"{source}: the workbook unpacks to {unpacked / 2**20:,.0f} MiB, more than the "
            f"{MAX_XLSX_UNPACKED_BYTES // 2**20} MiB a report workbook may hold: not read"
        )
