"""report.docx: the report as a Word document an office can publish, and read back into grids.

The writer follows the layout of 党政机关公文 (GB/T 9704-2012) as far as a generated report
reasonably can: A4, margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm; title centred in
二号 (22 pt) 黑体; body 三号 (16 pt) 仿宋, fixed 28 pt lines, first line indented two characters;
level-1 headings (一、…) 三号 黑体, level-2 headings (（一）…) 三号 楷体; page numbers "— n —"
centred in the footer. Tables in 五号 (10.5 pt) 宋体 with real merged cells, borders on every
cell and the header rows repeated on each printed page.

Fonts: a .docx names one font per script and cannot carry a CSS-like fallback stack, so the names
are the ones every Windows and WPS installation has (黑体 SimHei, 仿宋 FangSong, 楷体 KaiTi,
宋体 SimSun) rather than 方正小标宋简体 or 仿宋_GB2312, which many office PCs lack (Word would
then substitute a font of its own choosing). LibreOffice maps them to Noto CJK through fontconfig.

Every string of the Document is written as plain text in a run (never a field, hyperlink or
formula), with the characters XML 1.0 forbids removed.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator

import docx
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX, WD_LINE_SPACING
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt
from lxml import etree

from transforms.document import Document, Heading, Paragraph, ReadDocument, Table

# Style names this writer creates; the reader recognises the title by its style.
TITLE_STYLE = "Report Title"
TABLE_STYLE = "Report Table Text"
PLACEHOLDER_HIGHLIGHT = WD_COLOR_INDEX.YELLOW

# (east Asian font, size in pt) per role; see the module docstring for the choice of names.
TITLE_FONT = ("黑体", 22)
BODY_FONT = ("仿宋", 16)
HEADING_FONTS = {1: ("黑体", 16), 2: ("楷体", 16)}
TABLE_FONT = ("宋体", 10.5)
# Latin letters and digits: Times New Roman, as official documents set them beside 仿宋.
LATIN_FONT = "Times New Roman"

PAGE_WIDTH, PAGE_HEIGHT = Mm(210), Mm(297)
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_RIGHT = Mm(37), Mm(35), Mm(28), Mm(26)
TEXT_WIDTH = Emu(PAGE_WIDTH - MARGIN_LEFT - MARGIN_RIGHT)

# A reader refuses any zip member larger than this (uncompressed, as the zip declares it; zipfile
# never inflates past the declared size), and packages larger than MAX_TOTAL_BYTES in all.
MAX_PART_BYTES = 50 * 1024 * 1024
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
# Word itself allows 63 columns; a larger grid is a hostile gridSpan, not a report.
MAX_GRID_COLUMNS = 1_000

# Characters XML 1.0 cannot hold (lxml refuses them): C0 controls but tab/newline/CR, lone
# surrogates, U+FFFE/U+FFFF.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# A fixed timestamp for every zip member: the same Document gives the same bytes, so a re-render
# that changes nothing changes no file.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class DocxReadError(ValueError):
    """A file that is not a readable Word document (.docx), or one too large to read safely."""


def xml_safe(text: str) -> str:
    """Text as a run can hold it: XML-illegal characters dropped, CR/CRLF as newlines.

    >>> xml_safe("a\\x00b\\r\\nc\\x1f")
    'ab\\nc'
    """
    return _XML_ILLEGAL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


# --------------------------------------------------------------------------------------------
# Writer


def to_docx(doc: Document) -> bytes:
    """The report as .docx bytes: title, headings, paragraphs and tables in block order."""
    word = docx.Document()
    _set_page(word)
    _set_styles(word)
    _add_page_number(word)
    word.core_properties.title = xml_safe("".join(doc.title))
    word.core_properties.author = "nianbao"
    word.core_properties.comments = ""

    for line in doc.title:
        last_title = word.add_paragraph(xml_safe(line), style=TITLE_STYLE)
    if doc.title:
        # One empty line's worth of space between the title and the body, as 公文 leave it.
        last_title.paragraph_format.space_after = Pt(28)
    for block in doc.blocks:
        if isinstance(block, Heading):
            word.add_paragraph(xml_safe(block.text), style=f"Heading {block.level}")
        elif isinstance(block, Paragraph):
            paragraph = word.add_paragraph()
            run = paragraph.add_run(xml_safe(block.text))
            if block.placeholder:
                run.font.highlight_color = PLACEHOLDER_HIGHLIGHT
        elif isinstance(block, Table):
            _add_table(word, block)
        else:  # pragma: no cover - the Block union is closed
            raise TypeError(f"unknown block {type(block).__name__}")
    out = io.BytesIO()
    word.save(out)
    return _normalize_zip(out.getvalue())


def _set_page(word: docx.document.Document) -> None:
    for section in word.sections:
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
        section.top_margin, section.bottom_margin = MARGIN_TOP, MARGIN_BOTTOM
        section.left_margin, section.right_margin = MARGIN_LEFT, MARGIN_RIGHT
        section.header_distance, section.footer_distance = Mm(15), Mm(20)


def _set_fonts(element, east_asian: str, size: float | None = None) -> None:
    """Set the fonts of a style or run element (anything with an rPr) explicitly.

    The default template's heading styles name theme fonts (w:asciiTheme, w:eastAsiaTheme …),
    which win over explicit names, so those attributes are removed.
    """
    rpr = element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attribute in list(fonts.attrib):
        # asciiTheme, eastAsiaTheme, hAnsiTheme and (lower-case) cstheme.
        if attribute.lower().endswith("theme"):
            del fonts.attrib[attribute]
    fonts.set(qn("w:ascii"), LATIN_FONT)
    fonts.set(qn("w:hAnsi"), LATIN_FONT)
    fonts.set(qn("w:eastAsia"), east_asian)
    fonts.set(qn("w:cs"), east_asian)
    if size is not None:
        for tag in ("w:sz", "w:szCs"):
            node = rpr.find(qn(tag))
            if node is None:
                node = OxmlElement(tag)
                rpr.append(node)
            node.set(qn("w:val"), str(round(size * 2)))


def _indent_two_characters(paragraph_format, size: float) -> None:
    # w:firstLineChars is Word's "2 字符"; w:firstLine is the same in twips for readers that
    # ignore character units.
    paragraph_format.first_line_indent = Pt(2 * size)
    paragraph_format._element.get_or_add_pPr().get_or_add_ind().set(qn("w:firstLineChars"), "200")


def _set_styles(word: docx.document.Document) -> None:
    styles = word.styles
    body_name, body_size = BODY_FONT

    normal = styles["Normal"]
    _set_fonts(normal.element, body_name, body_size)
    normal.font.color.rgb = None
    # Chinese line breaking rules (no 。at the start of a line) follow the language tag.
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")
    normal.element.get_or_add_rPr().append(lang)
    fmt = normal.paragraph_format
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = Pt(28)
    fmt.space_before = fmt.space_after = Pt(0)
    fmt.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    fmt.widow_control = True
    _indent_two_characters(fmt, body_size)

    for level, (font_name, size) in HEADING_FONTS.items():
        heading = styles[f"Heading {level}"]
        _set_fonts(heading.element, font_name, size)
        heading.font.bold = False
        heading.font.italic = False
        heading.font.color.rgb = None
        color = heading.element.rPr.find(qn("w:color"))
        if color is not None:
            heading.element.rPr.remove(color)
        hfmt = heading.paragraph_format
        hfmt.space_before = hfmt.space_after = Pt(0)
        hfmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        hfmt.line_spacing = Pt(28)
        hfmt.keep_with_next = True
        hfmt.alignment = WD_ALIGN_PARAGRAPH.LEFT
        _indent_two_characters(hfmt, size)

    title = styles.add_style(TITLE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    title.base_style = normal
    title.next_paragraph_style = normal
    title_name, title_size = TITLE_FONT
    _set_fonts(title.element, title_name, title_size)
    tfmt = title.paragraph_format
    tfmt.alignment = WD_ALIGN_PARAGRAPH.CENTER
    tfmt.first_line_indent = Pt(0)
    tfmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    tfmt.line_spacing = Pt(36)
    tfmt.keep_with_next = True
    tfmt.space_after = Pt(0)
    title.element.get_or_add_pPr().get_or_add_ind().set(qn("w:firstLineChars"), "0")

    table_text = styles.add_style(TABLE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    table_text.base_style = normal
    table_name, table_size = TABLE_FONT
    _set_fonts(table_text.element, table_name, table_size)
    cfmt = table_text.paragraph_format
    cfmt.first_line_indent = Pt(0)
    table_text.element.get_or_add_pPr().get_or_add_ind().set(qn("w:firstLineChars"), "0")
    cfmt.line_spacing_rule = WD_LINE_SPACING.SINGLE
    cfmt.alignment = WD_ALIGN_PARAGRAPH.LEFT


def _add_page_number(word: docx.document.Document) -> None:
    """Footer "— n —", centred: the page number as 公文 print it."""
    footer = word.sections[0].footer
    paragraph = footer.paragraphs[0] if footer.paragraphs else footer.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.paragraph_format.first_line_indent = Pt(0)
    paragraph.paragraph_format._element.get_or_add_pPr().get_or_add_ind().set(
        qn("w:firstLineChars"), "0"
    )
    _set_fonts(paragraph.add_run("— ")._r, "宋体", 14)
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    number = paragraph.add_run("1")
    _set_fonts(number._r, "宋体", 14)
    paragraph._p.remove(number._r)
    field.append(number._r)
    paragraph._p.append(field)
    _set_fonts(paragraph.add_run(" —")._r, "宋体", 14)


def _check_layout(table: Table) -> None:
    """A table whose cells overlap or leave the grid cannot be merged; say which cell."""
    covered: dict[tuple[int, int], int] = {}
    for index, cell in enumerate(table.cells):
        if (
            cell.row < 0
            or cell.col < 0
            or cell.rowspan < 1
            or cell.colspan < 1
            or cell.row + cell.rowspan > table.n_rows
            or cell.col + cell.colspan > table.n_cols
        ):
            raise ValueError(
                f"table {table.section}: cell at row {cell.row}, column {cell.col} "
                f"({cell.rowspan}×{cell.colspan}) leaves the {table.n_rows}×{table.n_cols} grid"
            )
        for r in range(cell.row, cell.row + cell.rowspan):
            for c in range(cell.col, cell.col + cell.colspan):
                if (r, c) in covered:
                    other = table.cells[covered[(r, c)]]
                    raise ValueError(
                        f"table {table.section}: cells at ({cell.row}, {cell.col}) and "
                        f"({other.row}, {other.col}) overlap at ({r}, {c})"
                    )
                covered[(r, c)] = index


def _column_widths(table: Table) -> list[int]:
    """Column widths in EMU, the relative widths scaled to the text width (equal if none)."""
    weights = list(table.column_widths)
    if len(weights) != table.n_cols or any(w <= 0 for w in weights):
        weights = [1.0] * table.n_cols
    total = sum(weights)
    return [int(TEXT_WIDTH * w / total) for w in weights]


def _add_table(word: docx.document.Document, table: Table) -> None:
    _check_layout(table)
    if table.n_rows == 0 or table.n_cols == 0:
        return
    widths = _column_widths(table)
    grid = word.add_table(rows=table.n_rows, cols=table.n_cols)
    grid.style = word.styles["Table Grid"]
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = False
    tbl_pr = grid._tbl.tblPr
    _set_borders(tbl_pr)
    width = tbl_pr.find(qn("w:tblW"))
    width.set(qn("w:type"), "dxa")
    width.set(qn("w:w"), str(sum(Emu(w).twips for w in widths)))
    for column, w in zip(grid.columns, widths, strict=True):
        column.width = w

    rows = list(grid.rows)
    for index, row in enumerate(rows):
        tr_pr = row._tr.get_or_add_trPr()
        # A row is never split across pages: a label and its numbers stay together.
        tr_pr.append(OxmlElement("w:cantSplit"))
        if index < table.header_rows:
            tr_pr.append(OxmlElement("w:tblHeader"))
    # Cells before any merge: merging removes covered w:tc elements but never a region's
    # top-left one, so these stay valid for the regions not merged yet.
    cells = [list(row.cells) for row in rows]
    for row_cells in cells:
        for c, cell in enumerate(row_cells):
            cell.width = widths[c]
            cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
            cell.paragraphs[0].style = word.styles[TABLE_STYLE]
    for item in table.cells:
        cell = cells[item.row][item.col]
        paragraph = cell.paragraphs[0]
        paragraph.add_run(xml_safe(item.text))
        # Numbers and header labels centred; row labels read from the left.
        if item.key is not None or item.header:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for item in table.cells:
        if item.rowspan > 1 or item.colspan > 1:
            corner = cells[item.row + item.rowspan - 1][item.col + item.colspan - 1]
            cells[item.row][item.col].merge(corner)
    # A table directly after another (or at the end) would fuse with it in Word.
    word.add_paragraph()


def _set_borders(tbl_pr) -> None:
    """Single lines on every edge, set on the table itself so they survive a style change."""
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        line = OxmlElement(f"w:{edge}")
        line.set(qn("w:val"), "single")
        line.set(qn("w:sz"), "4")
        line.set(qn("w:space"), "0")
        line.set(qn("w:color"), "000000")
        borders.append(line)
    # Word refuses a file whose w:tblPr children are out of the schema's order.
    successor = next(
        (child for child in tbl_pr if child.tag in _TBLPR_AFTER_BORDERS),
        None,
    )
    if successor is None:
        tbl_pr.append(borders)
    else:
        successor.addprevious(borders)


_TBLPR_AFTER_BORDERS = {
    qn(f"w:{tag}")
    for tag in ("shd", "tblLayout", "tblCellMar", "tblLook", "tblCaption", "tblDescription")
}


def _normalize_zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(info))
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Reader

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
# Containers whose paragraphs belong to drawings, text boxes or embedded objects, not the body
# text (Word also stores a text box twice, in mc:Choice and mc:Fallback).
_SKIP_INSIDE = {
    f"{_W}drawing",
    f"{_W}pict",
    f"{_W}object",
    f"{_MC}AlternateContent",
    f"{_W}del",
    f"{_W}moveFrom",
}
_TITLE_STYLES = {TITLE_STYLE, "Title"}


def read_docx(data: bytes, source: str) -> ReadDocument:
    """Paragraphs (title lines apart, headings included, empty ones left out) and every table
    as a full grid, from a .docx: this writer's output or a hand-made one in the same layout.

    Raises DocxReadError naming ``source`` for anything that is not a readable .docx.
    """
    _check_package(data, source)
    try:
        word = docx.Document(io.BytesIO(data))
    except (
        PackageNotFoundError,
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        KeyError,
        ValueError,
        NotImplementedError,
        etree.LxmlError,
    ) as error:
        raise DocxReadError(f"{source}: not a readable Word document (.docx): {error}") from error
    style_names = {style.style_id: style.name for style in word.styles}

    title: list[str] = []
    paragraphs: list[str] = []
    tables: list[tuple[tuple[str, ...], ...]] = []
    for element in _body_blocks(word.element.body):
        if element.tag == f"{_W}tbl":
            tables.append(_table_grid(element, source, len(tables) + 1))
            continue
        text = _paragraph_text(element).strip()
        if not text:
            continue
        style = element.find(f"{_W}pPr/{_W}pStyle")
        style_name = style_names.get(style.get(f"{_W}val")) if style is not None else None
        # Title lines are those in a title style before any other text.
        if style_name in _TITLE_STYLES and not paragraphs and not tables:
            title.append(text)
        else:
            paragraphs.append(text)
    return ReadDocument(
        source=source, paragraphs=tuple(paragraphs), tables=tuple(tables), title=tuple(title)
    )


def _check_package(data: bytes, source: str) -> None:
    """Refuse what is not a zip, and a zip that would inflate beyond the limits, before parsing."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            members = package.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as error:
        raise DocxReadError(
            f"{source}: not a Word document (.docx): not a zip package ({error})"
        ) from error
    if len(members) > MAX_ZIP_MEMBERS:
        raise DocxReadError(f"{source}: refused: {len(members)} parts in the package")
    for member in members:
        if member.file_size > MAX_PART_BYTES:
            raise DocxReadError(
                f"{source}: refused: part {member.filename!r} would inflate to "
                f"{member.file_size} bytes (limit {MAX_PART_BYTES})"
            )
    total = sum(member.file_size for member in members)
    if total > MAX_TOTAL_BYTES:
        raise DocxReadError(
            f"{source}: refused: the package would inflate to {total} bytes "
            f"(limit {MAX_TOTAL_BYTES})"
        )


