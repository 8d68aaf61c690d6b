"""A small SpreadsheetML (.xlsx) writer: the parts nianbao's workbooks use, written as XML text.

report.xlsx is rendered for every report of a run; a general library spent ~4.5 ms a workbook
building an object per cell and writing its XML through a generic writer. This writes the same
package (styles, shared strings, merged ranges, print setup, frozen panes, data validation,
sheet protection, an autofilter) in about a third of that: cells are collected as tuples and
each sheet is joined as text once.

Every string is written as a shared string (``t="s"``): a cell's text is never a formula, a link
or a number, whatever it looks like. Text is XML-escaped; characters XML cannot carry and text
that looks like Excel's own ``_xHHHH_`` escape are escaped the way Excel reads them back.
"""

from __future__ import annotations

import functools
import re
import zipfile
from dataclasses import dataclass, field
from io import BytesIO
from typing import Literal
from xml.sax.saxutils import escape

# Excel keeps at most this many characters in a cell; longer text is cut (as Excel would).
MAX_CELL_CHARS = 32_767
# Excel's default font's digit width in pixels and a column's padding (to convert widths).
_DIGIT_PIXELS = 7
_COLUMN_PADDING = 5
_CREATED = "2000-01-01T00:00:00Z"  # fixed: the same report gives the same bytes
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Style:
    """How a cell looks; one ``<xf>`` of the workbook per distinct Style."""

    font: str = "Calibri"
    size: float = 11
    bold: bool = False
    italic: bool = False
    color: str | None = None  # RRGGBB
    fill: str | None = None  # RRGGBB, solid
    border: bool = False  # thin on all four sides
    horizontal: Literal["left", "center", "right"] | None = None
    vertical: Literal["top", "center", "bottom"] | None = None
    wrap: bool = False
    num_format: str | None = None
    locked: bool = True


@dataclass(frozen=True)
class Validation:
    """What a person may type into the cells it is given (``Sheet.validate``): a whole or
    decimal number, at least ``minimum``; Excel shows ``title`` and ``message`` otherwise."""

    kind: Literal["whole", "decimal"]
    minimum: int
    title: str
    message: str


@dataclass
class Sheet:
    """One worksheet: its cells (0-based row and column), sizes, merges and print setup."""

    name: str
    landscape: bool = False
    margins: tuple[float, float, float, float] = (0.7, 0.7, 0.75, 0.75)  # left right top bottom
    center_horizontally: bool = False
    fit_to_width: bool = False
    frozen_rows: int = 0
    print_area: tuple[int, int, int, int] | None = None  # first row, first col, last row, last col
    repeat_rows: tuple[int, int] | None = None
    autofilter: tuple[int, int, int, int] | None = None
    protected: bool = False
    # (row, col) → (style, value): str written as text, float as a number, None blank.
    cells: dict[tuple[int, int], tuple[Style, str | float | None]] = field(default_factory=dict)
    widths: dict[int, float] = field(default_factory=dict)
    heights: dict[int, float] = field(default_factory=dict)
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    validations: dict[Validation, list[tuple[int, int, int, int]]] = field(default_factory=dict)

    def write(self, row: int, col: int, value: str | float | None, style: Style) -> None:
        self.cells[row, col] = (style, value)

    def merge(self, top: int, left: int, bottom: int, right: int, style: Style) -> None:
        """Merge a range; every position of it gets ``style`` (borders drawn around it all)."""
        self.merged.append((top, left, bottom, right))
        for r in range(top, bottom + 1):
            for c in range(left, right + 1):
                if (r, c) not in self.cells:
                    self.cells[r, c] = (style, None)

    def validate(self, top: int, left: int, bottom: int, right: int, rule: Validation) -> None:
        self.validations.setdefault(rule, []).append((top, left, bottom, right))


def workbook(sheets: list[Sheet]) -> bytes:
    """The .xlsx package of ``sheets``, the first one selected."""
    styles = _Styles()
    strings: dict[str, int] = {}
    sheet_xml = [_sheet_xml(s, i == 0, styles, strings) for i, s in enumerate(sheets)]
    parts = {
        "[Content_Types].xml": _content_types(len(sheets)),
        "_rels/.rels": _ROOT_RELS,
        "docProps/app.xml": _APP,
        "docProps/core.xml": _CORE,
        "xl/workbook.xml": _workbook_xml(sheets),
        "xl/_rels/workbook.xml.rels": _workbook_rels(len(sheets)),
        "xl/styles.xml": styles.xml(),
        "xl/sharedStrings.xml": _shared_strings(strings),
    }
    parts.update({f"xl/worksheets/sheet{i}.xml": x for i, x in enumerate(sheet_xml, start=1)})
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode())
    return buffer.getvalue()


