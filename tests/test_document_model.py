"""The report's document model: statutory table layouts, the six parts, part 一 drafted from
the cells, placeholders, and the narrative file."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from flows.demo.landing import AGENCY, build_demo_landing
from flows.io.ingest import ingest_and_compile
from tests.helpers import RUN_DATE
from transforms.cells import VALUE_DTYPE, channel_cells, static_cells
from transforms.document import (
    PART_HEADINGS,
    Heading,
    Paragraph,
    Table,
    parse_narrative,
    part_one,
    report_document,
    statutory_tables,
)

PERIOD = "2024年1月1日至2024年12月31日"


def literal_cells(values: dict[tuple[str, str, str], str] | None = None) -> pl.DataFrame:
    """Every cell of a report of 政府网站 + “綦江城管”, zero except ``values``."""
    agencies = pl.DataFrame({"agency_id": ["ag-a"], "channels": [["政府网站", "綦江城管"]]})
    skeleton = pl.concat(
        [channel_cells(agencies).drop("agency_id", "position"), static_cells().drop("position")]
    )
    given = pl.DataFrame(
        [(*key, value) for key, value in (values or {}).items()],
        schema={name: pl.String for name in ("section", "row", "column", "given")},
        orient="row",
    )
    return (
        skeleton.join(given, on=["section", "row", "column"], how="left", maintain_order="left")
        .with_columns(value=pl.col("given").fill_null("0").cast(VALUE_DTYPE))
        .drop("given")
    )


def spans(table: Table) -> dict[str, tuple[int, int, int, int]]:
    """Each label cell's text → (row, col, rowspan, colspan)."""
    return {c.text: (c.row, c.col, c.rowspan, c.colspan) for c in table.cells if c.key is None}


def covered_once(table: Table) -> bool:
    seen = [
        (c.row + r, c.col + k)
        for c in table.cells
        for r in range(c.rowspan)
        for k in range(c.colspan)
    ]
    grid = {(r, k) for r in range(table.n_rows) for k in range(table.n_cols)}
    return len(seen) == len(set(seen)) and set(seen) == grid


def document(cells: pl.DataFrame, narrative=None, previous=None, status="final"):
    return report_document(
        {"agency_id": "ag-a", "agency_name": "测试局"},
        2024,
        status,
        PERIOD,
        cells,
        previous,
        narrative,
        2,
    )


def paragraphs(blocks) -> str:
    return "\n".join(b.text for b in blocks if isinstance(b, Paragraph))


def test_table_two_has_four_clause_blocks_each_with_band_and_header_row() -> None:
    cells = literal_cells({("proactive", "fees", "amount_10k_yuan"): "727.08"})
    proactive, _, _ = statutory_tables(cells, 2)

    assert (proactive.n_rows, proactive.n_cols) == (14, 4)
    assert covered_once(proactive)
    bands = [
        (c.row, c.text, c.colspan, c.header)
        for c in proactive.cells
        if c.text.startswith("第二十条")
    ]
    assert bands == [
        (0, "第二十条第（一）项", 4, True),
        (4, "第二十条第（五）项", 4, True),
        (7, "第二十条第（六）项", 4, True),
        (11, "第二十条第（八）项", 4, True),
    ]
    row_one = [c.text for c in proactive.cells if c.row == 1]
    assert row_one == ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"]
    decisions_header = [(c.text, c.colspan) for c in proactive.cells if c.row == 5]
    assert decisions_header == [("信息内容", 1), ("本年处理决定数量", 3)]
    assert [(c.text, c.colspan) for c in proactive.cells if c.row == 12] == [
        ("信息内容", 1),
        ("本年收费金额（单位：万元）", 3),
    ]
    fee = next(c for c in proactive.cells if c.key == ("proactive", "fees", "amount_10k_yuan"))
    assert (fee.row, fee.col, fee.colspan, fee.text) == (13, 1, 3, "727.08")
    assert [c.text for c in proactive.cells if c.row in (2, 3)] == [
        "规章",
        "0",
        "0",
        "0",
        "行政规范性文件",
        "0",
        "0",
        "0",
    ]


