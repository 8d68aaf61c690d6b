"""report.xlsx, its fill-in template, 数据问题清单.xlsx and the reader of report workbooks."""

from __future__ import annotations

import io
import re
import zipfile

import openpyxl
import polars as pl
import pytest
import xlsxwriter

from flows.outputs.formats.xlsx import (
    TEXT_SHEET,
    UnreadableWorkbook,
    problems_xlsx,
    read_xlsx,
    template_xlsx,
    to_xlsx,
)
from transforms.cells import FEES_COLUMN, FEES_ROW
from transforms.document import Document, Heading, Paragraph, Table, TableCell
from transforms.normalize import QUARANTINE_SCHEMA
from transforms.problems import REASON_TRANSLATIONS, UNKNOWN_REASON_PREFIX, reason_zh
from transforms.rules import RECORD_RULES
from transforms.sources import SOURCES

HOSTILE = ('=HYPERLINK("http://x","y")', "http://example.com", "1e5")


def _requests_table(values: tuple[str, ...] = ("12", "0", "3")) -> Table:
    """A small table 三: a 3×3 note corner, a band across the value columns, row labels."""
    cells = [
        TableCell(
            0,
            0,
            "本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和",
            3,
            3,
            header=True,
        ),
        TableCell(0, 3, "申请人情况", 1, 3, header=True),
        TableCell(1, 3, "自然人", 2, 1, header=True),
        TableCell(1, 4, "法人或其他组织", 1, 1, header=True),
        TableCell(1, 5, "总计", 2, 1, header=True),
        TableCell(2, 4, "商业企业", header=True),
        TableCell(3, 0, "一、本年新收政府信息公开申请数量", 1, 3),
    ]
    cells += [
        TableCell(3, 3 + i, text, key=("requests", "received", f"c{i}"))
        for i, text in enumerate(values)
    ]
    cells.append(TableCell(4, 0, HOSTILE[0], 1, 3))
    cells += [TableCell(4, 3 + i, HOSTILE[1 + i % 2]) for i in range(3)]
    return Table("requests", 5, 6, tuple(cells), header_rows=3, column_widths=(1, 1, 6, 2, 2, 2))


def _proactive_table() -> Table:
    cells = (
        TableCell(0, 0, "第二十条第（一）项", 1, 4, header=True),
        TableCell(1, 0, "信息内容", header=True),
        TableCell(1, 1, "本年制发件数", header=True),
        TableCell(1, 2, "本年废止件数", header=True),
        TableCell(1, 3, "现行有效件数", header=True),
        TableCell(2, 0, "规章"),
        TableCell(2, 1, "5", key=("proactive", "rules", "issued")),
        TableCell(2, 2, "0", key=("proactive", "rules", "repealed")),
        TableCell(2, 3, "17", key=("proactive", "rules", "in_force")),
        TableCell(3, 0, "第二十条第（八）项", 1, 4, header=True),
        TableCell(4, 0, "信息内容", header=True),
        TableCell(4, 1, "本年收费金额（单位：万元）", 1, 3, header=True),
        TableCell(5, 0, "行政事业性收费"),
        TableCell(5, 1, "727.08", 1, 3, key=("proactive", FEES_ROW, FEES_COLUMN)),
    )
    return Table("proactive", 6, 4, cells, header_rows=0, column_widths=(3, 1, 1, 1))


def _appeals_table() -> Table:
    heads = ["维持", "纠正", "其他结果", "尚未审结", "总计"]
    cells = [
        TableCell(0, 0, "行政复议", 2, 5, header=True),
        TableCell(0, 5, "行政诉讼", 1, 10, header=True),
        TableCell(1, 5, "未经复议直接起诉", 1, 5, header=True),
        TableCell(1, 10, "复议后起诉", 1, 5, header=True),
    ]
    cells += [TableCell(2, c, heads[c % 5], header=True) for c in range(15)]
    cells += [TableCell(3, c, str(c), key=("appeals", "x", f"c{c}")) for c in range(15)]
    return Table("appeals", 4, 15, tuple(cells), header_rows=3, column_widths=(1,) * 15)


