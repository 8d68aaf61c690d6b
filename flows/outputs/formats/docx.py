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

import copy
import functools
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import docx
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX, WD_LINE_SPACING
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt
from lxml import etree

from transforms.document import (
    Document,
    Heading,
    Paragraph,
    ReadDocument,
    Table,
    cell_positions,
)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"

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
    """The report as .docx bytes: title, headings, paragraphs and tables in block order.

    Only word/document.xml and docProps/core.xml depend on the Document; every other part
    (styles, footer, settings …) comes from a package prepared once per process, appended to
    as a zip. The body is written as XML text, in the ``w:`` prefix the template's root declares:
    python-docx's paragraph.style lookup and cell merging cost about 0.3 s a report, building
    lxml elements 5.8 ms, the text 1 ms, and every compile renders hundreds.
    """
    for block in doc.blocks:
        if isinstance(block, Table):
            cell_positions(block)  # refuses cells that overlap or leave the grid
    base = _base_package()
    blocks: list[str] = []
    for index, line in enumerate(doc.title):
        # One empty line's worth of space between the title and the body, as 公文 leave it.
        after = "560" if index == len(doc.title) - 1 else None
        blocks.append(_paragraph(xml_safe(line), base.style_ids[TITLE_STYLE], space_after=after))
    for block in doc.blocks:
        if isinstance(block, Heading):
            style = base.style_ids.get(f"Heading {block.level}")
            if style is None:
                raise KeyError(f"no style with name 'Heading {block.level}'")
            blocks.append(_paragraph(xml_safe(block.text), style))
        elif isinstance(block, Paragraph):
            blocks.append(
                _paragraph(xml_safe(block.text), None, highlight=block.placeholder, run=True)
            )
        elif isinstance(block, Table):
            if block.n_rows and block.n_cols:
                blocks.append(_table_xml(block, base.style_ids[TABLE_STYLE]))
                # A table directly after another (or at the end) would fuse with it in Word.
                blocks.append("<w:p/>")
        else:  # pragma: no cover - the Block union is closed
            raise TypeError(f"unknown block {type(block).__name__}")
    document = base.body_before + "".join(blocks).encode() + base.body_after

    core = copy.deepcopy(base.core)
    core.find(f"{_DC}title").text = xml_safe("".join(doc.title))

    out = io.BytesIO(base.package)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as package:
        parts = (
            ("docProps/core.xml", etree.tostring(core, encoding="UTF-8", standalone=True)),
            ("word/document.xml", document),
        )
        for name, data in parts:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            package.writestr(info, data)
    return out.getvalue()


_DC = "{http://purl.org/dc/elements/1.1/}"
_PER_DOCUMENT = ("docProps/core.xml", "word/document.xml")


@dataclass(frozen=True)
class _BasePackage:
    package: bytes  # zip of every part but _PER_DOCUMENT, fixed timestamps
    # word/document.xml with an empty body (its w:sectPr only), cut where the body's blocks go.
    body_before: bytes
    body_after: bytes
    core: etree._Element  # docProps/core.xml, title empty
    style_ids: dict[str, str]  # style name → w:styleId


@functools.cache
def _base_package() -> _BasePackage:
    """python-docx's default template with this writer's page, styles and footer, once."""
    word = docx.Document()
    _set_page(word)
    _set_styles(word)
    _add_page_number(word)
    word.core_properties.title = ""
    word.core_properties.author = "nianbao"
    word.core_properties.comments = ""
    saved = io.BytesIO()
    word.save(saved)
    parts: dict[str, etree._Element] = {}
    out = io.BytesIO()
    with (
        zipfile.ZipFile(saved) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            if info.filename in _PER_DOCUMENT:
                parts[info.filename] = etree.fromstring(source.read(info))
                continue
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(info))
    body = parts["word/document.xml"].find(f"{_W}body")
    for child in list(body):
        if child.tag != f"{_W}sectPr":
            body.remove(child)
    names = [TITLE_STYLE, TABLE_STYLE, *(f"Heading {level}" for level in range(1, 10))]
    style_ids = {
        style.name: style.style_id
        for style in word.styles
        if style.type == WD_STYLE_TYPE.PARAGRAPH and style.name in names
    }
    document = etree.tostring(parts["word/document.xml"], encoding="UTF-8", standalone=True)
    # The body's blocks are written as text in the w: prefix the template's root declares.
    cut = document.index(b"<w:body>") + len(b"<w:body>")
    return _BasePackage(
        package=out.getvalue(),
        body_before=document[:cut],
        body_after=document[cut:],
        core=parts["docProps/core.xml"],
        style_ids=style_ids,
    )


