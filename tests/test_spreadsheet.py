"""The small .xlsx writer behind report.xlsx, its template and 数据问题清单.xlsx."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from flows.outputs.formats.spreadsheet import (
    MAX_CELL_CHARS,
    Sheet,
    Style,
    Validation,
    column_letters,
    workbook,
)

PLAIN = Style()


def _read(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


@pytest.mark.parametrize(
    "text",
    [
        "a & <b> \"q\" 'x' ]]>",
        "_x0041_ is how Excel escapes A; _X00ff_ too",
        "  leading and trailing spaces  ",
        "line\nbreak\ttab",
        "\u3000全角空格与😀",
        '=HYPERLINK("http://x")',
    ],
)
def test_any_text_reads_back_exactly_as_text(text):
    sheet = Sheet("s")
    sheet.write(0, 0, text, PLAIN)
    cell = _read(workbook([sheet]))["s"]["A1"]
    assert (cell.value, cell.data_type) == (text, "s")


def test_characters_xml_cannot_carry_are_written_as_excel_escapes_them():
    sheet = Sheet("s")
    sheet.write(0, 0, "a\x01b\x1fc _x0041_", PLAIN)
    with zipfile.ZipFile(io.BytesIO(workbook([sheet]))) as archive:
        xml = archive.read("xl/sharedStrings.xml").decode()
    # Excel reads _x0001_ as the character and _x005F_ as a literal underscore.
    assert "<t>a_x0001_b_x001F_c _x005F_x0041_</t>" in xml


def test_text_longer_than_a_cell_holds_is_cut_where_excel_cuts_it():
    sheet = Sheet("s")
    sheet.write(0, 0, "长" * (MAX_CELL_CHARS + 10), PLAIN)
    assert _read(workbook([sheet]))["s"]["A1"].value == "长" * MAX_CELL_CHARS


def test_numbers_stay_numbers_and_blanks_keep_their_style():
    sheet = Sheet("s")
    sheet.write(0, 0, 12.0, Style(num_format="0"))
    sheet.write(0, 1, 727.08, Style(num_format="0.00"))
    sheet.write(0, 2, None, Style(border=True))
    row = _read(workbook([sheet]))["s"][1]
    assert [(c.value, c.number_format) for c in row[:2]] == [(12, "0"), (727.08, "0.00")]
    assert row[2].value is None and row[2].border.left.style == "thin"


def test_widths_and_heights_are_stored_as_excel_stores_them():
    sheet = Sheet("s", widths={0: 37.5, 1: 20.4, 2: 20.4, 4: 8})
    sheet.heights[0] = 28
    sheet.write(0, 0, "x", PLAIN)
    data = workbook([sheet])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    # Whole pixels: 37.5 characters are 268 px, 28 pt are 37 px (27.75 pt).
    assert '<col min="1" max="1" width="38.28515625" customWidth="1"/>' in xml
    assert '<col min="2" max="3" width="21.140625" customWidth="1"/>' in xml  # one run
    assert '<col min="5" max="5"' in xml and '<row r="1" ht="27.75"' in xml
    dims = _read(data)["s"].column_dimensions
    assert dims["A"].width == 38.28515625 and dims["E"].width == 8.7109375


def test_merges_print_setup_panes_filter_and_protection_as_asked():
    sheet = Sheet(
        "二、表",
        landscape=True,
        center_horizontally=True,
        fit_to_width=True,
        frozen_rows=2,
        print_area=(0, 0, 5, 3),
        repeat_rows=(0, 1),
        autofilter=(1, 0, 5, 3),
        protected=True,
    )
    sheet.write(0, 0, "title", PLAIN)
    sheet.merge(0, 0, 0, 3, Style(bold=True))
    sheet.write(2, 1, None, Style(locked=False))
    rule = Validation("whole", 0, "数值不正确", "请填写不小于 0 的整数")
    sheet.validate(2, 1, 2, 1, rule)
    sheet.validate(3, 1, 4, 2, rule)
    ws = _read(workbook([Sheet("first"), sheet]))["二、表"]
    assert [str(r) for r in ws.merged_cells.ranges] == ["A1:D1"]
    assert (ws.page_setup.orientation, ws.page_setup.paperSize, ws.page_setup.fitToHeight) == (
        "landscape",
        9,
        0,
    )
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_options.horizontalCentered
    assert ws.freeze_panes == "A3" and ws.print_title_rows == "$1:$2"
    assert ws.print_area == "'二、表'!$A$1:$D$6" and ws.auto_filter.ref == "A2:D6"
    assert ws.protection.sheet and ws["B3"].protection.locked is False
    (validation,) = ws.data_validations.dataValidation
    assert {str(r) for r in validation.sqref.ranges} == {"B3", "B4:C5"}
    assert (validation.type, validation.formula1, validation.error) == (
        "whole",
        "0",
        "请填写不小于 0 的整数",
    )


def test_the_same_sheets_give_the_same_bytes():
    def build() -> bytes:
        sheet = Sheet("s")
        sheet.write(0, 0, "x", Style(font="仿宋", color="C00000", fill="FFF2CC"))
        return workbook([sheet])

    assert build() == build()


def test_column_letters_past_z():
    assert [column_letters(c) for c in (0, 25, 26, 51, 52, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
    ]