def _doc(requests: Table | None = None) -> Document:
    return Document(
        agency_name="某某区财政局",
        year=2024,
        title=("某某区财政局", "2024年政府信息公开工作年度报告"),
        blocks=(
            Paragraph("本报告根据《中华人民共和国政府信息公开条例》编制。" * 6),
            Heading("一、总体情况", 1),
            Heading("（一）主动公开", 2),
            Paragraph(HOSTILE[0]),
            Paragraph("（待补充：政府信息管理工作）", placeholder=True),
            Heading("二、主动公开政府信息情况", 1),
            _proactive_table(),
            Heading("三、收到和处理政府信息公开申请情况", 1),
            requests or _requests_table(),
            Heading("四、政府信息公开行政复议、行政诉讼情况", 1),
            _appeals_table(),
        ),
        placeholders=("（三）政府信息管理",),
    )


def _grid(table: Table) -> tuple[tuple[str, ...], ...]:
    grid = [[""] * table.n_cols for _ in range(table.n_rows)]
    for cell in table.cells:
        grid[cell.row][cell.col] = cell.text
    return tuple(map(tuple, grid))


def _book(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def test_one_sheet_per_table_after_the_text_sheet_named_by_part():
    book = _book(to_xlsx(_doc()))
    assert book.sheetnames == [TEXT_SHEET, "二、主动公开", "三、依申请公开", "四、复议诉讼"]
    assert book["三、依申请公开"]["A1"].value == "三、收到和处理政府信息公开申请情况"


def test_spans_become_merged_ranges():
    book = _book(to_xlsx(_doc()))
    merged = {str(r) for r in book["三、依申请公开"].merged_cells.ranges}
    # Row 1 is the title; the table starts on row 2.
    assert {"A1:F1", "A2:C4", "D2:F2", "D3:D4", "F3:F4", "A5:C5", "A6:C6"} <= merged
    assert "E3:E3" not in merged and len(merged) == 7
    four = {str(r) for r in book["四、复议诉讼"].merged_cells.ranges}
    assert {"A2:E3", "F2:O2", "F3:J3", "K3:O3"} <= four
    two = {str(r) for r in book["二、主动公开"].merged_cells.ranges}
    assert {"A2:D2", "A5:D5", "B6:D6", "B7:D7"} <= two


def test_every_position_of_the_grid_is_bordered_including_covered_ones():
    sheet = _book(to_xlsx(_doc()))["三、依申请公开"]
    ranges = list(sheet.merged_cells.ranges)
    for row in sheet.iter_rows(min_row=2, max_row=6, max_col=6):
        for cell in row:
            # openpyxl keeps a covered cell's borders only on its merged range's outline.
            box = next((r for r in ranges if cell.coordinate in r), None)
            top, left, bottom, right = (
                (box.min_row, box.min_col, box.max_row, box.max_col)
                if box
                else (cell.row, cell.column, cell.row, cell.column)
            )
            sides = {
                "top": cell.row == top,
                "bottom": cell.row == bottom,
                "left": cell.column == left,
                "right": cell.column == right,
            }
            for side, on_outline in sides.items():
                if on_outline:
                    assert getattr(cell.border, side).style == "thin", (cell.coordinate, side)


def test_labels_bold_wrapped_centred_and_values_numbers_with_their_decimals():
    book = _book(to_xlsx(_doc()))
    three, two = book["三、依申请公开"], book["二、主动公开"]
    corner = three["A2"]
    assert corner.font.b and corner.alignment.wrap_text and corner.alignment.horizontal == "center"
    assert (three["D5"].value, three["D5"].number_format) == (12, "0")
    assert (three["E5"].value, three["E5"].number_format) == (0, "0")
    fee = two["B7"]
    assert (fee.value, fee.number_format, fee.alignment.horizontal) == (727.08, "0.00", "right")


def test_print_setup_a4_fit_to_width_repeated_and_frozen_headers():
    book = _book(to_xlsx(_doc()))
    three, four = book["三、依申请公开"], book["四、复议诉讼"]
    for sheet in (three, four):
        setup = sheet.page_setup
        assert setup.paperSize == 9
        # fitToWidth 1 is the default, which the file leaves out.
        assert (setup.fitToWidth or 1, setup.fitToHeight) == (1, 0)
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_options.horizontalCentered
        assert sheet.print_title_rows == "$1:$4"
        assert sheet.freeze_panes == "A5"
    assert four.page_setup.orientation == "landscape"
    assert three.page_setup.orientation == "portrait"
    assert three.print_area == "'三、依申请公开'!$A$1:$F$6"
    # Wrapped labels get room: the note corner's rows are taller than one line.
    assert sum(three.row_dimensions[r].height for r in (2, 3, 4)) > 3 * 16


def test_text_stays_text_never_a_formula_link_or_number():
    data = to_xlsx(_doc())
    book = _book(data)
    three = book["三、依申请公开"]
    assert [three[c].value for c in ("A6", "D6", "E6")] == list(HOSTILE)
    assert all(three[c].data_type == "s" for c in ("A6", "D6", "E6"))
    paragraph = next(c for c in book[TEXT_SHEET]["A"] if c.value == HOSTILE[0])
    assert paragraph.data_type == "s"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert not [n for n in archive.namelist() if "hyperlink" in n or "_rels/sheet" in n]
        assert all(b"<f>" not in archive.read(n) for n in archive.namelist())


def test_placeholder_is_marked_visibly():
    sheet = _book(to_xlsx(_doc()))[TEXT_SHEET]
    placeholder = next(c for c in sheet["A"] if c.value == "（待补充：政府信息管理工作）")
    ordinary = next(c for c in sheet["A"] if c.value == HOSTILE[0])
    assert placeholder.fill.fgColor.rgb != ordinary.fill.fgColor.rgb
    assert placeholder.font.color.rgb.endswith("C00000")


def test_round_trip_reads_the_grids_paragraphs_and_title_exactly():
    doc = _doc()
    read = read_xlsx(to_xlsx(doc), "report.xlsx")
    tables = [b for b in doc.blocks if isinstance(b, Table)]
    assert read.tables == tuple(_grid(t) for t in tables)
    assert read.title == doc.title
    assert read.paragraphs == tuple(
        b.text for b in doc.blocks if isinstance(b, Heading | Paragraph)
    )
    assert read.tables[0][5][1] == "727.08" and read.tables[1][3][4] == "0"
    assert read.source == "report.xlsx"


def test_numbers_a_float_cannot_hold_exactly_stay_text():
    table = _requests_table(values=("12345678901234567890", "0.1", "7"))
    read = read_xlsx(to_xlsx(_doc(table)), "r.xlsx")
    assert read.tables[1][3][3:6] == ("12345678901234567890", "0.1", "7")
    sheet = _book(to_xlsx(_doc(table)))["三、依申请公开"]
    assert sheet["D5"].data_type == "s" and sheet["E5"].value == 0.1


def _hand_filled() -> bytes:
    """A workbook typed by a person in the report's layout: no styles, numbers as text and as
    numbers, stray spaces, float noise from a calculation."""
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False}) as book:
        text = book.add_worksheet(TEXT_SHEET)
        text.write_string(0, 0, " 某某区财政局 ")
        text.write_string(2, 0, "一、总体情况")
        text.write_string(3, 0, "  本年度主动公开信息 12 条。\u3000")
        sheet = book.add_worksheet("三")
        sheet.write_string(0, 0, "三、收到和处理政府信息公开申请情况")
        sheet.merge_range(1, 0, 1, 1, "申请人情况")
        sheet.write_string(2, 0, "自然人")
        sheet.write_string(2, 1, "总计")
        sheet.write_string(3, 0, "12 ")
        sheet.write_number(3, 1, 12)
        sheet.write_number(4, 0, 727.0800000000001)
        sheet.write_number(4, 1, 3.0)
    return buffer.getvalue()