def _text(value: str) -> str:
    """XML character data (``xml_safe`` text: no character XML forbids)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    return _text(value).replace('"', "&quot;")


def _run(text: str, highlight: bool = False) -> str:
    """A run holding ``text`` as python-docx writes it: tabs as w:tab, line breaks as w:br."""
    parts = ['<w:r><w:rPr><w:highlight w:val="yellow"/></w:rPr>' if highlight else "<w:r>"]
    for index, piece in enumerate(_RUN_SPLIT.split(text)):
        if index % 2:
            parts.append("<w:tab/>" if piece == "\t" else "<w:br/>")
        elif piece:
            space = ' xml:space="preserve"' if len(piece.strip()) < len(piece) else ""
            parts.append(f"<w:t{space}>{_text(piece)}</w:t>")
    parts.append("</w:r>")
    return "".join(parts)


_RUN_SPLIT = re.compile("([\t\n])")


def _paragraph(
    text: str,
    style: str | None,
    space_after: str | None = None,
    highlight: bool = False,
    run: bool = False,
) -> str:
    properties = ""
    if style is not None or space_after is not None:
        properties = "<w:pPr>"
        if style is not None:
            properties += f'<w:pStyle w:val="{_attribute(style)}"/>'
        if space_after is not None:
            properties += f'<w:spacing w:after="{space_after}"/>'
        properties += "</w:pPr>"
    # python-docx adds no run for an empty title or heading, but does for a body paragraph.
    return f"<w:p>{properties}{_run(text, highlight) if text or run else ''}</w:p>"


def _table_xml(table: Table, text_style: str) -> str:
    """w:tbl for a checked table: merged regions as gridSpan (across) and vMerge (down)."""
    twips = [Emu(w).twips for w in _column_widths(table)]
    borders = "".join(
        f'<w:{edge} w:val="single" w:sz="4" w:space="0" w:color="000000"/>'
        for edge in ("top", "left", "bottom", "right", "insideH", "insideV")
    )
    look = "".join(f' w:{name}="{value}"' for name, value in _TBL_LOOK.items())
    parts = [
        '<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/>'
        f'<w:tblW w:type="dxa" w:w="{sum(twips)}"/><w:jc w:val="center"/>'
        f'<w:tblBorders>{borders}</w:tblBorders><w:tblLayout w:type="fixed"/>'
        f"<w:tblLook{look}/></w:tblPr><w:tblGrid>",
        *(f'<w:gridCol w:w="{w}"/>' for w in twips),
        "</w:tblGrid>",
    ]
    paragraph_style = f'<w:pStyle w:val="{_attribute(text_style)}"/>'

    # owner[r][c]: the model cell covering that position, if any.
    owner: list[list] = [[None] * table.n_cols for _ in range(table.n_rows)]
    for cell in table.cells:
        for r in range(cell.row, cell.row + cell.rowspan):
            owner[r][cell.col : cell.col + cell.colspan] = [cell] * cell.colspan
    for r in range(table.n_rows):
        # A row is never split across pages: a label and its numbers stay together.
        header = "<w:tblHeader/>" if r < table.header_rows else ""
        parts.append(f"<w:tr><w:trPr><w:cantSplit/>{header}</w:trPr>")
        c = 0
        while c < table.n_cols:
            cell = owner[r][c]
            span = cell.colspan if cell is not None else 1
            parts.append(f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{sum(twips[c : c + span])}"/>')
            if span > 1:
                parts.append(f'<w:gridSpan w:val="{span}"/>')
            if cell is not None and cell.rowspan > 1:
                parts.append('<w:vMerge w:val="restart"/>' if r == cell.row else "<w:vMerge/>")
            parts.append(f'<w:vAlign w:val="center"/></w:tcPr><w:p><w:pPr>{paragraph_style}')
            if cell is not None and r == cell.row:
                # Numbers and header labels centred; row labels read from the left.
                if cell.key is not None or cell.header:
                    parts.append('<w:jc w:val="center"/>')
                parts.append(f"</w:pPr>{_run(xml_safe(cell.text))}</w:p></w:tc>")
            else:
                parts.append("</w:pPr></w:p></w:tc>")
            c += span
        parts.append("</w:tr>")
    parts.append("</w:tbl>")
    return "".join(parts)


# The table look python-docx's add_table writes (first row and column emphasised by the style).
_TBL_LOOK = {
    "firstColumn": "1",
    "firstRow": "1",
    "lastColumn": "0",
    "lastRow": "0",
    "noHBand": "0",
    "noVBand": "1",
    "val": "04A0",
}


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


def _column_widths(table: Table) -> list[int]:
    """Column widths in EMU, the relative widths scaled to the text width (equal if none)."""
    weights = list(table.column_widths)
    if len(weights) != table.n_cols or any(w <= 0 for w in weights):
        weights = [1.0] * table.n_cols
    total = sum(weights)
    return [int(TEXT_WIDTH * w / total) for w in weights]


# --------------------------------------------------------------------------------------------
# Reader

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


def _children(parent, tag: str) -> Iterator:
    """``parent``'s children with ``tag``, also those Word wraps in a content control
    (``w:sdt``) or custom XML: a hand-made table may hold its rows or cells in either."""
    for child in parent:
        if child.tag == tag:
            yield child
        elif child.tag == f"{_W}sdt":
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _children(content, tag)
        elif child.tag == f"{_W}customXml":
            yield from _children(child, tag)


def _row_cells(tr) -> Iterator:
    return _children(tr, f"{_W}tc")


def _table_rows(tbl) -> Iterator:
    return _children(tbl, f"{_W}tr")


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
