"""The published report as one document model: title, opening, six parts, statutory tables.

Every output format (HTML, Word, PDF, Excel, Markdown, the terminal) renders this model, and
every reader of a published report (``nianbao check`` on report.html/.docx/.xlsx) returns a
``ReadDocument`` that ``cells_from_read`` turns back into cells. Pure: no IO.

Tables are laid out cell for cell as the format of 国办公开办函〔2021〕30号 prints them: a grid
of ``n_rows`` × ``n_cols`` positions, each ``TableCell`` covering ``rowspan`` × ``colspan`` of
them from its top-left ``(row, col)``. Positions a span covers have no cell of their own.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import polars as pl

from transforms.cells import (
    APPEALS_COLUMNS,
    APPEALS_LITIGATION_LABEL,
    APPEALS_REVIEW_LABEL,
    APPEALS_ROWS,
    APPLICANT_COLUMNS,
    APPLICANT_HEADER,
    CHANNEL_COLUMN,
    CHANNEL_WEBSITE,
    ORGANIZATION_HEADER,
    OUTCOME_GROUPS,
    OUTCOME_HEADER,
    OUTCOME_ROWS,
    OUTCOME_TOTAL_LABEL,
    PROACTIVE_CONTENT_HEADER,
    PROACTIVE_ROWS,
    REQUEST_COLUMNS,
    REQUEST_ROWS,
    REQUESTS_NOTE,
    SECTION_TITLES,
    VALUE_DTYPE,
    WEBSITE_ROW,
    Unit,
    channel_row,
    outcome_item_label,
    unit,
)
from transforms.parse import LABEL_NOISE, to_half_width

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


def cell_positions(table: Table) -> dict[tuple[int, int], TableCell]:
    """Each grid position a cell covers, and that cell; every format lays a table out from it.

    Raises ``ValueError`` naming the table and the cell when a cell leaves the grid or two
    cells overlap: no format can draw such a table.

    >>> t = Table("x", 1, 2, (TableCell(0, 0, "a", colspan=2),))
    >>> sorted(cell_positions(t))
    [(0, 0), (0, 1)]
    """
    covering, _ = _grid(table)
    return {position: table.cells[i] for position, i in covering.items()}


def cells_by_row(table: Table) -> dict[int, list[TableCell]]:
    """The table's cells by starting row and column, an empty cell at each position no cell
    covers (a format drawing rows left to right would otherwise shift them)."""
    _, uncovered = _grid(table)
    rows: dict[int, list[TableCell]] = {r: [] for r in range(table.n_rows)}
    for cell in table.cells:
        rows[cell.row].append(cell)
    # A position no cell covers still needs an element, or the browser shifts the row left.
    for r, c in uncovered:
        rows[r].append(TableCell(row=r, col=c, text=""))
    for cells in rows.values():
        cells.sort(key=lambda cell: cell.col)
    return rows


def _grid(table: Table) -> tuple[dict[tuple[int, int], int], tuple[tuple[int, int], ...]]:
    spans = tuple((c.row, c.col, c.rowspan, c.colspan) for c in table.cells)
    return _grid_of(table.section, table.n_rows, table.n_cols, spans)


@functools.lru_cache(maxsize=256)
def _grid_of(
    section: str, n_rows: int, n_cols: int, spans: tuple[tuple[int, int, int, int], ...]
) -> tuple[dict[tuple[int, int], int], tuple[tuple[int, int], ...]]:
    """The index of the cell covering each position, and the positions none covers. A table's
    geometry is the same in every report (only its texts differ): worked out once for all.
    The dict returned is shared: read it, never change it."""
    covering: dict[tuple[int, int], int] = {}
    for i, (row, col, rowspan, colspan) in enumerate(spans):
        if (
            row < 0
            or col < 0
            or rowspan < 1
            or colspan < 1
            or row + rowspan > n_rows
            or col + colspan > n_cols
        ):
            raise ValueError(
                f"table {section!r}: cell at row {row}, column {col} "
                f"({rowspan}×{colspan}) lies outside its {n_rows}×{n_cols} grid"
            )
        for r in range(row, row + rowspan):
            for c in range(col, col + colspan):
                if (r, c) in covering:
                    other_row, other_col = spans[covering[(r, c)]][:2]
                    raise ValueError(
                        f"table {section!r}: cells at ({row}, {col}) and "
                        f"({other_row}, {other_col}) overlap at ({r}, {c})"
                    )
                covering[(r, c)] = i
    uncovered = tuple(
        (r, c) for r in range(n_rows) for c in range(n_cols) if (r, c) not in covering
    )
    return covering, uncovered


def head_rows(table: Table) -> int:
    """``header_rows``, grown so no header cell's rowspan crosses into the body (HTML clips
    a rowspan at the end of its row group, and a repeated page header must be whole)."""
    head = min(max(table.header_rows, 0), table.n_rows)
    grown = True
    while grown:
        grown = False
        for cell in table.cells:
            if cell.row < head < cell.row + cell.rowspan:
                head, grown = cell.row + cell.rowspan, True
    return head


OVERVIEW_HEADING = "一、总体情况"
PROBLEMS_HEADING = "五、存在的主要问题及改进情况"
OTHER_MATTERS_HEADING = "六、其他需要报告的事项"
# The six parts, in the order and with the headings of the 2021 format.
PART_HEADINGS = (
    OVERVIEW_HEADING,
    SECTION_TITLES["proactive"],
    SECTION_TITLES["requests"],
    SECTION_TITLES["appeals"],
    PROBLEMS_HEADING,
    OTHER_MATTERS_HEADING,
)
# Part 一's subsections (key, heading): the first two are drafted from the cells, the other
# three come from the narrative file.
OVERVIEW_SUBSECTIONS = (
    ("proactive", "（一）主动公开情况"),
    ("requests", "（二）依申请公开情况"),
    ("management", "（三）政府信息管理情况"),
    ("platform", "（四）政府信息公开平台建设情况"),
    ("oversight", "（五）监督保障情况"),
)
NARRATIVE_SUBSECTIONS = ("management", "platform", "oversight")
CONTACT_HEADING = "联系方式"
PLACEHOLDER_OPEN, PLACEHOLDER_CLOSE = "【待填写：", "】"


# ---------------------------------------------------------------------------------------------
# Cells and numbers
# ---------------------------------------------------------------------------------------------


def _values(cells: pl.DataFrame) -> dict[CellKey, Decimal]:
    return {
        (section, row, column): value
        for section, row, column, value in cells.select(
            "section", "row", "column", "value"
        ).iter_rows()
    }


def _cell(values: Mapping[CellKey, Decimal], key: CellKey) -> Decimal:
    try:
        return values[key]
    except KeyError:
        # Published cells always hold every key of the skeleton: a missing one is a bug upstream.
        raise ValueError(f"the report's cells lack the cell {'/'.join(key)}") from None


def format_value(value: Decimal, money: bool, fee_decimals: int) -> str:
    """A cell's value as a report prints it: counts whole, money at the agency's decimals.

    Examples
    --------
    >>> format_value(Decimal("1322.0000"), False, 2), format_value(Decimal("727.0800"), True, 2)
    ('1322', '727.08')
    >>> format_value(Decimal("0.0000"), True, 0), format_value(Decimal("0"), False, 2)
    ('0', '0')
    """
    if value == 0:
        value = Decimal(0)
    if money:
        return f"{value.quantize(Decimal(1).scaleb(-fee_decimals), rounding=ROUND_HALF_UP):f}"
    if value == value.to_integral_value():
        return f"{value.to_integral_value():f}"
    # A count is whole by B7; a fraction here is shown as it is, never rounded away.
    return f"{value.normalize():f}"


def _formatter(values: Mapping[CellKey, Decimal], fee_decimals: int):
    def text(key: CellKey) -> str:
        money = unit(key[0], key[1]) is Unit.TEN_THOUSAND_YUAN
        return _formatted(_cell(values, key), money, fee_decimals)

    return text


# A report formats ~200 values, most of them a few small counts: each distinct one once. The text
# depends on the number only, not on how it is written (1 and 1.0 give "1"), as the cache keys.
_formatted = functools.lru_cache(maxsize=4096)(format_value)


# ---------------------------------------------------------------------------------------------
# The statutory tables
# ---------------------------------------------------------------------------------------------


def _proactive_table(text) -> Table:
    cells: list[TableCell] = []
    row = 0
    clauses: list[str] = []
    for *_, clause, _ in PROACTIVE_ROWS:
        if clause not in clauses:
            clauses.append(clause)
    for clause in clauses:
        rows = [r for r in PROACTIVE_ROWS if r[2] == clause]
        columns = rows[0][3]
        cells.append(TableCell(row, 0, clause, colspan=4, header=True))
        cells.append(TableCell(row + 1, 0, PROACTIVE_CONTENT_HEADER, header=True))
        if len(columns) == 3:
            cells += [
                TableCell(row + 1, 1 + i, label, header=True)
                for i, (_, label) in enumerate(columns)
            ]
        else:
            cells.append(TableCell(row + 1, 1, columns[0][1], colspan=3, header=True))
        row += 2
        for key, label, _, row_columns in rows:
            cells.append(TableCell(row, 0, label))
            if len(row_columns) == 3:
                cells += [
                    TableCell(
                        row, 1 + i, text(("proactive", key, column)), key=("proactive", key, column)
                    )
                    for i, (column, _) in enumerate(row_columns)
                ]
            else:
                cell_key = ("proactive", key, row_columns[0][0])
                cells.append(TableCell(row, 1, text(cell_key), colspan=3, key=cell_key))
            row += 1
    return Table(
        "proactive", row, 4, tuple(cells), header_rows=0, column_widths=(3.0, 1.6, 1.6, 1.6)
    )


def _requests_table(text) -> Table:
    n_labels = 3
    cells = [
        TableCell(0, 0, REQUESTS_NOTE, rowspan=3, colspan=n_labels, header=True),
        TableCell(0, n_labels, APPLICANT_HEADER, colspan=7, header=True),
        TableCell(1, n_labels, APPLICANT_COLUMNS[0][1], rowspan=2, header=True),
        TableCell(1, n_labels + 1, ORGANIZATION_HEADER, colspan=5, header=True),
        TableCell(1, n_labels + 6, REQUEST_COLUMNS[-1][1], rowspan=2, header=True),
        *(
            TableCell(2, n_labels + i, label, header=True)
            for i, (_, label) in enumerate(APPLICANT_COLUMNS[1:], start=1)
        ),
    ]

    def values(grid_row: int, key: str) -> list[TableCell]:
        return [
            TableCell(grid_row, n_labels + i, text(("requests", key, c)), key=("requests", key, c))
            for i, (c, _) in enumerate(REQUEST_COLUMNS)
        ]

    labels = dict(REQUEST_ROWS)
    row = 3
    for key in ("new_received", "carried_over_from_last_year"):
        cells += [TableCell(row, 0, labels[key], colspan=n_labels), *values(row, key)]
        row += 1
    outcome_rows = len(OUTCOME_ROWS) + 1
    cells.append(TableCell(row, 0, OUTCOME_HEADER, rowspan=outcome_rows))
    for group, group_label, _ in OUTCOME_GROUPS:
        keys = [key for key, _, g in OUTCOME_ROWS if g == group]
        if len(keys) == 1:
            cells += [TableCell(row, 1, group_label, colspan=2), *values(row, keys[0])]
            row += 1
            continue
        cells.append(TableCell(row, 1, group_label, rowspan=len(keys)))
        for key in keys:
            cells += [TableCell(row, 2, outcome_item_label(key)), *values(row, key)]
            row += 1
    cells += [TableCell(row, 1, OUTCOME_TOTAL_LABEL, colspan=2), *values(row, "outcome_total")]
    row += 1
    key = "carried_to_next_year"
    cells += [TableCell(row, 0, labels[key], colspan=n_labels), *values(row, key)]
    row += 1
    widths = (1.2, 1.8, 4.4, *([1.0] * len(REQUEST_COLUMNS)))
    return Table("requests", row, n_labels + 7, tuple(cells), header_rows=3, column_widths=widths)


def _appeals_table(text) -> Table:
    width = len(APPEALS_COLUMNS)
    cells = [
        TableCell(0, 0, APPEALS_REVIEW_LABEL, colspan=width, header=True),
        TableCell(0, width, APPEALS_LITIGATION_LABEL, colspan=2 * width, header=True),
        *(
            TableCell(1, i, label, rowspan=2, header=True)
            for i, (_, label) in enumerate(APPEALS_COLUMNS)
        ),
    ]
    for block, (_, row_label) in enumerate(APPEALS_ROWS[1:], start=1):
        cells.append(
            TableCell(1, block * width, _appeals_sublabel(row_label), colspan=width, header=True)
        )
        cells += [
            TableCell(2, block * width + i, label, header=True)
            for i, (_, label) in enumerate(APPEALS_COLUMNS)
        ]
    cells += [
        TableCell(
            3, block * width + i, text(("appeals", row, column)), key=("appeals", row, column)
        )
        for block, (row, _) in enumerate(APPEALS_ROWS)
        for i, (column, _) in enumerate(APPEALS_COLUMNS)
    ]
    return Table(
        "appeals", 4, 3 * width, tuple(cells), header_rows=3, column_widths=(1.0,) * (3 * width)
    )


def _appeals_sublabel(row_label: str) -> str:
    # "行政诉讼·未经复议直接起诉": the table prints the part after the group.
    return row_label.split("·")[-1]


def statutory_tables(cells: pl.DataFrame, fee_decimals: int) -> tuple[Table, Table, Table]:
    """Tables 二, 三 and 四 of one agency's report, cell for cell as the 2021 format prints them.

    ``cells``: the agency's published cells (``section``, ``row``, ``column``, ``value``). Counts
    print as whole numbers, the fee at ``fee_decimals`` decimals; a zero prints 0.

    Examples
    --------
    >>> from transforms.cells import static_cells
    >>> cells = static_cells().with_columns(value=pl.lit(0, VALUE_DTYPE))
    >>> [(t.section, t.n_rows, t.n_cols) for t in statutory_tables(cells, 2)]
    [('proactive', 14, 4), ('requests', 28, 10), ('appeals', 4, 15)]
    """
    return _tables_of(_values(cells), fee_decimals)


def _tables_of(values: Mapping[CellKey, Decimal], fee_decimals: int) -> tuple[Table, Table, Table]:
    text = _formatter(values, fee_decimals)
    proactive, requests, appeals = (_filled(layout, text) for layout in _table_layouts())
    return proactive, requests, appeals


@functools.cache
def _table_layouts() -> tuple[Table, Table, Table]:
    """The three tables with their value cells empty: laid out once, the same in every report."""

    def blank(key: CellKey) -> str:
        return ""

    return _proactive_table(blank), _requests_table(blank), _appeals_table(blank)


def _filled(layout: Table, text: Callable[[CellKey], str]) -> Table:
    """``layout`` with each value cell's text."""
    cells = tuple(
        cell
        if cell.key is None
        else TableCell(
            cell.row, cell.col, text(cell.key), cell.rowspan, cell.colspan, cell.key, cell.header
        )
        for cell in layout.cells
    )
    return replace(layout, cells=cells)