def test_table_three_has_the_statutory_header_and_row_spans() -> None:
    _, requests, _ = statutory_tables(literal_cells(), 2)
    s = spans(requests)

    assert (requests.n_rows, requests.n_cols, requests.header_rows) == (28, 10, 3)
    assert covered_once(requests)
    assert s["（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"] == (0, 0, 3, 3)
    assert s["申请人情况"] == (0, 3, 1, 7)
    assert s["自然人"] == (1, 3, 2, 1)
    assert s["法人或其他组织"] == (1, 4, 1, 5)
    assert s["总计"] == (1, 9, 2, 1)
    assert [c.text for c in requests.cells if c.row == 2] == [
        "商业企业",
        "科研机构",
        "社会公益组织",
        "法律服务机构",
        "其他",
    ]
    assert s["一、本年新收政府信息公开申请数量"] == (3, 0, 1, 3)
    assert s["二、上年结转政府信息公开申请数量"] == (4, 0, 1, 3)
    assert s["三、本年度办理结果"] == (5, 0, 22, 1)
    assert s["（一）予以公开"] == (5, 1, 1, 2)
    assert s["（二）部分公开（区分处理的，只计这一情形，不计其他情形）"] == (6, 1, 1, 2)
    assert s["（三）不予公开"] == (7, 1, 8, 1)
    assert s["1.属于国家秘密"] == (7, 2, 1, 1)
    assert s["8.属于行政查询事项"] == (14, 2, 1, 1)
    assert s["（四）无法提供"] == (15, 1, 3, 1)
    assert s["（五）不予处理"] == (18, 1, 5, 1)
    assert s["（六）其他处理"] == (23, 1, 3, 1)
    assert s["3.其他"] == (25, 2, 1, 1)
    assert s["（七）总计"] == (26, 1, 1, 2)
    assert s["四、结转下年度继续办理"] == (27, 0, 1, 3)
    assert all(c.header == (c.row < 3) for c in requests.cells)
    assert {c.key[1] for c in requests.cells if c.row == 26 and c.key} == {"outcome_total"}


def test_table_four_is_one_row_of_fifteen_under_review_and_litigation() -> None:
    cells = literal_cells({("appeals", "litigation_after_review", "total"): "3"})
    _, _, appeals = statutory_tables(cells, 2)
    s = spans(appeals)

    assert (appeals.n_rows, appeals.n_cols, appeals.header_rows) == (4, 15, 3)
    assert covered_once(appeals)
    assert s["行政复议"] == (0, 0, 1, 5)
    assert s["行政诉讼"] == (0, 5, 1, 10)
    assert s["未经复议直接起诉"] == (1, 5, 1, 5)
    assert s["复议后起诉"] == (1, 10, 1, 5)
    assert [(c.text, c.rowspan) for c in appeals.cells if c.row == 1 and c.col < 5] == [
        ("结果维持", 2),
        ("结果纠正", 2),
        ("其他结果", 2),
        ("尚未审结", 2),
        ("总计", 2),
    ]
    assert [c.text for c in appeals.cells if c.row == 2] == [
        "结果维持",
        "结果纠正",
        "其他结果",
        "尚未审结",
        "总计",
    ] * 2
    values = [c for c in appeals.cells if c.row == 3]
    assert [c.text for c in values] == ["0"] * 14 + ["3"]
    assert values[-1].key == ("appeals", "litigation_after_review", "total")


def test_numbers_print_whole_and_fees_at_the_agencys_decimals() -> None:
    cells = literal_cells(
        {
            ("proactive", "licensing", "decisions"): "1322",
            ("proactive", "fees", "amount_10k_yuan"): "5.1",
        }
    )
    by_key = {c.key: c.text for t in statutory_tables(cells, 3) for c in t.cells if c.key}

    assert by_key[("proactive", "licensing", "decisions")] == "1322"
    assert by_key[("proactive", "fees", "amount_10k_yuan")] == "5.100"
    assert by_key[("requests", "new_received", "total")] == "0"
    assert len(by_key) == 10 + 28 * 7 - 3 * 7 + 15  # every cell of 二, 三, 四 shown once


def test_document_has_the_six_parts_in_order_and_the_title() -> None:
    doc = document(literal_cells())

    parts = [b.text for b in doc.blocks if isinstance(b, Heading) and b.level == 1]
    assert parts == list(PART_HEADINGS)
    assert parts == [
        "一、总体情况",
        "二、主动公开政府信息情况",
        "三、收到和处理政府信息公开申请情况",
        "四、政府信息公开行政复议、行政诉讼情况",
        "五、存在的主要问题及改进情况",
        "六、其他需要报告的事项",
    ]
    assert doc.title == ("测试局", "2024年政府信息公开工作年度报告")
    tables = [b.section for b in doc.blocks if isinstance(b, Table)]
    assert tables == ["proactive", "requests", "appeals"]
    assert "统计时段为2024年1月1日至2024年12月31日" in doc.blocks[0].text