def test_hand_filled_workbook_in_the_layout_reads_right():
    read = read_xlsx(_hand_filled(), "填报.xlsx")
    assert read.title == ("某某区财政局",)
    assert read.paragraphs == ("一、总体情况", "本年度主动公开信息 12 条。")
    assert read.tables == ((("申请人情况", ""), ("自然人", "总计"), ("12", "12"), ("727.08", "3")),)


def _template() -> bytes:
    blank = _requests_table(values=("", "", ""))
    return template_xlsx(_doc(blank))


def test_template_value_cells_blank_and_unlocked_labels_locked():
    book = _book(_template())
    three, two = book["三、依申请公开"], book["二、主动公开"]
    assert three.protection.sheet and not three.protection.password
    for cell in (three["D5"], three["E5"], three["F5"], two["B7"], two["C4"]):
        assert cell.value is None and cell.protection.locked is False, cell.coordinate
    for cell in (three["A2"], three["A5"], three["D2"], two["A2"], two["C3"]):
        assert cell.value and cell.protection.locked is True, cell.coordinate
    # One rule a kind of number, each listing the value cells it covers.
    rules = {
        (v.type, v.operator, v.formula1): {str(r) for r in v.sqref.ranges}
        for v in two.data_validations.dataValidation
    }
    assert rules.keys() == {
        ("decimal", "greaterThanOrEqual", "0"),
        ("whole", "greaterThanOrEqual", "0"),
    }
    assert "B7:D7" in rules["decimal", "greaterThanOrEqual", "0"]
    assert "C4" in rules["whole", "greaterThanOrEqual", "0"]
    assert "B7:D7" not in rules["whole", "greaterThanOrEqual", "0"]