def _body_blocks(container) -> Iterator:
    """Paragraphs and tables of the body in order, looking inside content controls."""
    for child in container:
        if child.tag in (f"{_W}p", f"{_W}tbl"):
            yield child
        elif child.tag == f"{_W}sdt":
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _body_blocks(content)
        elif child.tag in (f"{_W}customXml", f"{_W}ins", f"{_W}moveTo"):
            yield from _body_blocks(child)


def _paragraph_text(p) -> str:
    """The text a reader sees: every w:t of the paragraph in order (runs split anywhere, runs in
    hyperlinks, fields, smart tags or insertions), tabs and line breaks as \\t and \\n."""
    parts: list[str] = []

    def walk(node) -> None:
        for child in node:
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIP_INSIDE:
                continue
            if tag == f"{_W}t":
                # itertext, not .text: an unresolved entity reference splits the text node.
                parts.append("".join(child.itertext()))
            elif tag == f"{_W}tab":
                parts.append("\t")
            elif tag in (f"{_W}br", f"{_W}cr"):
                parts.append("\n")
            elif tag == f"{_W}noBreakHyphen":
                parts.append("-")
            else:
                walk(child)

    walk(p)
    return "".join(parts)


def _int_attribute(element, path: str, source: str, default: int) -> int:
    node = element.find(path)
    if node is None:
        return default
    value = node.get(f"{_W}val")
    try:
        number = int(value) if value is not None else default
    except ValueError:
        raise DocxReadError(f"{source}: table cell with a malformed {path}: {value!r}") from None
    if not 0 <= number <= MAX_GRID_COLUMNS:
        raise DocxReadError(f"{source}: refused: table cell with {path} = {number}")
    return number