# ---------------------------------------------------------------------------------------------
# The narrative file: <agency_id>/narrative/<year>.md
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Narrative:
    """What an office writes itself, by part, from its narrative file (docs/report-document.md).

    ``subsections`` maps a key of :data:`OVERVIEW_SUBSECTIONS` to its paragraphs; ``problems``
    and ``other_matters`` are parts 五 and 六 (paragraphs, and level-2 headings of their own).
    ``warnings`` name the file and line of everything the parser ignored.
    """

    source: str
    intro: tuple[str, ...] = ()
    subsections: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    problems: tuple[Heading | Paragraph, ...] = ()
    other_matters: tuple[Heading | Paragraph, ...] = ()
    electronic_version: str | None = None
    contact: str | None = None
    warnings: tuple[str, ...] = ()


_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s*(.*?)\s*#*\s*$")
# "一、", "（三）", "(3)", "3." before a heading's name: optional in the narrative file.
_HEADING_NUMBER = re.compile(
    r"^(?:[（(]\s*[一二三四五六七八九十0-9０-９]+\s*[)）]|[一二三四五六七八九十0-9０-９]+\s*[、.．])\s*"
)
# Heading name (numbering, blanks and a final 。 removed) → (kind, key).
_NARRATIVE_HEADINGS = {
    "总体情况": ("part", "overview"),
    "主动公开情况": ("subsection", "proactive"),
    "依申请公开情况": ("subsection", "requests"),
    "政府信息管理情况": ("subsection", "management"),
    "政府信息公开平台建设情况": ("subsection", "platform"),
    "监督保障情况": ("subsection", "oversight"),
    "存在的主要问题及改进情况": ("part", "problems"),
    "其他需要报告的事项": ("part", "other_matters"),
    "联系方式": ("part", "contact"),
}
# Fields of the 联系方式 part: "电子版：…" (where the electronic version is published) and
# "联系：…" (whom to contact), with the synonyms offices use.
_CONTACT_FIELDS = {
    "电子版": "electronic_version",
    "查阅": "electronic_version",
    "网址": "electronic_version",
    "联系": "contact",
    "联系人": "contact",
    "联系方式": "contact",
    "咨询": "contact",
}
_CONTACT_LINE = re.compile(r"^\s*([^：:]{1,6})\s*[：:]\s*(.+?)\s*$")