# ---- cells and sheets ---------------------------------------------------------------------------


@functools.cache
def column_letters(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _ref(row: int, col: int) -> str:
    return f"{column_letters(col)}{row + 1}"


def _range(top: int, left: int, bottom: int, right: int) -> str:
    first, last = _ref(top, left), _ref(bottom, right)
    return first if first == last else f"{first}:{last}"


def _absolute(top: int, left: int, bottom: int, right: int) -> str:
    return f"${column_letters(left)}${top + 1}:${column_letters(right)}${bottom + 1}"


def _sheet_xml(sheet: Sheet, selected: bool, styles: _Styles, strings: dict[str, int]) -> str:
    rows: dict[int, list[str]] = {}
    for (r, c), (style, value) in sorted(sheet.cells.items()):
        xf = styles.index(style)
        ref = _ref(r, c)
        s = f' s="{xf}"' if xf else ""
        if value is None:
            cell = f'<c r="{ref}"{s}/>'
        elif isinstance(value, str):
            text = value[:MAX_CELL_CHARS]
            index = strings.setdefault(text, len(strings))
            cell = f'<c r="{ref}"{s} t="s"><v>{index}</v></c>'
        else:
            cell = f'<c r="{ref}"{s}><v>{_number(value)}</v></c>'
        rows.setdefault(r, []).append(cell)
    data = []
    for r in sorted(rows.keys() | sheet.heights.keys()):
        height = sheet.heights.get(r)
        ht = f' ht="{_points(height)}" customHeight="1"' if height is not None else ""
        data.append(f'<row r="{r + 1}"{ht}>{"".join(rows.get(r, ()))}</row>')

    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet ', _NS, ">"]
    if sheet.fit_to_width:
        out.append('<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>')
    if sheet.cells:
        last_row = max(r for r, _ in sheet.cells)
        last_col = max(c for _, c in sheet.cells)
        out.append(f'<dimension ref="{_range(0, 0, last_row, last_col)}"/>')
    tab = ' tabSelected="1"' if selected else ""
    if sheet.frozen_rows:
        top = _ref(sheet.frozen_rows, 0)
        out.append(
            f'<sheetViews><sheetView{tab} workbookViewId="0"><pane ySplit="{sheet.frozen_rows}" '
            f'topLeftCell="{top}" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft"/></sheetView></sheetViews>'
        )
    else:
        out.append(f'<sheetViews><sheetView{tab} workbookViewId="0"/></sheetViews>')
    out.append('<sheetFormatPr defaultRowHeight="15"/>')
    if sheet.widths:
        out.append("<cols>")
        out.extend(
            f'<col min="{first + 1}" max="{last + 1}" width="{_column_width(w)}" customWidth="1"/>'
            for first, last, w in _runs(sheet.widths)
        )
        out.append("</cols>")
    out.extend(("<sheetData>", *data, "</sheetData>"))
    if sheet.protected:
        out.append(
            '<sheetProtection sheet="1" objects="1" scenarios="1" '
            'formatColumns="0" formatRows="0"/>'
        )
    if sheet.autofilter:
        out.append(f'<autoFilter ref="{_range(*sheet.autofilter)}"/>')
    if sheet.merged:
        out.append(f'<mergeCells count="{len(sheet.merged)}">')
        out.extend(f'<mergeCell ref="{_range(*m)}"/>' for m in sheet.merged)
        out.append("</mergeCells>")
    if sheet.validations:
        out.append(f'<dataValidations count="{len(sheet.validations)}">')
        for rule, ranges in sheet.validations.items():
            sqref = " ".join(_range(*r) for r in ranges)
            out.append(
                f'<dataValidation type="{rule.kind}" operator="greaterThanOrEqual" '
                'allowBlank="1" showInputMessage="1" showErrorMessage="1" '
                f'errorTitle="{_attr(rule.title)}" error="{_attr(rule.message)}" '
                f'sqref="{sqref}"><formula1>{rule.minimum}</formula1></dataValidation>'
            )
        out.append("</dataValidations>")
    if sheet.center_horizontally:
        out.append('<printOptions horizontalCentered="1"/>')
    left, right, top, bottom = sheet.margins
    out.append(
        f'<pageMargins left="{left}" right="{right}" top="{top}" bottom="{bottom}" '
        'header="0.3" footer="0.3"/>'
    )
    fit = ' fitToHeight="0"' if sheet.fit_to_width else ""
    orientation = "landscape" if sheet.landscape else "portrait"
    out.append(f'<pageSetup paperSize="9"{fit} orientation="{orientation}"/>')
    out.append("</worksheet>")
    return "".join(out)


def _runs(widths: dict[int, float]) -> list[tuple[int, int, float]]:
    """Adjacent columns of the same width as one (first, last, width) run, as Excel writes them."""
    runs: list[tuple[int, int, float]] = []
    for col, width in sorted(widths.items()):
        if runs and runs[-1][1] == col - 1 and runs[-1][2] == width:
            runs[-1] = (runs[-1][0], col, width)
        else:
            runs.append((col, col, width))
    return runs


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def _points(height: float) -> str:
    # Excel stores row heights in whole pixels (0.75 pt each).
    return f"{int(height * 4 / 3 + 0.5) * 0.75:g}"


def _column_width(width: float) -> str:
    # As Excel stores a width typed in characters: whole pixels, then 1/256 of a character.
    pixels = int(width * _DIGIT_PIXELS + 0.5) + _COLUMN_PADDING
    return f"{(pixels * 256 // _DIGIT_PIXELS) / 256:.16g}"


# Characters XML 1.0 cannot carry, and text already shaped like Excel's escape for them.
_UNSAFE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)|[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    if _UNSAFE.search(value):
        value = _UNSAFE.sub(lambda m: "_x005F_" if m[0] == "_" else f"_x{ord(m[0]):04X}_", value)
    return escape(value)


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


# ---- styles --------------------------------------------------------------------------------------


class _Styles:
    """The workbook's fonts, fills, number formats and cell formats, in order of first use."""

    def __init__(self) -> None:
        self._xfs: dict[Style, int] = {Style(): 0}
        self._fonts: dict[tuple, int] = {("Calibri", 11, False, False, None): 0}
        self._fills: dict[str, int] = {}
        self._formats: dict[str, int] = {}
        self._by_id: dict[int, int] = {}
        self._alive: list[Style] = []

    def index(self, style: Style) -> int:
        # By identity first: a workbook writes a few module-level styles thousands of times,
        # and a frozen dataclass hashes all of its fields at every lookup.
        found = self._by_id.get(id(style))
        if found is None:
            found = self._xfs.get(style)
            if found is None:
                found = self._xfs[style] = len(self._xfs)
                font = (style.font, style.size, style.bold, style.italic, style.color)
                self._fonts.setdefault(font, len(self._fonts))
                if style.fill:
                    self._fills.setdefault(style.fill, len(self._fills) + 2)
                if style.num_format and style.num_format not in _BUILTIN_FORMATS:
                    self._formats.setdefault(style.num_format, len(self._formats) + 164)
            self._by_id[id(style)] = found
            self._alive.append(style)  # an id names one object only while that object lives
        return found

    def xml(self) -> str:
        out = [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        ]
        if self._formats:
            out.append(f'<numFmts count="{len(self._formats)}">')
            out.extend(
                f'<numFmt numFmtId="{i}" formatCode="{_attr(code)}"/>'
                for code, i in self._formats.items()
            )
            out.append("</numFmts>")
        out.append(f'<fonts count="{len(self._fonts)}">')
        for name, size, bold, italic, color in self._fonts:
            color_xml = f'<color rgb="FF{color}"/>' if color else ""
            out.append(
                f"<font>{'<b/>' if bold else ''}{'<i/>' if italic else ''}"
                f'<sz val="{size:g}"/>{color_xml}<name val="{_attr(name)}"/>'
                '<family val="2"/></font>'
            )
        out.append("</fonts>")
        out.append(f'<fills count="{len(self._fills) + 2}">')
        out.append('<fill><patternFill patternType="none"/></fill>')
        out.append('<fill><patternFill patternType="gray125"/></fill>')
        out.extend(
            f'<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/>'
            '<bgColor indexed="64"/></patternFill></fill>'
            for rgb in self._fills
        )
        out.append(
            '</fills><borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
            '<border><left style="thin"><color auto="1"/></left><right style="thin">'
            '<color auto="1"/></right><top style="thin"><color auto="1"/></top>'
            '<bottom style="thin"><color auto="1"/></bottom><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            f'</cellStyleXfs><cellXfs count="{len(self._xfs)}">'
        )
        out.extend(self._xf(style) for style in self._xfs)
        out.append(
            '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            "</cellStyles></styleSheet>"
        )
        return "".join(out)

    def _xf(self, style: Style) -> str:
        font = self._fonts[style.font, style.size, style.bold, style.italic, style.color]
        fill = self._fills.get(style.fill, 0) if style.fill else 0
        number = 0
        if style.num_format:
            number = _BUILTIN_FORMATS.get(style.num_format) or self._formats[style.num_format]
        border = 1 if style.border else 0
        applies = "".join(
            f' apply{name}="1"'
            for name, on in (
                ("NumberFormat", number),
                ("Font", font),
                ("Fill", fill),
                ("Border", border),
                ("Alignment", style.horizontal or style.vertical or style.wrap),
                ("Protection", not style.locked),
            )
            if on
        )
        inner = ""
        if style.horizontal or style.vertical or style.wrap:
            inner += (
                "<alignment"
                + (f' horizontal="{style.horizontal}"' if style.horizontal else "")
                + (f' vertical="{style.vertical}"' if style.vertical else "")
                + (' wrapText="1"' if style.wrap else "")
                + "/>"
            )
        if not style.locked:
            inner += '<protection locked="0"/>'
        head = (
            f'<xf numFmtId="{number}" fontId="{font}" fillId="{fill}" borderId="{border}" '
            f'xfId="0"{applies}'
        )
        return f"{head}>{inner}</xf>" if inner else f"{head}/>"


_BUILTIN_FORMATS = {"0": 1, "0.00": 2}


# ---- the package's fixed parts -----------------------------------------------------------------

_NS = (
    'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
)
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_OFFICE = "application/vnd.openxmlformats-officedocument"

_ROOT_RELS = (
    f'{_XML}<Relationships xmlns="{_PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/>'
    f'<Relationship Id="rId2" Type="{_PACKAGE_RELS}/metadata/core-properties" '
    'Target="docProps/core.xml"/>'
    f'<Relationship Id="rId3" Type="{_DOC_RELS}/extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>"
)
_APP = (
    f'{_XML}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
    'extended-properties"><Application>nianbao</Application></Properties>'
)
_CORE = (
    f'{_XML}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
    'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    f'<dcterms:created xsi:type="dcterms:W3CDTF">{_CREATED}</dcterms:created>'
    f'<dcterms:modified xsi:type="dcterms:W3CDTF">{_CREATED}</dcterms:modified>'
    "</cp:coreProperties>"
)


def _content_types(n_sheets: int) -> str:
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        f'ContentType="{_OFFICE}.spreadsheetml.worksheet+xml"/>'
        for i in range(1, n_sheets + 1)
    )
    return (
        f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/docProps/app.xml" ContentType="{_OFFICE}.extended-properties+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
        'package.core-properties+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_OFFICE}.spreadsheetml.styles+xml"/>'
        f'<Override PartName="/xl/workbook.xml" '
        f'ContentType="{_OFFICE}.spreadsheetml.sheet.main+xml"/>{sheets}'
        '<Override PartName="/xl/sharedStrings.xml" '
        f'ContentType="{_OFFICE}.spreadsheetml.sharedStrings+xml"/></Types>'
    )