def test_template_reads_back_with_blanks():
    read = read_xlsx(_template(), "template.xlsx")
    assert read.tables[1][3][3:6] == ("", "", "")
    assert read.tables[0][5] == ("行政事业性收费", "", "", "")
    assert read.tables[0][1] == ("信息内容", "本年制发件数", "本年废止件数", "现行有效件数")


def test_template_filled_in_reads_the_typed_numbers():
    book = _book(_template())
    book["二、主动公开"]["B7"] = 1.5
    book["三、依申请公开"]["D5"] = 4
    buffer = io.BytesIO()
    book.save(buffer)
    read = read_xlsx(buffer.getvalue(), "filled.xlsx")
    assert read.tables[0][5][1] == "1.50" and read.tables[1][3][3] == "4"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"not a workbook", id="not_a_zip"),
        pytest.param(to_xlsx(_doc())[:2000], id="truncated"),
        pytest.param(b"PK\x05\x06" + b"\0" * 18, id="empty_zip"),
    ],
)
def test_corrupt_workbook_is_a_clear_error_naming_the_file(data):
    with pytest.raises(UnreadableWorkbook, match=r"^upload/report\.xlsx: cannot be read as XLSX"):
        read_xlsx(data, "upload/report.xlsx")


def test_workbook_spanning_too_many_cells_is_refused(tmp_path):
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        book.add_worksheet("表").write_string(999_999, 16_000, "far")
    with pytest.raises(UnreadableWorkbook, match=r"^big\.xlsx: sheet '表' reaches row 1,000,000"):
        read_xlsx(buffer.getvalue(), "big.xlsx")


def test_workbook_unpacking_too_large_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (9 * 2**20))
    with pytest.raises(UnreadableWorkbook, match=r"^bomb\.xlsx: the workbook unpacks to 9 MiB"):
        read_xlsx(buffer.getvalue(), "bomb.xlsx")