def test_provisional_report_says_so_in_its_title() -> None:
    doc = document(literal_cells(), status="provisional")
    assert len(doc.title) == 3 and "临时" in doc.title[2]


def test_without_narrative_every_written_part_is_a_listed_placeholder() -> None:
    doc = document(literal_cells())

    assert doc.placeholders == (
        "联系方式",
        "（三）政府信息管理情况",
        "（四）政府信息公开平台建设情况",
        "（五）监督保障情况",
        "五、存在的主要问题及改进情况",
        "六、其他需要报告的事项",
    )
    marked = [b for b in doc.blocks if isinstance(b, Paragraph) and b.placeholder]
    assert len(marked) == 6 and all(b.text.startswith("【待填写：") for b in marked)


def test_narrative_fills_its_parts_and_leaves_no_placeholder() -> None:
    narrative = parse_narrative(NARRATIVE, "ag-a/narrative/2024.md")
    doc = document(literal_cells(), narrative)

    assert doc.placeholders == ()
    text = paragraphs(doc.blocks)
    assert "本报告电子版可在测试局门户网站（www.example.gov.cn）查阅。" in text
    assert "请与测试局办公室（电话：023-12345678）联系" in text
    assert "一是严格落实审核制度。" in text and "无。" in text
    assert Heading("（一）存在的主要问题", 2) in doc.blocks
    body = doc.blocks
    assert body.index(Paragraph("本局年度工作开局良好。")) < body.index(
        Heading("（一）主动公开情况", 2)
    )


def test_part_one_states_the_channel_counts_documents_decisions_and_fees() -> None:
    cells = literal_cells(
        {
            ("channels", "website", "items"): "152",
            ("channels", "wechat:綦江城管", "items"): "60",
            ("channels", "total", "items"): "212",
            ("proactive", "normative_documents", "issued"): "3",
            ("proactive", "normative_documents", "repealed"): "1",
            ("proactive", "normative_documents", "in_force"): "12",
            ("proactive", "licensing", "decisions"): "1322",
            ("proactive", "penalty", "decisions"): "532",
            ("proactive", "fees", "amount_10k_yuan"): "727.08",
        }
    )
    text = paragraphs(part_one(cells, None, "测试局", 2024))

    assert (
        "2024年，测试局主动公开各类政府信息212条，其中，通过政府网站公开信息152条，“綦江城管”微信公众号公开信息60条。"
        in text
    )
    assert "制发行政规范性文件3件、废止1件，现行有效12件" in text
    assert "规章" not in text
    assert "作出行政许可决定1322件、行政处罚决定532件，未作出行政强制决定。" in text
    assert "行政事业性收费727.08万元" in text
    assert "较上年" not in text


def test_part_one_states_how_requests_were_answered_only_by_nonzero_groups() -> None:
    cells = literal_cells(
        {
            ("requests", "new_received", "total"): "5",
            ("requests", "carried_over_from_last_year", "total"): "1",
            ("requests", "disclosed", "total"): "3",
            ("requests", "withheld_state_secret", "total"): "1",
            ("requests", "outcome_total", "total"): "4",
            ("requests", "carried_to_next_year", "total"): "2",
        }
    )
    text = paragraphs(part_one(cells, None, "测试局", 2024))

    assert (
        "新收政府信息公开申请5件，上年结转1件。本年度办结4件，其中予以公开3件、不予公开1件。结转下年度继续办理2件。"
        in text
    )
    assert "部分公开" not in text and "未收到" not in text


def test_part_one_says_no_request_only_when_every_request_count_is_zero() -> None:
    assert "未收到政府信息公开申请" in paragraphs(part_one(literal_cells(), None, "测试局", 2024))
    carried = literal_cells({("requests", "carried_over_from_last_year", "total"): "1"})
    assert "未收到政府信息公开申请" not in paragraphs(part_one(carried, None, "测试局", 2024))


def test_part_one_states_the_change_from_last_year() -> None:
    cells = literal_cells(
        {
            ("channels", "total", "items"): "234",
            ("proactive", "licensing", "decisions"): "100",
            ("proactive", "fees", "amount_10k_yuan"): "5",
            ("requests", "new_received", "total"): "2",
        }
    )
    previous = literal_cells(
        {
            ("channels", "total", "items"): "222",
            ("proactive", "licensing", "decisions"): "150",
            ("proactive", "fees", "amount_10k_yuan"): "5",
            ("requests", "new_received", "total"): "2",
        }
    )
    text = paragraphs(part_one(cells, previous, "测试局", 2024))

    assert "主动公开各类政府信息234条（较上年增加12条）" in text
    assert "行政许可决定100件（较上年减少50件）" in text
    assert "行政事业性收费5.00万元（与上年持平）" in text
    assert "新收政府信息公开申请2件（与上年持平）" in text


