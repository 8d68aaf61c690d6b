"""A published report's text read into cells: title, year, agency, layout and the statutory tables.

Published reports reach an auditor as saved pages, Word files, PDFs and text copied from a page.
Where a reader recovers the tables as grids, ``transforms.document.cells_from_read`` maps them;
this module reads what has no grid: a sequence of text rows (a line of a tab- or ``|``-separated
text, the lines of one table row in text copied one cell per line, a printed line of a PDF).

The statutory rows are found by their labels, in the order the 2021 format prints them, and
each takes the numbers that follow it: 7 for a row of table 三, 3 or 1 for a row of table 二,
15 for the one row of table 四. A label may be broken over lines or cells; digits may be
full-width or grouped by thousands. An empty cell counts 0 only inside a row whose cells are
known (a row of a tab-separated text); a row with a number missing, or a word where a number
belongs, is a problem naming the table and the row, never a guess. Pure: no IO.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from transforms.cells import (
    APPEALS_COLUMNS,
    APPEALS_ROWS,
    PROACTIVE_ROWS,
    REQUEST_COLUMNS,
    REQUEST_ROWS,
    SECTION_TITLES,
    VALUE_DTYPE,
    outcome_item_label,
)

Rows = Sequence[Sequence[str]]

_WIDE_DIGITS = "０１２３４５６７８９"
_HALF = str.maketrans(
    {
        **{wide: str(i) for i, wide in enumerate(_WIDE_DIGITS)},
        "．": ".",
        "，": ",",
        "－": "-",
        "\u3000": " ",
        "\xa0": " ",
    }
)
_NUMBER = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
# What a label is compared without: blanks, quotes, brackets, punctuation and the item
# number's point ("1." and "1、" alike).
_LABEL_NOISE = re.compile(r"[\s“”\"'‘’「」『』《》〈〉·,，、。;；:：()（）.\-【】\[\]]")
# Wordings real reports print for a row → the format's own.
_LABEL_VARIANTS = (("法律和行政法规", "法律行政法规"), ("不再受理", "不再处理"))
# A label broken over lines or cells may show only its beginning before the numbers (a PDF
# prints a long label's numbers beside its first line): this many characters identify it.
_PREFIX_CHARS = 7
# What may stand between the label's beginning and its numbers besides the label's rest: the
# group label printed beside it ("（六）其他处理" wrapped as "处理").
_MAX_FOREIGN_CHARS = 8
# Decimal(18, 4): at most 14 digits before the point and 4 after.
_MAX_INTEGER_DIGITS, _MAX_DECIMALS = 14, 4

_TITLE = re.compile(r"([0-9０-９]{4})\s*年\s*(?:度\s*)?政府信息公开工作年度报告")
_PERIOD = re.compile(
    r"统计(?:时段|期限|时间|区间)[^0-9０-９]{0,8}[0-9０-９]{4}\s*年\s*[0-9０-９]{1,2}\s*月\s*[0-9０-９]{1,2}\s*日"
    r"\s*(?:至|到|—|-|－|~|～)\s*([0-9０-９]{4})\s*年"
)
# Marks of the layout of 2019-2020 (国办公开办函〔2019〕60号) that the 2021 format dropped: a
# 政府集中采购 block under 第二十条第（九）项, the old columns of table 二.
_PRE_2021_MARKS = (
    "政府集中采购",
    "第二十条第九项",
    "本年新制作数量",
    "本年新公开数量",
    "对外公开总数量",
)
# The 2021 format splits （六）其他处理 into items; the old one prints it as one row.
_OTHER_GROUP = "六其他处理"
_OTHER_ITEMS_2021 = ("逾期不补正", "逾期未按收费通知")

_PART_TWO = "二主动公开政府信息情况"
_PART_FOUR = "四政府信息公开行政复议行政诉讼情况"
_PART_FIVE = "五存在的主要问题及改进情况"


def half_width(text: str) -> str:
    """Full-width digits and separators as their ASCII forms.

    >>> half_width("１，３２２．５")
    '1,322.5'
    """
    return text.translate(_HALF)


def label_key(text: str) -> str:
    """A label as compared: half-width, without blanks, punctuation and item points.

    >>> label_key("（三）不予公开 2.其他法律和行政法规禁止公开") == label_key("三不予公开2、其他法律行政法规禁止公开")
    True
    """
    bare = _LABEL_NOISE.sub("", half_width(text))
    for variant, canonical in _LABEL_VARIANTS:
        bare = bare.replace(variant, canonical)
    return bare


def _number(text: str) -> str | None:
    """The number a cell shows, as plain digits, or None when it shows no number."""
    bare = half_width(text).strip().replace(" ", "")
    if not _NUMBER.match(bare):
        return None
    return bare.replace(",", "")


# ---------------------------------------------------------------------------------------------
# Title, year, agency, layout
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportHeading:
    """What a report says about itself: the agency of its title and the year it reports."""

    agency_name: str | None
    year: int | None


def report_heading(lines: Sequence[str]) -> ReportHeading:
    """The agency and year of the first line that is a report title ("某局2024年政府信息公开工作
    年度报告", or the agency on the line before "2024年…年度报告"); the year from the statistics
    period ("统计时段为2024年1月1日至2024年12月31日") when no title shows one.

    >>> report_heading(["首页 > 政务公开", "重庆市某局", "2024年政府信息公开工作年度报告"])
    ReportHeading(agency_name='重庆市某局', year=2024)
    >>> report_heading(["当前位置：首页 > 年报 重庆市某局2024年政府信息公开工作年度报告"]).agency_name
    '重庆市某局'
    >>> report_heading(["本报告中所列数据的统计时段为2023年1月1日至2023年12月31日。"])
    ReportHeading(agency_name=None, year=2023)
    """
    name: str | None = None
    year: int | None = None
    previous = ""
    for line in lines[:200]:
        text = line.strip()
        match = _TITLE.search(text)
        if match:
            year = int(half_width(match.group(1)))
            # The opening sentence quotes the title ("现正式公布《某局2024年…报告》") and a
            # page may glue its breadcrumbs before it ("当前位置：首页 > 年报 某局2024年…").
            chunks = re.split(r"[《“：，。]", text[: match.start()])[-1].split()
            before = chunks[-1].strip("《》“”\"'") if chunks else ""
            if not before and _looks_like_name(previous):
                before = re.sub(r"\s+", "", previous)
            name = before or None
            break
        if text:
            previous = text
    if year is None:
        for line in lines:
            period = _PERIOD.search(line)
            if period:
                year = int(half_width(period.group(1)))
                break
    return ReportHeading(name, year)


def _looks_like_name(text: str) -> bool:
    """Whether the line before a title is the agency's name, not a sentence or breadcrumbs."""
    bare = text.strip()
    return (
        2 <= len(bare) <= 60
        and not re.search(r"[。，；！？»]", bare)
        and not any(mark in bare for mark in (" > ", "首页", "当前位置", "您的位置"))
    )


# Cells only a statutory table has (a page's layout table holds whole paragraphs instead).
_TABLE_MARKS = frozenset(
    label_key(text) for text in ("信息内容", "申请人情况", "自然人", "行政复议", "行政诉讼")
)


def is_statutory_grid(grid: Sequence[Sequence[str]]) -> bool:
    """Whether a table grid is one of the report's statutory tables (by the labels only they
    print), rather than a page's layout, navigation or footer table.

    >>> is_statutory_grid([["第二十条第（一）项"], ["信息内容", "本年制发件数"]])
    True
    >>> is_statutory_grid([["首页", "政务公开"], ["2024年政府信息公开工作年度报告……"]])
    False
    """
    for row in grid:
        for text in row:
            key = label_key(text)
            if key in _TABLE_MARKS or (key.startswith("第二十条第") and len(key) <= 12):
                return True
    return False


def is_pre_2021_layout(texts: Sequence[str]) -> bool:
    """Whether a report follows the layout of 2019–2020 rather than the 2021 format: a
    政府集中采购 block, the old columns of table 二, or （六）其他处理 as a single row.

    >>> is_pre_2021_layout(["第二十条第（九）项", "政府集中采购", "采购总金额"])
    True
    >>> is_pre_2021_layout(["（六）其他处理", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"])
    False
    """
    joined = label_key("".join(texts))
    if any(mark in joined for mark in _PRE_2021_MARKS):
        return True
    return _OTHER_GROUP in joined and not any(item in joined for item in _OTHER_ITEMS_2021)


# ---------------------------------------------------------------------------------------------
# The statutory tables from text rows
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    section: str
    row: str
    label: str  # as printed, for messages
    keys: tuple[str, ...]  # label_key of each accepted wording
    columns: tuple[tuple[str, str], ...]


def _expected_rows() -> tuple[_Row, ...]:
    rows = [
        _Row(
            "proactive",
            row,
            label,
            (label_key(label), label_key(label.removeprefix("行政"))),
            tuple(columns),
        )
        for row, label, _, columns in PROACTIVE_ROWS
    ]
    outcome_prefix = REQUEST_ROWS[2][1].split(" ")[0] + " "
    for row, label in REQUEST_ROWS:
        printed = label.removeprefix(outcome_prefix)
        if " " in printed:  # "（三）不予公开 1.属于国家秘密": the item is what the row prints
            printed = outcome_item_label(row)
        rows.append(_Row("requests", row, printed, (label_key(printed),), REQUEST_COLUMNS))
    return tuple(rows)


_ROWS = _expected_rows()
_APPEALS_VALUES = len(APPEALS_ROWS) * len(APPEALS_COLUMNS)


def _table_name(section: str) -> str:
    return f"表“{SECTION_TITLES[section]}”"


def _match_end(buffer: str, row: _Row) -> int:
    """Where in ``buffer`` the row's label ends (its last occurrence), or -1."""
    end = -1
    for key in row.keys:
        if not key:
            continue
        if key in buffer:
            end = max(end, buffer.rindex(key) + len(key))
        elif len(key) > _PREFIX_CHARS and key[:_PREFIX_CHARS] in buffer:
            # Only the label's beginning: the rest follows the numbers, or is mixed with a
            # group label printed beside it; little else may stand before the numbers.
            for length in range(len(key) - 1, _PREFIX_CHARS - 1, -1):
                if key[:length] in buffer:
                    tail = buffer[buffer.rindex(key[:length]) + length :]
                    if _foreign_chars(tail, key[length:]) <= _MAX_FOREIGN_CHARS:
                        end = max(end, len(buffer))
                    break
    return end


def _foreign_chars(tail: str, rest: str) -> int:
    """How many characters of ``tail`` are not the label's ``rest`` read in order (a group
    label such as "处理" printed between the lines of an item's label)."""
    matched = foreign = 0
    for char in tail:
        if matched < len(rest) and char == rest[matched]:
            matched += 1
        else:
            foreign += 1
    return foreign


@dataclass
class _Token:
    text: str
    number: str | None
    blank: bool


class _TableReader:
    def __init__(self, source: str, keep_blanks: bool) -> None:
        self.source = source
        self.keep_blanks = keep_blanks
        self.cells: list[tuple[str, str, str, Decimal]] = []
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        self.problems.append(f"{self.source}：{message}")

    def store(self, section: str, row: str, column: str, token: _Token, where: str) -> bool:
        if token.blank:
            self.cells.append((section, row, column, Decimal(0)))
            return True
        number = token.number or ""
        whole, _, decimals = number.lstrip("-").partition(".")
        if len(whole.lstrip("0")) > _MAX_INTEGER_DIGITS or len(decimals) > _MAX_DECIMALS:
            self.problem(f"{where}的值“{token.text[:30]}”超出可记录的范围（too large）")
            return False
        self.cells.append((section, row, column, Decimal(number)))
        return True


def _runs(rows: Rows, keep_blanks: bool):
    """(text before, value tokens, what ended the run) for each run of numbers/blanks.

    Text accumulates across rows until a run of values follows it; a run ends at a word or,
    when ``keep_blanks`` (the rows are a table's real rows), at the end of its row.
    """
    buffer: list[str] = []
    run: list[_Token] = []
    for cells in rows:
        for text in cells:
            number = _number(text)
            blank = not half_width(text).strip()
            if blank and not keep_blanks:
                continue
            if number is not None or blank:
                run.append(_Token(text.strip(), number, blank))
                continue
            if any(not t.blank for t in run) or (run and buffer):
                yield buffer, run, text
                buffer = []
            run = []
            buffer.append(text)
        if keep_blanks and run:
            yield buffer, run, None
            if any(not t.blank for t in run) or buffer:
                buffer = []
            run = []
    if run:
        yield buffer, run, None


def _text_after(texts: list[str], keys: list[str], end: int) -> str:
    """The text printed right after the label ending at ``end`` of the joined ``keys``."""
    at = 0
    for text, key in zip(texts, keys, strict=True):
        if at >= end and key:
            return text.strip()
        at += len(key)
    return ""


def _section_start(rows: Rows) -> int:
    """Where table 二 begins: its part's heading, else its first clause band; part 一's
    sentences before it carry numbers of their own."""
    keys = [[label_key(text) for text in cells] for cells in rows]
    for marks in (lambda key: key.startswith(_PART_TWO), lambda key: key.startswith("第二十条第")):
        for index, cells in enumerate(keys):
            if any(marks(key) for key in cells):
                return index
    return 0


def cells_from_text_rows(
    rows: Rows, source: str, *, keep_blanks: bool = True
) -> tuple[pl.DataFrame, list[str]]:
    """The cells of tables 二, 三 and 四 in a report's text rows, and the problems met, each
    naming ``source``, the table and the row.

    ``rows``: each row's cell texts in reading order (a paragraph is a row of one cell). With
    ``keep_blanks`` an empty cell inside a row is a cell printed empty (0); without it empty
    texts are ignored and every value must be printed.

    Examples
    --------
    >>> frame, problems = cells_from_text_rows([["行政许可", "1,322"]], "r.txt")
    >>> frame.filter(row="licensing")["value"].to_list()
    [Decimal('1322.0000')]
    """
    reader = _TableReader(source, keep_blanks)
    start = _section_start(rows)
    body = rows[start:]
    next_row = 0
    found: set[int] = set()
    appeals_seen: list[int] = []
    appeals_done = False
    in_part_four = False
    damaged: dict[int, str] = {}
    for texts, run, ended_by in _runs(body, keep_blanks):
        keys = [label_key(text) for text in texts]
        buffer = "".join(keys)
        if _PART_FIVE in buffer and (in_part_four or next_row >= len(_ROWS)):
            break
        if _PART_FOUR in buffer:
            in_part_four = True
        # The row whose label stands nearest before the numbers (the first row on a tie).
        ends = [(_match_end(buffer, _ROWS[j]), -j) for j in range(next_row, len(_ROWS))]
        best = max(ends, default=(-1, 0))
        index = -best[1] if best[0] >= 0 else None
        if index is not None and not (in_part_four and _ROWS[index].section == "requests"):
            for skipped in range(next_row, index):
                end = ends[skipped - next_row][0]
                if end >= 0:  # its label is there, but a word follows it, not its numbers
                    damaged[skipped] = _text_after(texts, keys, end)
            row = _ROWS[index]
            next_row = index + 1
            found.add(index)
            _take_row(reader, row, run, ended_by)
            continue
        values = _trim(run, _APPEALS_VALUES)
        # A row of 15 empty cells is table 四 all 0 only where the row's cells are known.
        printed = any(not t.blank for t in values) or (
            keep_blanks and len(values) == _APPEALS_VALUES
        )
        if not appeals_done and (in_part_four or next_row >= len(_ROWS) - 1) and printed:
            if len(values) == _APPEALS_VALUES:
                appeals_done = True
                for block, (row, row_label) in enumerate(APPEALS_ROWS):
                    for i, (column, column_label) in enumerate(APPEALS_COLUMNS):
                        where = f"{_table_name('appeals')}“{row_label}”列“{column_label}”"
                        token = values[block * len(APPEALS_COLUMNS) + i]
                        reader.store("appeals", row, column, token, where)
            else:
                appeals_seen.append(len(values))
    for index, row in enumerate(_ROWS):
        if index in damaged:
            reader.problem(
                f"{_table_name(row.section)}行“{row.label}”的值“{damaged[index][:30]}”不是数字"
                "（not a number）"
            )
        elif index not in found:
            reader.problem(f"{_table_name(row.section)}缺少行“{row.label}”（row missing）")
    if not appeals_done:
        seen = f"，读到的数字行有{'、'.join(map(str, appeals_seen))}个数字" if appeals_seen else ""
        reader.problem(
            f"{_table_name('appeals')}应有一行{_APPEALS_VALUES}个数字（行政复议5个、行政诉讼10个）"
            f"{seen}（expected one row of {_APPEALS_VALUES} numbers）"
        )
    frame = pl.DataFrame(
        reader.cells,
        schema={"section": pl.String, "row": pl.String, "column": pl.String, "value": VALUE_DTYPE},
        orient="row",
    )
    return frame, reader.problems


def _trim(run: list[_Token], wanted: int) -> list[_Token]:
    # Blank cells after the last value (a row's trailing tabs) are no values of a full row.
    values = list(run)
    while len(values) > wanted and values[-1].blank:
        values.pop()
    return values


def _take_row(reader: _TableReader, row: _Row, run: list[_Token], ended_by: str | None) -> None:
    wanted = len(row.columns)
    values = _trim(run, wanted)
    where = f"{_table_name(row.section)}行“{row.label}”"
    if len(values) != wanted:
        why = (
            f"，其后是“{ended_by.strip()[:30]}”，不是数字（not a number）"
            if ended_by is not None and len(values) < wanted
            else ""
        )
        reader.problem(
            f"{where}应有{wanted}个数字，读到{len(values)}个{why}"
            f"（expected {wanted} numbers, found {len(values)}）"
        )
        return
    for (column, column_label), token in zip(row.columns, values, strict=True):
        reader.store(row.section, row.row, column, token, f"{where}列“{column_label}”")
