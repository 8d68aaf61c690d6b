"""The published report as one document model: title, opening, six parts, statutory tables.

Every output format (HTML, Word, PDF, Excel, Markdown, the terminal) renders this model, and
every reader of a published report (``nianbao check`` on report.html/.docx/.xlsx) returns a
``ReadDocument`` that ``cells_from_read`` turns back into cells. Pure: no IO.

Tables are laid out cell for cell as the format of 国办公开办函〔2021〕30号 prints them: a grid
of ``n_rows`` × ``n_cols`` positions, each ``TableCell`` covering ``rowspan`` × ``colspan`` of
them from its top-left ``(row, col)``. Positions a span covers have no cell of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CellKey = tuple[str, str, str]  # (section, row, column), as in transforms/cells.py


@dataclass(frozen=True)
class TableCell:
    """One cell of a laid-out table: a label, or the formatted value of a statutory cell."""

    row: int
    col: int
    text: str
    rowspan: int = 1
    colspan: int = 1
    # The statutory cell this one shows; None for labels (header rows, row labels, bands).
    key: CellKey | None = None
    # Header-row labels and clause bands; row labels of the body are not headers.
    header: bool = False


@dataclass(frozen=True)
class Table:
    """A statutory table. ``section`` is its key in transforms/cells.py (proactive, …)."""

    section: str
    n_rows: int
    n_cols: int
    cells: tuple[TableCell, ...]
    # Rows at the top repeated on each printed page and frozen in a spreadsheet.
    header_rows: int = 0
    # Relative column widths (one per column), for formats that size columns.
    column_widths: tuple[float, ...] = ()


@dataclass(frozen=True)
class Heading:
    """A part heading (level 1: 一、总体情况 …) or a subsection heading (level 2: （一）…)."""

    text: str
    level: Literal[1, 2]


@dataclass(frozen=True)
class Paragraph:
    """Body text. A placeholder stands where the narrative file has nothing yet: every format
    marks it visibly, and a run warns, so nobody publishes it unknowingly."""

    text: str
    placeholder: bool = False


Block = Heading | Paragraph | Table


@dataclass(frozen=True)
class Document:
    """One agency's report for one year, ready for any format."""

    agency_name: str
    year: int
    # The title as its lines: agency name, then "2024年政府信息公开工作年度报告" (+ a provisional
    # marker for a year-to-date report).
    title: tuple[str, ...]
    blocks: tuple[Block, ...]
    # Which parts or subsections show a placeholder (their headings), for the run's warning.
    placeholders: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadDocument:
    """What a reader recovers from a rendered report, before it is mapped back to cells.

    ``paragraphs``: body text in reading order. ``tables``: each table as a full grid of
    ``n_rows`` rows × ``n_cols`` texts, a merged region's text at its top-left position and ""
    at the positions it covers. ``source`` names the file, for error messages.
    """

    source: str
    paragraphs: tuple[str, ...]
    tables: tuple[tuple[tuple[str, ...], ...], ...]
    title: tuple[str, ...] = field(default=())
