"""Any published annual report, read into cells: nianbao's own files, saved pages of agency
sites, Word, PDF and text copied from a page (``nianbao audit``, issue 12).

Each file is read by its kind: HTML, DOCX and XLSX into table grids (the readers of
``nianbao check``), mapped by ``transforms.document.cells_from_read``; PDF and plain text into
text rows, mapped by ``transforms.published.cells_from_text_rows``. A grid that does not map
cleanly is read again as text rows, and whichever reading has fewer problems is kept: both
only take numbers standing where the layout puts them, so neither guesses. A bad file never
stops an audit: it comes back ``unreadable`` with the reason.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from flows.audit.text import pdf_rows, text_rows
from flows.io.landing import NotRegularFile, file_kind, look_at_entry, read_regular_file
from transforms.cells import SECTIONS, VALUE_DTYPE
from transforms.document import ReadDocument, cells_from_read, channel_cells_from_text
from transforms.problems import KIND_ZH
from transforms.published import (
    cells_from_text_rows,
    is_pre_2021_layout,
    is_statutory_grid,
    report_heading,
)

# The kinds of file an audit reads, by extension.
HTML_SUFFIXES = frozenset({".html", ".htm", ".shtml", ".xhtml"})
TEXT_SUFFIXES = frozenset({".txt", ".text", ".md"})
REPORT_SUFFIXES = HTML_SUFFIXES | TEXT_SUFFIXES | {".docx", ".xlsx", ".pdf"}
# No annual report comes near this (a saved page with inline images runs to a few MiB).
MAX_FILE_BYTES = 32 * 2**20

CELLS_SCHEMA = {"section": pl.String, "row": pl.String, "column": pl.String, "value": VALUE_DTYPE}
_UNRECOGNISED_TABLE = "（unrecognised table ignored）"


@dataclass(frozen=True)
class AuditedReport:
    """One published report as read: where from, whose and which year, and its cells."""

    source_file: str  # the path as given/found
    agency_name: str | None  # from the title
    year: int | None  # from the title / statistics period
    layout: str  # "2021" | "pre-2021" | "unreadable"
    cells: pl.DataFrame  # section,row,column,value (VALUE_DTYPE); empty when unreadable
    paragraphs: tuple[str, ...]  # the six parts' text, for the copy check
    problems: tuple[str, ...]  # what could not be read (table/row/column/why), Chinese


class _Unreadable(Exception):
    """A file that cannot be read as a report, with the reason shown to the user."""


def _empty_cells() -> pl.DataFrame:
    return pl.DataFrame(schema=CELLS_SCHEMA)


def _unreadable(source: str, why: str, name=None, year=None, paragraphs=()) -> AuditedReport:
    return AuditedReport(
        source, name, year, "unreadable", _empty_cells(), tuple(paragraphs), (f"{source}：{why}",)
    )


def read_published_report(path: Path) -> AuditedReport:
    """The report in ``path`` read into cells; never raises for a bad file (it comes back
    with layout ``unreadable`` and the reason in ``problems``)."""
    source = str(path)
    try:
        data = _read_bytes(path)
        return _read(path, source, data)
    except _Unreadable as error:
        return _unreadable(source, str(error))
    except Exception as error:
        return _unreadable(source, f"无法读取（{type(error).__name__}）（cannot be read）")


def _read_bytes(path: Path) -> bytes:
    try:
        info = os.stat(path)
    except OSError as error:
        raise _Unreadable(f"无法打开（{error.strerror}）（cannot open）") from None
    if not stat.S_ISREG(info.st_mode):
        raise _Unreadable(_not_regular(info.st_mode))
    if info.st_size > MAX_FILE_BYTES:
        raise _Unreadable(
            f"文件有{info.st_size / 2**20:,.0f} MiB，超过{MAX_FILE_BYTES // 2**20} MiB，不是年度报告"
            "（too large）"
        )
    try:  # never blocks on a fifo swapped in since the check
        data = read_regular_file(os.path.realpath(path), MAX_FILE_BYTES + 1)
    except NotRegularFile:
        raise _Unreadable(_not_regular(os.stat(path).st_mode)) from None
    if len(data) > MAX_FILE_BYTES:  # grew since stat
        raise _Unreadable(f"文件超过{MAX_FILE_BYTES // 2**20} MiB，不是年度报告（too large）")
    return data


def _decode(data: bytes) -> str:
    """Text as Chinese sites save it: UTF-8 (with or without BOM), else GB18030 (GBK)."""
    if b"\x00" in data[:4096]:
        raise _Unreadable("是二进制文件，不是文本或网页（binary file）")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _Unreadable("既不是UTF-8也不是GB18030编码的文本（unknown encoding）")


def _read(path: Path, source: str, data: bytes) -> AuditedReport:
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        from flows.outputs.formats.html import read_html

        return _from_document(_as_report(read_html, _decode(data), source), source)
    if suffix == ".docx":
        from flows.outputs.formats.docx import read_docx

        return _from_document(_as_report(read_docx, data, source), source)
    if suffix == ".xlsx":
        from flows.outputs.formats.xlsx import read_xlsx

        return _from_document(_as_report(read_xlsx, data, source), source)
    if suffix == ".pdf":
        try:
            rows, paragraphs = pdf_rows(data)
        except ValueError as error:
            raise _Unreadable(f"不是可读取文字的PDF：{error}") from None
        return _from_text(source, rows, paragraphs)
    if suffix in TEXT_SUFFIXES:
        rows, paragraphs = text_rows(_decode(data), markdown=suffix == ".md")
        return _from_text(source, rows, paragraphs)
    raise _Unreadable(f"不是可读取的报告文件类型“{suffix[:10]}”（not a report file type）")


def _as_report(reader, data: bytes | str, source: str) -> ReadDocument:
    try:
        return reader(data, source)
    except ValueError as error:  # ReportReadError, DocxReadError, UnreadableWorkbook: say why
        raise _Unreadable(" ".join(str(error).removeprefix(f"{source}: ").split())) from None


def _from_document(read: ReadDocument, source: str) -> AuditedReport:
    # Many sites lay the whole article out inside a table cell: its text is the report's
    # paragraphs (part 一's sentence among them), not a table of it.
    laid_out = tuple(
        text
        for grid in read.tables
        if not is_statutory_grid(grid)
        for row in grid
        for text in row
        if text.strip()
    )
    if laid_out:
        read = ReadDocument(read.source, (*read.paragraphs, *laid_out), read.tables, read.title)
    lines = [*read.title, *read.paragraphs]
    heading = report_heading(lines)
    texts = [*lines, *(text for grid in read.tables for row in grid for text in row)]
    if is_pre_2021_layout(texts):
        return _pre_2021(source, heading, read.paragraphs)
    try:
        cells, problems = cells_from_read(read, blank_is_zero=True)
        # A page's layout tables (navigation, footer) are no report tables and no problem.
        problems = [p for p in problems if not p.endswith(_UNRECOGNISED_TABLE)]
    except ValueError:
        cells, problems = _empty_cells(), None
    if problems is None or problems:
        # The grid did not map cleanly (a page laid out in one big table, cells split
        # unusually): the same text read as rows, without taking an empty cell for 0.
        rows = [*((p,) for p in read.paragraphs), *(row for grid in read.tables for row in grid)]
        as_text = _text_cells(source, rows, read.paragraphs, keep_blanks=(False,))
        if problems is None or len(as_text[1]) < len(problems):
            cells, problems = as_text
    return _report(source, heading, cells, problems, read.paragraphs)


def _from_text(source: str, rows, paragraphs: list[str]) -> AuditedReport:
    # A PDF line split at blanks ("2024", "年政府信息公开…") is one line of the title again.
    heading = report_heading(["".join(row) for row in rows[:200]] + paragraphs)
    if is_pre_2021_layout([text for row in rows for text in row]):
        return _pre_2021(source, heading, paragraphs)
    cells, problems = _text_cells(source, rows, paragraphs, keep_blanks=(True, False))
    return _report(source, heading, cells, problems, paragraphs)


def _text_cells(source, rows, paragraphs, keep_blanks) -> tuple[pl.DataFrame, list[str]]:
    """The tables read from text rows, each way in ``keep_blanks`` until one reads cleanly
    (the fewest problems otherwise), and section 一 from part 一's sentence."""
    best: tuple[pl.DataFrame, list[str]] | None = None
    for keep in keep_blanks:
        tables, problems = cells_from_text_rows(rows, source, keep_blanks=keep)
        if best is None or len(problems) < len(best[1]):
            best = (tables, problems)
        if not problems:
            break
    tables, problems = best
    channels, channel_problems = channel_cells_from_text(paragraphs, source)
    return pl.concat([channels, tables]), channel_problems + problems