def _heading_name(text: str) -> str:
    bare = re.sub(r"\s+", "", _HEADING_NUMBER.sub("", text.strip()))
    return bare.rstrip("。.：:")


def _join_lines(lines: Sequence[str]) -> str:
    # Chinese wraps without spaces; only two Latin words meet with one.
    text = ""
    for line in lines:
        if text and text[-1].isascii() and line[0].isascii():
            text += " "
        text += line
    return text


def parse_narrative(text: str, source: str) -> Narrative:
    """An office's narrative file, by part: plain paragraphs under Markdown headings.

    Headings are matched by name, with or without their numbering (``# 五、存在的主要问题及改进情况``
    or ``# 存在的主要问题及改进情况``). Under parts 五 and 六 an unknown ``##`` heading is kept
    as a subheading; anywhere else an unknown heading, and the text under it, is ignored with a
    warning naming ``source`` and the line.

    Examples
    --------
    >>> n = parse_narrative("# 六、其他需要报告的事项\\n本年度未收取信息处理费。\\n", "ag/narrative/2024.md")
    >>> n.other_matters
    (Paragraph(text='本年度未收取信息处理费。', placeholder=False),)
    """
    intro: list[str] = []
    subsections: dict[str, list[str]] = {}
    parts: dict[str, list[Heading | Paragraph]] = {"problems": [], "other_matters": []}
    contact: dict[str, str] = {}
    warnings: list[str] = []
    # Where the current paragraph goes: ("intro"|"subsection"|"problems"|…, key) or None.
    target: tuple[str, str] | None = None
    part: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if not lines:
            return
        paragraph = _join_lines(lines)
        lines.clear()
        if target is None:
            return
        kind, key = target
        if kind == "overview":
            intro.append(paragraph)
        elif kind == "subsection":
            subsections.setdefault(key, []).append(paragraph)
        else:
            parts[key].append(Paragraph(paragraph))

    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        heading = _MARKDOWN_HEADING.match(line)
        if heading:
            flush()
            level, title = len(heading.group(1)), heading.group(2)
            known = _NARRATIVE_HEADINGS.get(_heading_name(title))
            if known and known[0] == "part":
                part = known[1]
                target = ("overview", part) if part == "overview" else (part, part)
                if part == "contact":
                    target = None
            elif known:
                part = "overview"
                target = ("subsection", known[1])
                subsections.setdefault(known[1], [])
            elif level > 1 and part in parts:
                parts[part].append(Heading(title, 2))
                target = (part, part)
            else:
                target, part = None, "ignored"
                warnings.append(
                    f"{source} 第{number}行：无法识别的标题“{title}”，其下内容已忽略"
                    f"（unknown heading, its text is ignored）"
                )
            continue
        if not line:
            flush()
            continue
        if part == "contact":
            field_match = _CONTACT_LINE.match(line)
            name = _CONTACT_FIELDS.get(field_match.group(1)) if field_match else None
            if name:
                contact[name] = field_match.group(2)
            else:
                warnings.append(
                    f"{source} 第{number}行：联系方式应写作“电子版：…”或“联系：…”，此行已忽略"
                    f"（contact lines read 电子版：… or 联系：…）"
                )
            continue
        if part is None and not lines:
            warnings.append(
                f"{source} 第{number}行：正文不在任何标题之下，已忽略（text before any heading is ignored）"
            )
        lines.append(line)
    flush()
    return Narrative(
        source=source,
        intro=tuple(intro),
        subsections={key: tuple(paragraphs) for key, paragraphs in subsections.items()},
        problems=tuple(parts["problems"]),
        other_matters=tuple(parts["other_matters"]),
        electronic_version=contact.get("electronic_version"),
        contact=contact.get("contact"),
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------------------------
# Part 一, drafted from the cells
# ---------------------------------------------------------------------------------------------


def _change(
    key: CellKey,
    values: Mapping[CellKey, Decimal],
    previous: Mapping[CellKey, Decimal] | None,
    measure: str,
    fee_decimals: int,
) -> str:
    """ "（较上年增加12条）" and the like, or "" without last year's value of the cell."""
    if previous is None or key not in previous:
        return ""
    money = unit(key[0], key[1]) is Unit.TEN_THOUSAND_YUAN
    difference = values[key] - previous[key]
    if difference == 0:
        return "（与上年持平）"
    direction = "增加" if difference > 0 else "减少"
    return f"（较上年{direction}{format_value(abs(difference), money, fee_decimals)}{measure}）"


def _channel_rows(cells: pl.DataFrame) -> list[tuple[str, str]]:
    """(row, printed label) of each channel, in the cells' order (the registry's)."""
    channels = cells.filter((pl.col("section") == "channels") & (pl.col("row") != "total")).select(
        "row", "row_label"
    )
    return [tuple(pair) for pair in channels.iter_rows()]


def _proactive_paragraphs(values, previous, cells, agency_name, year, fee_decimals) -> list[str]:
    def text(key: CellKey) -> str:
        return format_value(
            _cell(values, key), unit(key[0], key[1]) is Unit.TEN_THOUSAND_YUAN, fee_decimals
        )

    items = CHANNEL_COLUMN[0]
    total = ("channels", "total", items)
    sentence = (
        f"{year}年，{agency_name}主动公开各类政府信息{text(total)}条"
        f"{_change(total, values, previous, '条', fee_decimals)}"
    )
    per_channel = [
        f"{label}公开信息{text(('channels', row, items))}条" for row, label in _channel_rows(cells)
    ]
    if per_channel:
        sentence += "，其中，通过" + "，".join(per_channel)
    paragraphs = [sentence + "。"]

    documents = []
    for row, label, _, columns in PROACTIVE_ROWS:
        if len(columns) == 3 and any(_cell(values, ("proactive", row, c)) != 0 for c, _ in columns):
            issued, repealed, in_force = (text(("proactive", row, c)) for c, _ in columns)
            documents.append(f"制发{label}{issued}件、废止{repealed}件，现行有效{in_force}件")
    if documents:
        paragraphs.append("本年度" + "；".join(documents) + "。")

    made, not_made = [], []
    for row, label, _, columns in PROACTIVE_ROWS:
        if columns[0][0] != "decisions":
            continue
        key = ("proactive", row, "decisions")
        if _cell(values, key) != 0:
            made.append(
                f"{label}决定{text(key)}件{_change(key, values, previous, '件', fee_decimals)}"
            )
        else:
            not_made.append(label)
    if made:
        sentence = "本年度作出" + "、".join(made)
        if not_made:
            sentence += "，未作出" + "、".join(not_made) + "决定"
    else:
        sentence = "本年度未作出" + "、".join(not_made) + "决定"
    paragraphs.append(sentence + "。")

    fees = ("proactive", "fees", "amount_10k_yuan")
    if _cell(values, fees) != 0:
        paragraphs.append(
            f"本年度行政事业性收费{text(fees)}万元{_change(fees, values, previous, '万元', fee_decimals)}。"
        )
    else:
        paragraphs.append("本年度无行政事业性收费。")
    return paragraphs


def _requests_paragraph(values, previous, agency_name, year) -> str:
    def total(row: str) -> Decimal:
        return _cell(values, ("requests", row, "total"))

    def count(value: Decimal) -> str:
        return format_value(value, False, 0)

    new, carried_over = total("new_received"), total("carried_over_from_last_year")
    concluded, carried_on = total("outcome_total"), total("carried_to_next_year")
    if new == carried_over == concluded == carried_on == 0:
        return f"{year}年，{agency_name}未收到政府信息公开申请，无上年结转的申请。"
    change = _change(("requests", "new_received", "total"), values, previous, "件", 0)
    if new:
        sentence = f"{year}年，{agency_name}新收政府信息公开申请{count(new)}件{change}"
    else:
        sentence = f"{year}年，{agency_name}未新收政府信息公开申请{change}"
    if carried_over:
        sentence += f"，上年结转{count(carried_over)}件"
    sentence += "。"
    if concluded:
        answered = []
        for group, _, short in OUTCOME_GROUPS:
            n = sum(
                (
                    _cell(values, ("requests", row, "total"))
                    for row, _, g in OUTCOME_ROWS
                    if g == group
                ),
                Decimal(0),
            )
            if n:
                answered.append(f"{short}{count(n)}件")
        sentence += f"本年度办结{count(concluded)}件，其中" + "、".join(answered) + "。"
    else:
        sentence += "本年度无办结的申请。"
    if carried_on:
        sentence += f"结转下年度继续办理{count(carried_on)}件。"
    return sentence


def _placeholder(what: str) -> Paragraph:
    return Paragraph(f"{PLACEHOLDER_OPEN}{what}{PLACEHOLDER_CLOSE}", placeholder=True)


def _part_one(
    cells: pl.DataFrame,
    previous_cells: pl.DataFrame | None,
    agency_name: str,
    year: int,
    narrative: Narrative | None,
    fee_decimals: int,
    values: Mapping[CellKey, Decimal],
) -> tuple[tuple[Block, ...], tuple[str, ...]]:
    previous = _values(previous_cells) if previous_cells is not None else None
    written = narrative.subsections if narrative else {}
    blocks: list[Block] = []
    placeholders: list[str] = []
    if narrative and narrative.intro:
        blocks += [Paragraph(text) for text in narrative.intro]
    else:
        blocks.append(
            Paragraph(
                f"{year}年，{agency_name}认真贯彻落实《中华人民共和国政府信息公开条例》，"
                "依法做好政府信息主动公开、依申请公开等工作。现将本年度政府信息公开工作情况报告如下。"
            )
        )
    for key, heading in OVERVIEW_SUBSECTIONS:
        blocks.append(Heading(heading, 2))
        if key == "proactive":
            drafted = _proactive_paragraphs(
                values, previous, cells, agency_name, year, fee_decimals
            )
            blocks += [Paragraph(text) for text in drafted]
        elif key == "requests":
            blocks.append(Paragraph(_requests_paragraph(values, previous, agency_name, year)))
        if written.get(key):
            blocks += [Paragraph(text) for text in written[key]]
        elif key in NARRATIVE_SUBSECTIONS:
            blocks.append(_placeholder(f"{heading}（叙述文件“## {heading}”部分）"))
            placeholders.append(heading)
    return tuple(blocks), tuple(placeholders)


def part_one(
    cells: pl.DataFrame,
    previous_cells: pl.DataFrame | None,
    agency_name: str,
    year: int,
    narrative: Narrative | None = None,
    fee_decimals: int = 2,
) -> tuple[Block, ...]:
    """The body of part 一、总体情况 (its heading excluded): an introduction, then （一）–（五）.

    （一）主动公开情况 and （二）依申请公开情况 are drafted from ``cells``, with the change from
    ``previous_cells`` (last year's published cells) where given; the narrative's paragraphs for
    a subsection follow the drafted ones. （三）–（五） come from the narrative, else a placeholder.
    """
    values = _values(cells)
    return _part_one(cells, previous_cells, agency_name, year, narrative, fee_decimals, values)[0]


# ---------------------------------------------------------------------------------------------
# The whole report
# ---------------------------------------------------------------------------------------------

_FORMAT_NAME = "《中华人民共和国政府信息公开工作年度报告格式》（国办公开办函〔2021〕30号）"


def _opening(period_text: str, narrative: Narrative | None) -> tuple[list[Paragraph], list[str]]:
    text = (
        f"本报告根据《中华人民共和国政府信息公开条例》和{_FORMAT_NAME}要求编制，"
        "由总体情况、主动公开政府信息情况、收到和处理政府信息公开申请情况、"
        "政府信息公开行政复议和行政诉讼情况、存在的主要问题及改进情况、其他需要报告的事项六部分组成。"
        f"本报告中所列数据的统计时段为{period_text}。"
    )
    missing = []
    where = narrative.electronic_version if narrative else None
    whom = narrative.contact if narrative else None
    if where:
        text += f"本报告电子版可在{where}查阅。"
    else:
        missing.append("本报告电子版的发布位置（叙述文件“# 联系方式”部分的“电子版：…”）")
    if whom:
        text += f"如对本报告有疑问，请与{whom}联系。"
    else:
        missing.append("联系单位和联系电话（叙述文件“# 联系方式”部分的“联系：…”）")
    paragraphs = [Paragraph(text)]
    if missing:
        paragraphs.append(_placeholder("；".join(missing)))
    return paragraphs, [CONTACT_HEADING] if missing else []


def report_document(
    agency: Mapping[str, object],
    year: int,
    status: Literal["final", "provisional"],
    period_text: str,
    cells: pl.DataFrame,
    previous_cells: pl.DataFrame | None,
    narrative: Narrative | None,
    fee_decimals: int,
) -> Document:
    """One agency's report for one year: title, opening paragraph, the six parts and tables.

    ``agency`` is its registry row (``agency_name`` at least); ``period_text`` the statistics
    period as printed ("2024年1月1日至2024年12月31日"); ``cells`` its published cells and
    ``previous_cells`` last year's, if published. What the narrative lacks shows as a placeholder
    paragraph, and its heading is listed in ``Document.placeholders``. Text is raw: escaping is
    each format's job.
    """
    agency_name = str(agency["agency_name"])
    title: tuple[str, ...] = (agency_name, f"{year}年政府信息公开工作年度报告")
    if status == "provisional":
        title += (f"（临时统计：{period_text}，不作为正式报告发布）",)
    opening, placeholders = _opening(period_text, narrative)
    values = _values(cells)
    overview, overview_placeholders = _part_one(
        cells, previous_cells, agency_name, year, narrative, fee_decimals, values
    )
    placeholders += overview_placeholders
    proactive, requests, appeals = _tables_of(values, fee_decimals)
    blocks: list[Block] = [*opening, Heading(OVERVIEW_HEADING, 1), *overview]
    for heading, table in zip(PART_HEADINGS[1:4], (proactive, requests, appeals), strict=True):
        blocks += [Heading(heading, 1), table]
    for heading, written, what in (
        (PROBLEMS_HEADING, narrative.problems if narrative else (), "存在的主要问题及改进情况"),
        (
            OTHER_MATTERS_HEADING,
            narrative.other_matters if narrative else (),
            "其他需要报告的事项，含信息处理费收取情况；无则写“无。”",
        ),
    ):
        blocks.append(Heading(heading, 1))
        if any(isinstance(block, Paragraph) for block in written):
            blocks += written
        else:
            blocks += [*written, _placeholder(f"{what}（叙述文件“# {heading}”部分）")]
            placeholders.append(heading)
    return Document(
        agency_name=agency_name,
        year=year,
        title=title,
        blocks=tuple(blocks),
        placeholders=tuple(placeholders),
    )


def full_year(year: int) -> str:
    """The statistics period of a final report as printed: "2024年1月1日至2024年12月31日"."""
    return f"{year}年1月1日至{year}年12月31日"


def final_report(
    agency_id: str,
    agency_name: str,
    year: int,
    cells: pl.DataFrame,
    fee_decimals: int = 2,
    narrative: Narrative | None = None,
) -> Document:
    """The final report of a whole year with no last year to compare: what a template, a
    reader's test or a benchmark builds from cells alone."""
    return report_document(
        {"agency_id": agency_id, "agency_name": agency_name},
        year,
        "final",
        full_year(year),
        cells,
        None,
        narrative,
        fee_decimals,
    )


# ---------------------------------------------------------------------------------------------
# Reading a rendered report back into cells
# ---------------------------------------------------------------------------------------------

Grid = tuple[tuple[str, ...], ...]

# Wordings real reports print for a row (the reference report among them) → the format's own.
_LABEL_VARIANTS = (("法律和行政法规", "法律行政法规"), ("不再受理", "不再处理"))
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_GROUPED_NUMBER = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_ITEM_NUMBER = re.compile(r"^\s*[0-9０-９]+\s*[.．、]")
# Decimal(18, 4): at most 14 digits before the point and 4 after.
_MAX_INTEGER_DIGITS, _MAX_DECIMALS = 14, 4
_DIGITS = r"[0-9０-９][0-9０-９,，]*(?:[.．][0-9０-９]+)?"
_TOTAL_ITEMS = re.compile(rf"主动公开[^，。；,;]*?({_DIGITS})\s*条")
_WEBSITE_ITEMS = re.compile(
    rf"{CHANNEL_WEBSITE}\s*(?:公开|发布)[^，。；,;0-9０-９]*?({_DIGITS})\s*条"
)
_WECHAT_ITEMS = re.compile(
    rf"“([^“”]+)”\s*微信公众号\s*(?:公开|发布)[^，。；,;0-9０-９]*?({_DIGITS})\s*条"
)


def _half_width(texts: Sequence[str]) -> list[str]:
    return (
        pl.Series(texts, dtype=pl.String)
        .to_frame("t")
        .select(to_half_width(pl.col("t")))["t"]
        .to_list()
    )


@functools.lru_cache(maxsize=4096)
def _half_width_text(text: str) -> str:
    # A report shows few distinct values (mostly 0): one Polars query each, not per cell.
    return _half_width([text])[0]


@functools.lru_cache(maxsize=4096)
def _label(text: str) -> str:
    """A label as compared: half-width, without blanks, line breaks, quotes and punctuation."""
    bare = re.sub(LABEL_NOISE, "", _half_width([text])[0])
    for variant, canonical in _LABEL_VARIANTS:
        bare = bare.replace(variant, canonical)
    return bare


def _table_name(section: str) -> str:
    return f"表“{SECTION_TITLES[section]}”"


class _Reader:
    """Collects cells and problems for one read-back document."""

    def __init__(self, source: str, blank_is_zero: bool = False) -> None:
        self.source = source
        self.rows: list[tuple[str, str, str, Decimal]] = []
        self.problems: list[str] = []
        # Published pages print an empty cell for 0; nianbao's own layout always writes 0.
        self.blank_is_zero = blank_is_zero

    def problem(self, message: str) -> None:
        self.problems.append(f"{self.source}：{message}")

    def value(self, section: str, row: str, column: str, text: str, where: str) -> None:
        shown = text.strip()
        number = _half_width_text(shown).strip().replace(" ", "")
        if _GROUPED_NUMBER.match(number):
            number = number.replace(",", "")
        if not shown and self.blank_is_zero:
            self.rows.append((section, row, column, Decimal(0)))
            return
        if not shown:
            self.problem(f"{where}为空白，应填写数字（0 也须填写）（blank cell: write 0）")
            return
        if not _NUMBER.match(number):
            self.problem(f"{where}的值“{shown[:30]}”不是数字（not a number）")
            return
        whole, _, decimals = number.lstrip("-").partition(".")
        if len(whole.lstrip("0")) > _MAX_INTEGER_DIGITS or len(decimals) > _MAX_DECIMALS:
            self.problem(
                f"{where}的值“{shown[:30]}”超出可记录的范围（too large or too many decimals）"
            )
            return
        self.rows.append((section, row, column, Decimal(number)))


def _table_section(grid: Grid) -> str | None:
    labels = {_label(text) for row in grid for text in row if text.strip()}
    joined = "".join(sorted(labels))
    if _label(APPLICANT_HEADER) in labels or _label(REQUEST_ROWS[0][1]) in labels:
        return "requests"
    if _label(APPEALS_REVIEW_LABEL) in labels and _label(APPEALS_LITIGATION_LABEL) in labels:
        return "appeals"
    if "第二十条" in joined or any(_label(label) in labels for _, label, _, _ in PROACTIVE_ROWS):
        return "proactive"
    return None


def _read_proactive(grid: Grid, reader: _Reader) -> None:
    known = {_label(label): (row, columns) for row, label, _, columns in PROACTIVE_ROWS}
    header_columns: dict[str, int] = {}
    found: set[str] = set()
    for cells in grid:
        texts = [_label(text) for text in cells]
        by_label = {text: i for i, text in enumerate(texts) if text}
        document_columns = PROACTIVE_ROWS[0][3]
        if any(_label(label) in by_label for _, label in document_columns):
            header_columns = {
                column: by_label[_label(label)]
                for column, label in document_columns
                if _label(label) in by_label
            }
        if not texts or texts[0] not in known or known[texts[0]][0] in found:
            continue
        row, columns = known[texts[0]]
        found.add(row)
        for i, (column, column_label) in enumerate(columns):
            where = f"{_table_name('proactive')}行“{cells[0].strip()}”列“{column_label}”"
            if len(columns) == 1:
                # One value across the value columns: its text sits in the first of them.
                text = next((text for text in cells[1:] if text.strip()), "")
            else:
                position = header_columns.get(column, 1 + i)
                text = cells[position] if position < len(cells) else ""
            reader.value("proactive", row, column, text, where)
    for row, label, _, _ in PROACTIVE_ROWS:
        if row not in found:
            reader.problem(f"{_table_name('proactive')}缺少行“{label}”（row missing）")


def _read_requests(grid: Grid, reader: _Reader) -> None:
    expected = {
        _label(label.removeprefix(OUTCOME_HEADER)): (row, label) for row, label in REQUEST_ROWS
    }
    outcome_header = _label(OUTCOME_HEADER)
    n_values = len(REQUEST_COLUMNS)
    n_cols = max((len(cells) for cells in grid), default=0)
    first_value = n_cols - n_values
    body: list[tuple[str, tuple[str, ...]]] = []
    group = ""
    first_body = len(grid)
    for index, cells in enumerate(grid):
        labels = [
            text
            for text in cells[: max(first_value, 0)]
            if _label(text) and _label(text) != outcome_header
        ]
        if not labels:
            continue
        if _ITEM_NUMBER.match(labels[0]):
            labels = [group, *labels]
        elif len(labels) > 1 or labels[0].strip().startswith(("（", "(")):
            group = labels[0]
        key = _label("".join(labels))
        if key in expected:
            first_body = min(first_body, index)
            body.append((key, cells))
    # Value columns by their header labels where the header has them all, else the last seven.
    header = [
        {_label(cells[c]) for cells in grid[:first_body] if c < len(cells)} for c in range(n_cols)
    ]
    positions = {}
    for column, label in REQUEST_COLUMNS:
        matches = [c for c in range(max(first_value, 0), n_cols) if _label(label) in header[c]]
        positions[column] = matches[0] if len(matches) == 1 else None
    if None in positions.values():
        positions = {column: first_value + i for i, (column, _) in enumerate(REQUEST_COLUMNS)}
    found: set[str] = set()
    for key, cells in body:
        row, label = expected[key]
        if row in found:
            continue
        found.add(row)
        for column, column_label in REQUEST_COLUMNS:
            where = f"{_table_name('requests')}行“{label}”列“{column_label}”"
            position = positions[column]
            text = cells[position] if 0 <= position < len(cells) else ""
            reader.value("requests", row, column, text, where)
    for row, label in REQUEST_ROWS:
        if row not in found:
            reader.problem(f"{_table_name('requests')}缺少行“{label}”（row missing）")


def _read_appeals(grid: Grid, reader: _Reader) -> None:
    n_values = len(APPEALS_ROWS) * len(APPEALS_COLUMNS)
    filled = [cells for cells in grid if any(text.strip() for text in cells)]
    values = filled[-1] if filled else ()
    if reader.blank_is_zero and len(filled) >= 2:
        # A row of blanks (all zero) is the value row, not the header above it.
        values = grid[-1]
    if len(filled) < 2 or len(values) < n_values:
        reader.problem(
            f"{_table_name('appeals')}应有一行{n_values}个数字（行政复议5个、行政诉讼10个）"
            f"（expected one row of {n_values} numbers）"
        )
        return
    values = values[-n_values:]
    for block, (row, row_label) in enumerate(APPEALS_ROWS):
        for i, (column, column_label) in enumerate(APPEALS_COLUMNS):
            where = f"{_table_name('appeals')}“{row_label}”列“{column_label}”"
            reader.value("appeals", row, column, values[block * len(APPEALS_COLUMNS) + i], where)


def _part_one_paragraphs(paragraphs: Sequence[str]) -> Sequence[str]:
    starts = [
        i for i, text in enumerate(paragraphs) if _label(text).startswith(_label(OVERVIEW_HEADING))
    ]
    if not starts:
        return paragraphs
    start = starts[0] + 1
    ends = [
        i
        for i, text in enumerate(paragraphs[start:], start=start)
        if text.strip().startswith(("二、", "二．", "二."))
    ]
    return paragraphs[start : ends[0] if ends else len(paragraphs)]


def _read_channels(paragraphs: Sequence[str], reader: _Reader) -> bool:
    """The channel counts of part 一's sentence; True when any was found."""
    text = "\n".join(_part_one_paragraphs(paragraphs))
    where = "一、总体情况"
    found = False
    website = _WEBSITE_ITEMS.search(text)
    if website:
        reader.value(
            "channels", WEBSITE_ROW, CHANNEL_COLUMN[0], website.group(1), f"{where}“政府网站”条数"
        )
        found = True
    accounts: set[str] = set()
    for match in _WECHAT_ITEMS.finditer(text):
        account = match.group(1).strip()
        if account in accounts:
            reader.problem(f"{where}中“{account}”微信公众号的条数出现了两次（counted twice）")
            continue
        accounts.add(account)
        label = f"“{account}”微信公众号条数"
        reader.value(
            "channels", channel_row(account), CHANNEL_COLUMN[0], match.group(2), f"{where}{label}"
        )
        found = True
    total = _TOTAL_ITEMS.search(text)
    if total:
        reader.value(
            "channels", "total", CHANNEL_COLUMN[0], total.group(1), f"{where}主动公开总条数"
        )
        found = True
    else:
        reader.problem(f"{where}中找不到“主动公开…N条”的总条数（total items not found）")
    if not website and not accounts:
        reader.problem(f"{where}中找不到各渠道的公开条数（per-channel items not found）")
    return found


_READERS = {"proactive": _read_proactive, "requests": _read_requests, "appeals": _read_appeals}


def channel_cells_from_text(
    paragraphs: Sequence[str], source: str
) -> tuple[pl.DataFrame, list[str]]:
    """Section 一's cells from part 一's sentence alone (for a report read as plain text), and
    the problems met, as :func:`cells_from_read` reads them."""
    reader = _Reader(source)
    _read_channels(paragraphs, reader)
    frame = pl.DataFrame(
        reader.rows,
        schema={"section": pl.String, "row": pl.String, "column": pl.String, "value": VALUE_DTYPE},
        orient="row",
    )
    return frame, reader.problems


def cells_from_read(
    read: ReadDocument, *, blank_is_zero: bool = False
) -> tuple[pl.DataFrame, list[str]]:
    """The cells a rendered report shows (``section``, ``row``, ``column``, ``value``), and the
    problems met on the way, each naming the source, the table, the row and the column.

    The three tables are recognised by their labels (blanks, line breaks and full-width digits
    inside labels do not matter); section 一's channel counts come from part 一's sentence
    ("主动公开各类政府信息234条，其中，通过政府网站公开信息152条，“綦江城管”微信公众号公开信息60条").
    A cell whose text is no number is left out and named in a problem; so is a blank cell,
    unless ``blank_is_zero`` (published pages print an empty cell for 0).

    Raises
    ------
    ValueError
        When nothing in ``read`` resembles a report (no statutory table, no channel sentence).
    """
    reader = _Reader(read.source, blank_is_zero)
    grids: dict[str, Grid] = {}
    for number, grid in enumerate(read.tables, start=1):
        section = _table_section(grid)
        if section is None:
            reader.problem(
                f"第{number}个表格不是年度报告的统计表，已忽略（unrecognised table ignored）"
            )
        elif section in grids:
            reader.problem(
                f"第{number}个表格重复了{_table_name(section)}，已忽略（duplicate table ignored）"
            )
        else:
            grids[section] = grid
    had_channels = _read_channels(read.paragraphs, reader)
    if not grids and not had_channels:
        raise ValueError(
            f"{read.source}：找不到政府信息公开工作年度报告的统计表或总体情况（not a report）"
        )
    for section, read_table in _READERS.items():
        if section in grids:
            read_table(grids[section], reader)
        else:
            reader.problem(f"缺少{_table_name(section)}（table missing）")
    order = {section: i for i, section in enumerate(("channels", *_READERS))}
    rows = sorted(reader.rows, key=lambda cell: order[cell[0]])  # stable: report order within
    frame = pl.DataFrame(
        rows,
        schema={"section": pl.String, "row": pl.String, "column": pl.String, "value": VALUE_DTYPE},
        orient="row",
    )
    return frame, reader.problems