def _workbook_rels(n_sheets: int) -> str:
    sheets = "".join(
        f'<Relationship Id="rId{i}" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, n_sheets + 1)
    )
    return (
        f'{_XML}<Relationships xmlns="{_PACKAGE_RELS}">{sheets}'
        f'<Relationship Id="rId{n_sheets + 1}" Type="{_DOC_RELS}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId{n_sheets + 2}" Type="{_DOC_RELS}/sharedStrings" '
        'Target="sharedStrings.xml"/></Relationships>'
    )


def _workbook_xml(sheets: list[Sheet]) -> str:
    listed = "".join(
        f'<sheet name="{_attr(s.name)}" sheetId="{i}" r:id="rId{i}"/>'
        for i, s in enumerate(sheets, start=1)
    )
    names = []
    for i, sheet in enumerate(sheets):
        quoted = "'" + sheet.name.replace("'", "''") + "'"
        if sheet.autofilter:
            names.append(
                f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
                f"{_attr(quoted)}!{_absolute(*sheet.autofilter)}</definedName>"
            )
        if sheet.print_area:
            names.append(
                f'<definedName name="_xlnm.Print_Area" localSheetId="{i}">'
                f"{_attr(quoted)}!{_absolute(*sheet.print_area)}</definedName>"
            )
        if sheet.repeat_rows:
            first, last = sheet.repeat_rows
            names.append(
                f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">'
                f"{_attr(quoted)}!${first + 1}:${last + 1}</definedName>"
            )
    defined = f"<definedNames>{''.join(names)}</definedNames>" if names else ""
    return (
        f"{_XML}<workbook {_NS}><bookViews><workbookView/></bookViews>"
        f"<sheets>{listed}</sheets>{defined}</workbook>"
    )


def _shared_strings(strings: dict[str, int]) -> str:
    items = "".join(
        f'<si><t xml:space="preserve">{_text(s)}</t></si>'
        if s[:1].isspace() or s[-1:].isspace()
        else f"<si><t>{_text(s)}</t></si>"
        for s in strings
    )
    return (
        f'{_XML}<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>'
    )
