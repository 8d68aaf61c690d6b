"""report.html: the document model as one self-contained page, and its reader.

The page loads nothing (no script, no image, no web font; a Content-Security-Policy forbids it
even if markup slipped in) and prints on A4 with the margins of GB/T 9704-2012 (党政机关公文格式):
天头 37 mm, 订口 28 mm, a 156 × 225 mm type area. Fonts are stacks, so an office's Windows
fonts (仿宋, 方正小标宋, 黑体, 楷体) are used where present and Noto CJK elsewhere.

``read_html`` reads this page, and hand-made pages in the same layout, back into a
``ReadDocument``: what a person sees, not what the writer's attributes say.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser

from transforms.document import (
    Document,
    Heading,
    Paragraph,
    ReadDocument,
    Table,
    TableCell,
    cells_by_row,
    head_rows,
)

# Font stacks per the conventions of official documents: body 仿宋 三号, title 小标宋 二号,
# first-level headings 黑体, second-level headings 楷体.
_BODY_FONTS = (
    '"FangSong", "仿宋", "FangSong_GB2312", "仿宋_GB2312", "STFangsong", '
    '"Noto Serif CJK SC", "Noto Serif SC", serif'
)
_TITLE_FONTS = (
    '"FZXiaoBiaoSong-B05S", "方正小标宋简体", "方正小标宋_GBK", "SimHei", "黑体", "STHeiti", '
    '"Noto Sans CJK SC", "Noto Sans SC", sans-serif'
)
_HEADING_FONTS = '"SimHei", "黑体", "STHeiti", "Noto Sans CJK SC", "Noto Sans SC", sans-serif'
_SUBHEADING_FONTS = (
    '"KaiTi", "楷体", "KaiTi_GB2312", "楷体_GB2312", "STKaiti", '
    '"Noto Serif CJK SC", "Noto Serif SC", serif'
)

# Wide tables (table 四 has 15 value columns) get a smaller type so they fit the 156 mm width.
_WIDE_TABLE_COLUMNS = 10

_CSS = f"""
@page {{
  size: A4;
  margin: 37mm 26mm 35mm 28mm;
  @bottom-center {{ content: "— " counter(page) " —"; font-family: {_BODY_FONTS}; font-size: 14pt; }}
}}
html {{ background: #fff; color: #000; }}
body {{
  font-family: {_BODY_FONTS};
  font-size: 16pt;
  line-height: 1.8;
  margin: 0;
}}
@media screen {{
  body {{ max-width: 156mm; margin: 0 auto; padding: 15mm 8mm; }}
}}
header.doc-title {{ margin: 0 0 1.5em; text-align: center; }}
header.doc-title p {{
  font-family: {_TITLE_FONTS};
  font-size: 22pt;
  line-height: 1.5;
  margin: 0;
  text-align: center;
  text-indent: 0;
}}
h1, h2 {{ font-size: 16pt; font-weight: normal; margin: 0.4em 0 0; text-indent: 2em; }}
h1 {{ font-family: {_HEADING_FONTS}; }}
h2 {{ font-family: {_SUBHEADING_FONTS}; }}
h1, h2 {{ break-after: avoid; page-break-after: avoid; }}
p {{ margin: 0; text-indent: 2em; text-align: justify; }}
p.placeholder {{
  background: #fff3b0;
  border: 1.5pt dashed #c00000;
  padding: 0.2em 0.4em;
  margin: 0.3em 0;
  -webkit-print-color-adjust: exact;
}}
p.placeholder::before {{ content: "【待补充】"; color: #c00000; font-weight: bold; }}
table {{
  border-collapse: collapse;
  width: 100%;
  margin: 0.6em 0 1em;
  font-size: 10.5pt;
  line-height: 1.35;
}}
table.wide {{ font-size: 9pt; }}
thead {{ display: table-header-group; }}
tr, th, td {{ break-inside: avoid; page-break-inside: avoid; }}
th, td {{ border: 0.75pt solid #000; padding: 1mm 1.2mm; vertical-align: middle; }}
th {{ font-weight: normal; text-align: left; }}
thead th, th.band {{ text-align: center; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
"""

# Nothing may load or run, even if markup ever slipped through the escaping.
_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _text(text: str) -> str:
    """Escaped element text; a line break in the model is a line break on the page."""
    return "<br>".join(html.escape(line, quote=True) for line in text.split("\n"))


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _cell_html(cell: TableCell, in_head: bool) -> str:
    spans = (f' rowspan="{cell.rowspan}"' if cell.rowspan > 1 else "") + (
        f' colspan="{cell.colspan}"' if cell.colspan > 1 else ""
    )
    if cell.key is not None:
        key = _attr(json.dumps(list(cell.key), ensure_ascii=False))
        return f'<td class="num"{spans} data-key="{key}">{_text(cell.text)}</td>'
    if cell.header or in_head:
        # A band across the whole table body (第二十条第（一）项) is centred like the header.
        band = ' class="band"' if cell.header and not in_head else ""
        return f'<th scope="col"{band}{spans}>{_text(cell.text)}</th>'
    if cell.text:
        return f'<th scope="row"{spans}>{_text(cell.text)}</th>'
    return f"<td{spans}></td>"


def _table_html(table: Table) -> str:
    rows = cells_by_row(table)
    head = head_rows(table)
    classes = "statutory wide" if table.n_cols > _WIDE_TABLE_COLUMNS else "statutory"
    out = [f'<table class="{classes}" data-section="{_attr(table.section)}">']
    if len(table.column_widths) == table.n_cols and sum(table.column_widths) > 0:
        total = sum(table.column_widths)
        out.append("<colgroup>")
        out += [f'<col style="width:{100 * w / total:.2f}%">' for w in table.column_widths]
        out.append("</colgroup>")
    for group, start, stop in (("thead", 0, head), ("tbody", head, table.n_rows)):
        if start == stop:
            continue
        out.append(f"<{group}>")
        for r in range(start, stop):
            out.append("<tr>" + "".join(_cell_html(c, group == "thead") for c in rows[r]) + "</tr>")
        out.append(f"</{group}>")
    out.append("</table>")
    return "\n".join(out)


def to_html(doc: Document) -> str:
    """The report as one self-contained HTML page, printable on A4.

    Every string of the document is escaped. Value cells (those with a ``key``) are
    right-aligned ``<td class="num">`` with the key in ``data-key``; labels are ``<th>``;
    header rows are a ``<thead>``, repeated on each printed page; placeholders are
    ``<p class="placeholder">``, their text kept and marked 【待补充】 in yellow.
    """
    title_lines = doc.title or (doc.agency_name, f"{doc.year}年政府信息公开工作年度报告")
    body: list[str] = [
        '<header class="doc-title">',
        *(f'<p class="title-line">{_text(line)}</p>' for line in title_lines),
        "</header>",
    ]
    for block in doc.blocks:
        if isinstance(block, Heading):
            tag = "h1" if block.level == 1 else "h2"
            body.append(f"<{tag}>{_text(block.text)}</{tag}>")
        elif isinstance(block, Paragraph):
            marker = ' class="placeholder"' if block.placeholder else ""
            body.append(f"<p{marker}>{_text(block.text)}</p>")
        else:
            body.append(_table_html(block))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="zh-CN">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(''.join(title_lines), quote=True)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            *body,
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


# ---- reader ---------------------------------------------------------------------------------

# A browser clamps colspan at 1000 (HTML standard); rowspan is clamped here too, and at the
# table's last row as a browser does.
MAX_SPAN = 1000
# Far above any statutory table (table 三 is 25 × 10): a larger grid is refused, not built.
MAX_GRID_POSITIONS = 100_000

# Text inside these is never shown.
_HIDDEN = frozenset({"script", "style", "template", "noscript", "title", "svg", "math"})
# Elements that end a paragraph (outside tables) or a line (inside a cell).
_BLOCKS = frozenset(
    {
        "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd",
        "section", "article", "header", "footer", "main", "nav", "aside", "blockquote", "pre",
        "hr", "body", "html", "caption", "figure", "figcaption", "address",
    }
)  # fmt: skip
_ROW_GROUPS = frozenset({"thead", "tbody", "tfoot"})
_WHITESPACE = re.compile(r"\s+")
_SPAN_DIGITS = re.compile(r"\s*(\d+)")


class ReportReadError(ValueError):
    """A page that cannot be read as a report (names the file and the reason)."""


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _normalise(text: str) -> str:
    """Text as a browser shows it: whitespace runs collapse to one space, and a line break
    between two Chinese characters (a ``<br>`` or a source newline inside a label) vanishes."""

    def join(match: re.Match[str]) -> str:
        run, start, end = match.group(), match.start(), match.end()
        if (
            ("\n" in run or "\r" in run)
            and start > 0
            and end < len(text)
            and _is_wide(text[start - 1])
            and _is_wide(text[end])
        ):
            return ""
        return " "

    return _WHITESPACE.sub(join, text).strip()


def _span(value: str | None, *, row: bool) -> int:
    """A rowspan/colspan as a browser parses it: leading digits; invalid → 1; rowspan 0 means
    "to the last row" (returned as 0); clamped to ``MAX_SPAN``."""
    match = _SPAN_DIGITS.match(value or "")
    if match is None:
        return 1
    span = min(int(match.group(1)), MAX_SPAN)
    if span == 0:
        return 0 if row else 1
    return span


@dataclass
class _RawCell:
    rowspan: int
    colspan: int
    text: list[str] = field(default_factory=list)


@dataclass
class _RawTable:
    rows: list[list[_RawCell]] = field(default_factory=list)
    cell: _RawCell | None = None
    in_row: bool = False


class _ReportParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.title: list[str] = []
        # Tables in the order they start (a nested table is a table of its own, after its
        # parent); the stack holds the open ones, innermost last.
        self.tables: list[_RawTable] = []
        self._open_tables: list[_RawTable] = []
        self._buffer: list[str] = []
        self._hidden: list[str] = []
        self._header_depth = 0

    # -- text sinks --
    def _flush(self) -> None:
        text = _normalise("".join(self._buffer))
        self._buffer.clear()
        if text:
            (self.title if self._header_depth else self.paragraphs).append(text)

    def _sink(self) -> list[str]:
        if self._open_tables and self._open_tables[-1].cell is not None:
            return self._open_tables[-1].cell.text
        return self._buffer

    # -- table structure --
    def _close_cell(self) -> None:
        table = self._open_tables[-1]
        table.cell = None

    def _close_row(self) -> None:
        self._close_cell()
        self._open_tables[-1].in_row = False

    def _open_cell(self, attrs: dict[str, str | None]) -> None:
        table = self._open_tables[-1]
        self._close_cell()
        if not table.in_row:
            table.rows.append([])
            table.in_row = True
        table.cell = _RawCell(
            rowspan=_span(attrs.get("rowspan"), row=True),
            colspan=_span(attrs.get("colspan"), row=False),
        )
        table.rows[-1].append(table.cell)

    # -- parser callbacks --
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._hidden:
            if tag == self._hidden[-1]:
                self._hidden.append(tag)
            return
        if tag in _HIDDEN:
            self._hidden.append(tag)
            return
        if tag == "table":
            if self._open_tables and self._open_tables[-1].cell is not None:
                self._open_tables[-1].cell.text.append("\n")
            else:
                self._flush()
            table = _RawTable()
            self.tables.append(table)
            self._open_tables.append(table)
        elif self._open_tables and tag in ("td", "th"):
            self._open_cell(dict(attrs))
        elif self._open_tables and tag == "tr":
            self._close_row()
            self._open_tables[-1].rows.append([])
            self._open_tables[-1].in_row = True
        elif self._open_tables and tag in _ROW_GROUPS:
            self._close_row()
        elif tag == "br":
            self._sink().append("\n")
        elif tag in _BLOCKS:
            if self._open_tables and self._open_tables[-1].cell is not None:
                self._sink().append("\n")
            else:
                self._flush()
            if tag == "header":
                self._header_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self._hidden:
            if tag == self._hidden[-1]:
                self._hidden.pop()
            return
        if tag == "table" and self._open_tables:
            self._close_row()
            self._open_tables.pop()
        elif self._open_tables and tag in ("td", "th"):
            self._close_cell()
        elif self._open_tables and (tag == "tr" or tag in _ROW_GROUPS):
            self._close_row()
        elif tag in _BLOCKS:
            if self._open_tables and self._open_tables[-1].cell is not None:
                self._sink().append("\n")
            else:
                self._flush()
            if tag == "header" and self._header_depth:
                self._header_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._sink().append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def _grid(table: _RawTable, source: str, number: int) -> tuple[tuple[str, ...], ...]:
    """A table's full grid, laid out as a browser lays out rowspan/colspan."""
    n_rows = len(table.rows)
    occupied: set[tuple[int, int]] = set()
    placed: list[tuple[int, int, str]] = []
    n_cols = 0
    marked = 0
    for r, cells in enumerate(table.rows):
        c = 0
        for cell in cells:
            while (r, c) in occupied:
                c += 1
            rowspan = n_rows - r if cell.rowspan == 0 else min(cell.rowspan, n_rows - r)
            marked += rowspan * cell.colspan
            n_cols = max(n_cols, c + cell.colspan)
            if marked > MAX_GRID_POSITIONS or n_rows * n_cols > MAX_GRID_POSITIONS:
                raise ReportReadError(
                    f"{source}: 第{number}个表格超过{MAX_GRID_POSITIONS}个单元格位置，不是报告表格"
                )
            occupied.update(
                (rr, cc) for rr in range(r, r + rowspan) for cc in range(c, c + cell.colspan)
            )
            placed.append((r, c, _normalise("".join(cell.text))))
            c += cell.colspan
    grid = [[""] * n_cols for _ in range(n_rows)]
    for r, c, text in placed:
        grid[r][c] = text
    return tuple(tuple(row) for row in grid)


def read_html(data: bytes | str, source: str) -> ReadDocument:
    """A report page read back as a person sees it.

    ``title``: the lines of the page's ``<header>`` (this writer's title block; a hand-made
    page without one has its title among the paragraphs). ``paragraphs``: every other block
    of text outside tables in reading order, headings included (``一、总体情况`` is a
    paragraph, as in a Word file), placeholders with their text. ``tables``: each
    ``<table>`` as a full grid honouring rowspan/colspan, a merged cell's text at its top-left
    position and "" at those it covers; a table nested in a cell is a table of its own, after
    its parent. Text is whitespace-collapsed; ``<br>`` or a newline between two Chinese
    characters is dropped (``申请人<br>情况`` reads 申请人情况), elsewhere it reads as a space.
    Scripts, styles and comments are ignored. Bytes are decoded as UTF-8 (a BOM is allowed).
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ReportReadError(f"{source}: 不是UTF-8编码的HTML（第{error.start}字节）") from None
    parser = _ReportParser()
    parser.feed(data)
    parser.close()
    return ReadDocument(
        source=source,
        paragraphs=tuple(parser.paragraphs),
        tables=tuple(_grid(t, source, i) for i, t in enumerate(parser.tables, start=1)),
        title=tuple(parser.title),
    )