def _row_cells(tr) -> Iterator:
    for child in tr:
        if child.tag == f"{_W}tc":
            yield child
        elif child.tag == f"{_W}sdt":
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _row_cells(content)
        elif child.tag == f"{_W}customXml":
            yield from _row_cells(child)


def _table_rows(tbl) -> Iterator:
    for child in tbl:
        if child.tag == f"{_W}tr":
            yield child
        elif child.tag == f"{_W}sdt":
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _table_rows(content)
        elif child.tag == f"{_W}customXml":
            yield from _table_rows(child)


def _table_grid(tbl, source: str, number: int) -> tuple[tuple[str, ...], ...]:
    """The table as a full grid: each merged region's text at its top-left position, "" at the
    positions it covers (horizontal: w:gridSpan or legacy w:hMerge; vertical: w:vMerge)."""
    where = f"{source}: table {number}"
    # owner[r][c]: the (row, col) of the region covering that position.
    owners: list[list[tuple[int, int]]] = []
    texts: dict[tuple[int, int], str] = {}
    for r, tr in enumerate(_table_rows(tbl)):
        row_owners: list[tuple[int, int]] = []
        before = _int_attribute(tr, f"{_W}trPr/{_W}gridBefore", where, 0)
        for c in range(before):
            row_owners.append((r, c))
            texts[(r, c)] = ""
        for tc in _row_cells(tr):
            span = max(1, _int_attribute(tc, f"{_W}tcPr/{_W}gridSpan", where, 1))
            col = len(row_owners)
            if col + span > MAX_GRID_COLUMNS:
                raise DocxReadError(f"{where}: refused: more than {MAX_GRID_COLUMNS} columns")
            v_merge = tc.find(f"{_W}tcPr/{_W}vMerge")
            h_merge = tc.find(f"{_W}tcPr/{_W}hMerge")
            text = "\n".join(
                _paragraph_text(p) for p in _body_blocks(tc) if p.tag == f"{_W}p"
            ).strip()
            continues_above = v_merge is not None and v_merge.get(f"{_W}val") in (None, "continue")
            if continues_above and r > 0 and col < len(owners[r - 1]):
                owner = owners[r - 1][col]
            elif (
                h_merge is not None and h_merge.get(f"{_W}val") in (None, "continue") and row_owners
            ):
                owner = row_owners[-1]
            else:
                owner = (r, col)
                texts[owner] = text
            row_owners.extend([owner] * span)
        owners.append(row_owners)
    n_cols = max((len(row) for row in owners), default=0)
    return tuple(
        tuple(texts[(r, c)] if c < len(row) and row[c] == (r, c) else "" for c in range(n_cols))
        for r, row in enumerate(owners)
    )