def _report(source, heading, cells: pl.DataFrame, problems, paragraphs) -> AuditedReport:
    if cells.filter(pl.col("section") != "channels").is_empty():
        return _unreadable(
            source,
            "找不到政府信息公开工作年度报告的统计表（表二、三、四）（no statutory table found）",
            heading.agency_name,
            heading.year,
            paragraphs,
        )
    order = {section: i for i, section in enumerate(SECTIONS)}
    cells = cells.with_row_index("_at").sort(
        pl.col("section").replace_strict(order, return_dtype=pl.Int8), "_at"
    )
    return AuditedReport(
        source_file=source,
        agency_name=heading.agency_name,
        year=heading.year,
        layout="2021",
        cells=cells.drop("_at"),
        paragraphs=tuple(paragraphs),
        problems=tuple(problems),
    )


def _pre_2021(source, heading, paragraphs) -> AuditedReport:
    return AuditedReport(
        source_file=source,
        agency_name=heading.agency_name,
        year=heading.year,
        layout="pre-2021",
        cells=_empty_cells(),
        paragraphs=tuple(paragraphs),
        problems=(
            f"{source}：采用2021年以前的年度报告格式（国办公开办函〔2019〕60号），未按2021年格式读取"
            "（pre-2021 layout: not read）",
        ),
    )