def test_part_one_sentences_are_deterministic() -> None:
    cells = literal_cells(
        {("channels", "website", "items"): "7", ("channels", "total", "items"): "7"}
    )
    assert part_one(cells, cells, "测试局", 2024) == part_one(cells.clone(), cells, "测试局", 2024)


NARRATIVE = """\ufeff# 一、总体情况
本局年度工作开局良好。

## （三）政府信息管理情况
一是严格落实审核制度。
二是加强队伍建设。

## 政府信息公开平台建设情况。
平台包括官方网站。

## (五) 监督保障情况
压实工作责任。

# 五、存在的主要问题及改进情况
## （一）存在的主要问题
主动公开效率有待提升。
## （二）改进情况
强化队伍建设。

# 六、其他需要报告的事项
无。

# 联系方式
电子版：测试局门户网站（www.example.gov.cn）
联系：测试局办公室（电话：023-12345678）
"""


def test_narrative_is_read_by_part_with_or_without_numbering() -> None:
    n = parse_narrative(NARRATIVE, "ag-a/narrative/2024.md")

    assert n.intro == ("本局年度工作开局良好。",)
    assert n.subsections == {
        "management": ("一是严格落实审核制度。二是加强队伍建设。",),
        "platform": ("平台包括官方网站。",),
        "oversight": ("压实工作责任。",),
    }
    assert n.problems == (
        Heading("（一）存在的主要问题", 2),
        Paragraph("主动公开效率有待提升。"),
        Heading("（二）改进情况", 2),
        Paragraph("强化队伍建设。"),
    )
    assert n.other_matters == (Paragraph("无。"),)
    assert n.electronic_version == "测试局门户网站（www.example.gov.cn）"
    assert n.contact == "测试局办公室（电话：023-12345678）"
    assert n.warnings == ()


def test_narrative_unknown_heading_is_ignored_with_a_warning_naming_file_and_line() -> None:
    text = "# 一、总体情况\n引言。\n\n# 七、附件\n不该出现。\n\n# 六、其他需要报告的事项\n无。\n"
    n = parse_narrative(text, "ag-a/narrative/2024.md")

    assert n.intro == ("引言。",)
    assert n.other_matters == (Paragraph("无。"),)
    assert "不该出现。" not in repr(n)
    assert len(n.warnings) == 1
    assert (
        n.warnings[0].startswith("ag-a/narrative/2024.md 第4行：") and "七、附件" in n.warnings[0]
    )


def test_narrative_text_before_any_heading_and_bad_contact_lines_warn() -> None:
    n = parse_narrative("开头的字。\n# 联系方式\n随便写写\n", "n.md")
    assert [w.split("：")[0] for w in n.warnings] == ["n.md 第1行", "n.md 第3行"]
    assert n.contact is None and n.intro == ()


@pytest.fixture(scope="module")
def demo_cells(tmp_path_factory) -> pl.DataFrame:
    landing = build_demo_landing(tmp_path_factory.mktemp("demo") / "landing")
    cells, _ = ingest_and_compile(landing, 2024, RUN_DATE)
    return cells.filter(agency_id=AGENCY)


def test_demo_document_shows_the_reference_reports_numbers(demo_cells: pl.DataFrame) -> None:
    doc = report_document(
        {"agency_id": AGENCY, "agency_name": "重庆市綦江区城市管理局"},
        2024,
        "final",
        PERIOD,
        demo_cells,
        None,
        None,
        2,
    )
    text = paragraphs(doc.blocks)
    values = {c.key: c.text for b in doc.blocks if isinstance(b, Table) for c in b.cells if c.key}

    assert (
        "主动公开各类政府信息234条，其中，通过政府网站公开信息152条，“綦江城管”微信公众号公开信息60条，"
        "“綦江城管执法”微信公众号公开信息22条。" in text
    )
    assert "新收政府信息公开申请1件。本年度办结1件，其中予以公开1件。" in text
    assert values[("proactive", "licensing", "decisions")] == "1322"
    assert values[("proactive", "penalty", "decisions")] == "532"
    assert values[("proactive", "fees", "amount_10k_yuan")] == "727.08"
    assert values[("requests", "new_received", "natural_person")] == "1"
    assert demo_cells.filter(row="fees")["value"].item() == Decimal("727.08")