# ---- 数据问题清单 ----------------------------------------------------------------------------


def _quarantine() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": ["requests", "requests", "landing"],
            "agency_id": ["cz", "cz", "cz"],
            "file": ["cz/requests/2024.csv", "cz/requests/2024.csv", "cz/requests/x.txt"],
            "row": [3, 7, None],
            "column": ["受理日期", "办理结果", None],
            "value": ['=HYPERLINK("http://x")', "1e5", None],
            "reason": [
                "not a date: '=HYPERLINK(\"http://x\")'",
                "办理结果 is empty",
                "not a .csv or .xlsx file",
            ],
        },
        schema=QUARANTINE_SCHEMA,
    )


def test_problem_list_has_one_text_row_per_problem_with_chinese_reasons():
    book = _book(problems_xlsx(_quarantine()))
    sheet = book.active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows == [
        ["文件", "行", "列", "值", "问题"],
        [
            "cz/requests/2024.csv",
            "3",
            "受理日期",
            '=HYPERLINK("http://x")',
            "不是日期：'=HYPERLINK(\"http://x\")'",
        ],
        ["cz/requests/2024.csv", "7", "办理结果", "1e5", "办理结果为空"],
        ["cz/requests/x.txt", None, None, None, "不是 .csv 或 .xlsx 文件"],
    ]
    assert all(c.data_type == "s" for row in sheet.iter_rows(min_row=2, max_row=3) for c in row)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:E4"
    assert sheet.column_dimensions["E"].width > sheet.column_dimensions["B"].width


def test_problem_list_of_an_agency_without_problems_has_its_header():
    book = _book(problems_xlsx(pl.DataFrame(schema=QUARANTINE_SCHEMA)))
    assert [c.value for c in book.active[1]] == ["文件", "行", "列", "值", "问题"]


# Every reason the pipeline writes (flows/landing.py, transforms/normalize.py, rules.py,
# agencies.py), with example values where the reason carries them.
LANDING_REASONS = [
    "neither UTF-8 nor GB18030 (undecodable byte at offset 17)",
    "required column 受理日期、办理结果 is missing",
    "cannot be read as CSV: the header row has an unclosed quote or a line break in a name",
    "cannot be read as XLSX: not a zip archive (truncated?)",
    "the workbook unpacks to 300 MiB, more than the 256 MiB a landing XLSX may hold: not read",
    "a sheet reaches row 1,048,576 and column 16,384: more than the 10,000,000 cells a landing XLSX may span: not read",
    "unsupported file type '.txt' (expected .csv or .xlsx)",
    "not a narrative file (expected <agency_id>/narrative/<year>.md)",
    "larger than the 256 KiB a narrative file may be: not read",
    "not UTF-8 text (undecodable byte at offset 2): save it as UTF-8",
    "cannot be read as XLSX (BadZipFile): damaged or not a workbook",
    "cannot be read as CSV: the file is empty",
    "cannot be read as CSV: a quote is opened and never closed (or a stray quote)",
    "cannot be read as CSV (ComputeError): rows cannot be split",
    "not a freepublish/batchget response (invalid JSON: ComputeError)",
    "no `item` list: an error response, not a freepublish/batchget page",
    "item is null: no article in it",
    "agency folder 'xyz' is not in agencies.csv",
    "门户网站 is not among the agency's 渠道 in agencies.csv",
    "expected wechat/<account name>/<file>.json",
    "门户网站 is the website channel, not a WeChat account: its exports go to website/",
    "WeChat account '某某发布' is not among the agency's 渠道 in agencies.csv",
    "cannot be read from the landing zone: permission denied",
    "the row has more values than the header has columns (a separator inside an unquoted value, or rows run together): not read",
    "a quoted value runs across rows (a quote not closed where it should be): not read",
    "symbolic link to a place outside the landing zone: not read",
    "symbolic link to nothing (broken): not read",
    *(
        form.format(kind)
        for kind in (
            "a named pipe (fifo)",
            "a socket",
            "a device",
            "a folder",
            "not a regular file",
        )
        for form in ("symbolic link to {}: not read", "{}, not a regular file: not read")
    ),
    "not a .csv or .xlsx file",
    "not a landing path (<agency_id>/<source>/<file>)",
]
RECORD_REASONS = [
    "not a date: '2024-13-01'",
    "date after the day of the run (2025-01-02)",
    "date before 1990",
    "unknown value '加急' (expected 自然人 / 法人或其他组织)",
    "amount out of range (10^12 元 or more): '1000000000000'",
    "not an amount: scientific notation may have lost digits: '1.2E+15'",
    "not an amount in 元 with at most two decimals: '12.345'",
    "unknown 具体情形: '其他'",
    "申请编号 'A-1' appears 2 times in this file with different values (rows 3 and 9)",
    "申请编号 'A-1' appears 3 times in this file with different values (rows 3, …, 9)",
    "办理结果 不予公开 needs 具体情形",
    "办理结果 不予公开 contradicts 具体情形 '信息不存在': no item is a 不予公开 reason (found 无法提供)",
    "办理结果 予以公开 contradicts 具体情形 '信息不存在': refusal reasons (无法提供) but no item 予以公开 (a request disclosed in part is 部分公开)",
    "行政诉讼 needs 起诉方式",
    "agency_id has an invisible character (zero-width space, BOM…): lowercase a-z, 0-9 and '-', at most 64 characters (^[a-z0-9-]{1,64}$)",
    "上级机关 is not valid: lowercase a-z, 0-9 and '-', at most 64 characters (^[a-z0-9-]{1,64}$)",
    "agency_id is on rows 3, 5 of agencies.csv: none of them is used, as which one is right is unknown",
    "a channel must not be '.' or '..' or contain '/', '\\' or control characters",
    "expected 是 or 否",
    "expected a whole number from 0 to 4",
]