def find_report_files(paths: list[Path]) -> tuple[list[Path], list[AuditedReport]]:
    """The report files among ``paths``, and the entries refused without being opened.

    A file named is taken whatever its name; in a folder, every file with a report's extension
    (.html .htm .shtml .xhtml .docx .xlsx .pdf .txt .text .md), walked without following links.
    An entry that is not a regular file inside its folder (a link pointing outside the folder, a
    broken link or a loop of links, a fifo, a device), a named path that is none, and a folder
    that cannot be listed come back ``unreadable`` with the reason (F0), never opened: a fifo
    would block the audit. Hidden files and folders and Office lock files (~$…) are no reports
    and are left out. Each sorted, each once."""
    found: dict[str, Path] = {}
    refused: dict[str, AuditedReport] = {}

    def take(file: Path, real_root: str) -> None:
        why = _refusal(str(file), real_root)
        if why is None:
            found.setdefault(str(file), file)
        else:
            refused.setdefault(str(file), _unreadable(str(file), why))

    def unlisted(error: OSError) -> None:
        why = f"无法打开文件夹（{error.strerror}），未读取（cannot list the folder）"
        refused.setdefault(str(error.filename), _unreadable(str(error.filename), why))

    for path in paths:
        if path.is_dir() and not path.is_symlink():
            root = os.path.realpath(path)
            for folder, folders, files in os.walk(path, onerror=unlisted, followlinks=False):
                # os.walk puts a link to a folder among the folders but never enters it: one
                # named like a report is looked at as a file (and refused).
                links = {f for f in folders if os.path.islink(os.path.join(folder, f))}
                folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in links)
                for name in sorted([*files, *links]):
                    if name.startswith((".", "~$")):
                        continue
                    if Path(name).suffix.lower() in REPORT_SUFFIXES:
                        take(Path(folder) / name, root)
        elif path.is_dir():
            # A link to a folder named on the command line: its target, walked the same way.
            files, bad = find_report_files([path.resolve()])
            found.update((str(f), f) for f in files)
            refused.update((r.source_file, r) for r in bad)
        else:
            take(path, os.sep)  # named on the command line: a link is followed anywhere
    return sorted(found.values(), key=str), sorted(refused.values(), key=lambda r: r.source_file)


def _refusal(path: str, real_root: str) -> str | None:
    """Why the entry ``path`` is not opened (as F0 shows it), or None for a regular file inside
    ``real_root``; looked at as the landing zone looks at its entries (``look_at_entry``)."""
    try:
        look = look_at_entry(path, real_root)
    except OSError as error:
        return f"找不到该文件（{error.strerror}）（not found）"
    if look.outside:
        return "链接指向所查文件夹之外，未读取（symbolic link out of the folder: not read）"
    if look.broken:
        return "链接无法解析（指向的文件不存在，或链接成环），未读取（broken link: not read）"
    if look.regular:
        return None
    if look.link:
        zh = KIND_ZH[look.kind]
        return f"链接指向{zh}，不是普通文件，未读取（symbolic link to {look.kind}: not read）"
    return _not_regular(look.info.st_mode)


def _not_regular(mode: int) -> str:
    kind = file_kind(mode)
    return f"{KIND_ZH[kind]}，不是普通文件，未读取（{kind}, not a regular file: not read）"
