"""A rendered report read back (ReadDocument) maps to exactly the cells it was built from."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.demo.landing import AGENCY, build_demo_landing
from flows.io.ingest import ingest_and_compile
from tests.helpers import RUN_DATE
from transforms.document import (
    Document,
    Heading,
    Paragraph,
    ReadDocument,
    Table,
    cells_from_read,
    final_report,
)


def grid(table: Table) -> tuple[tuple[str, ...], ...]:
    """The table as a reader returns it: a merged region's text at its top-left, "" elsewhere."""
    rows = [[""] * table.n_cols for _ in range(table.n_rows)]
    for cell in table.cells:
        rows[cell.row][cell.col] = cell.text
    return tuple(tuple(row) for row in rows)


def read_back(doc: Document, edit=None) -> ReadDocument:
    grids = [grid(b) for b in doc.blocks if isinstance(b, Table)]
    if edit:
        grids = [[list(row) for row in g] for g in grids]
        edit(grids)
        grids = [tuple(tuple(row) for row in g) for g in grids]
    texts = tuple(b.text for b in doc.blocks if isinstance(b, Heading | Paragraph))
    return ReadDocument("report.docx", texts, tuple(grids), doc.title)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[pl.DataFrame, Document]:
    landing = build_demo_landing(tmp_path_factory.mktemp("demo") / "landing")
    cells, _ = ingest_and_compile(landing, 2024, RUN_DATE)
    cells = cells.filter(agency_id=AGENCY)
    doc = final_report(AGENCY, "重庆市綦江区城市管理局", 2024, cells)
    return cells, doc


def test_read_back_document_maps_to_exactly_its_cells(demo) -> None:
    cells, doc = demo
    read, problems = cells_from_read(read_back(doc))

    assert problems == []
    assert_frame_equal(read, cells.select("section", "row", "column", "value"))


def test_read_back_tolerates_line_breaks_full_width_digits_and_printed_wordings(demo) -> None:
    cells, doc = demo

    def hand_typed(grids) -> None:
        proactive, requests, appeals = grids
        proactive[6][1] = "１３２２"  # 行政许可, full-width digits
        requests[2][4] = "商业\n企业"
        requests[8][2] = "2.其他法律和行政法规禁止公开"  # as the reference report prints it
        requests[23][2] = requests[23][2].replace("不再处理", "不再受理")
        appeals[3][0] = "0 "

    read, problems = cells_from_read(read_back(doc, hand_typed))

    assert problems == []
    assert_frame_equal(read, cells.select("section", "row", "column", "value"))


def test_a_value_that_is_no_number_is_a_problem_naming_table_row_and_column(demo) -> None:
    _, doc = demo

    def slash(grids) -> None:
        grids[1][7][4] = "/"  # 不予公开 1.属于国家秘密, 商业企业

    read, problems = cells_from_read(read_back(doc, slash))

    assert problems == [
        "report.docx：表“三、收到和处理政府信息公开申请情况”行“三、本年度办理结果 （三）不予公开 "
        "1.属于国家秘密”列“商业企业”的值“/”不是数字（not a number）"
    ]
    assert read.filter(row="withheld_state_secret", column="commercial_enterprise").height == 0
    assert read.height == 204 - 1


def test_a_blank_value_and_a_missing_table_are_problems(demo) -> None:
    _, doc = demo
    read = read_back(doc, lambda grids: grids[0].__setitem__(13, ["行政事业性收费", "", "", ""]))
    without_appeals = ReadDocument(read.source, read.paragraphs, read.tables[:2])

    cells, problems = cells_from_read(without_appeals)

    assert problems == [
        "report.docx：表“二、主动公开政府信息情况”行“行政事业性收费”列“本年收费金额（单位：万元）”"
        "为空白，应填写数字（0 也须填写）（blank cell: write 0）",
        "report.docx：缺少表“四、政府信息公开行政复议、行政诉讼情况”（table missing）",
    ]
    assert cells.filter(section="appeals").height == 0


def test_channel_counts_come_from_part_one_sentence(demo) -> None:
    _, doc = demo
    read, _ = cells_from_read(read_back(doc))

    assert read.filter(section="channels").select("row", pl.col("value").cast(pl.Int64)).rows() == [
        ("website", 152),
        ("wechat:綦江城管", 60),
        ("wechat:綦江城管执法", 22),
        ("total", 234),
    ]


def test_something_that_is_no_report_raises() -> None:
    with pytest.raises(ValueError, match="not a report"):
        cells_from_read(ReadDocument("x.html", ("你好。",), ((("a", "b"),),)))