def _declared_reasons() -> list[str]:
    """Reasons built from the pipeline's own declarations: every field's "is empty", and the
    date-order and conclusion rules of every source."""
    reasons = [f"{f.header} is empty" for s in SOURCES.values() for f in s.fields]
    headers = {n: {f.name: f.header for f in s.fields} for n, s in SOURCES.items()}
    for rule in RECORD_RULES.values():
        if rule.pair:
            later, earlier = rule.pair
            h = headers[rule.source]
            reasons.append(f"{h[later]} is before {h[earlier]}")
        elif "_with_" in rule.id:
            missing, given = rule.id.split(".", 1)[1].split("_with_")
            h = headers[rule.source]
            reasons.append(f"{h[given]} given but {h[missing]} is empty")
    return reasons


@pytest.mark.parametrize("reason", LANDING_REASONS + RECORD_REASONS + _declared_reasons())
def test_every_known_reason_has_a_chinese_translation(reason):
    frame = pl.DataFrame({"reason": [reason]})
    zh = frame.select(reason_zh(pl.col("reason")).alias("zh"))["zh"][0]
    assert not zh.startswith(UNKNOWN_REASON_PREFIX), reason
    # The Chinese sentence is not the English one, and quoted values survive as they are.
    assert zh != reason
    for quoted in re.findall(r"(?<![A-Za-z])'([^']+)'", reason):
        assert quoted in zh


def test_every_translation_is_used_by_a_known_reason():
    reasons = pl.Series(LANDING_REASONS + RECORD_REASONS + _declared_reasons())
    unused = [p for p, _ in REASON_TRANSLATIONS if not reasons.str.contains(p).any()]
    assert unused == []


def test_an_unknown_reason_is_kept_whole_not_dropped():
    frame = pl.DataFrame({"reason": ["something new happened", None]})
    zh = frame.select(reason_zh(pl.col("reason")).alias("zh"))["zh"].to_list()
    assert zh == [UNKNOWN_REASON_PREFIX + "something new happened", None]
