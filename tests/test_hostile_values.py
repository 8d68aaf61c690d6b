"""Hostile and ambiguous values inside readable files: each is read as users expect, or quarantined
(or warned about) with a reason; none crashes the run or is reinterpreted quietly."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

from tests.factories import agencies
from tests.helpers import REGISTRY_HEADER, RUN_DATE
from tests.test_balance import _set, _valid_cells
from transforms.balance import find_balance_violations
from transforms.normalize import QUOTED_MAX_CHARS, normalize_source
from transforms.sources import SOURCES


def _normalized(raw: dict, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Literal landing rows (every header of the source as text) through the normalizer.

    ``raw`` may give ``file`` and ``delivery`` per row; by default all rows are one file.
    """
    headers = SOURCES[source].headers
    rows = len(raw["row"])
    frame = pl.DataFrame(
        {
            "row": raw["row"],
            **{h: raw.get(h, [None] * rows) for h in headers},
            "file": raw.get("file", ["f.csv"] * rows),
            "delivery": raw.get("delivery", [0] * rows),
        },
        schema={
            "row": pl.UInt32,
            **dict.fromkeys(headers, pl.String),
            "file": pl.String,
            "delivery": pl.UInt32,
        },
    ).with_columns(
        agency_id=pl.lit("ag-a"), delivered_at=pl.lit(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    )
    records, quarantine = normalize_source(frame.lazy(), SOURCES[source], RUN_DATE)
    records, quarantine = pl.collect_all([records, quarantine])
    return records, quarantine


# --- 9a: the same key twice in one file -------------------------------------------------------


def test_key_twice_in_one_file_with_different_values_quarantines_every_copy() -> None:
    records, quarantine = _normalized(
        {
            "row": [2, 3, 4, 5, 6, 7, 8, 9, 10],
            "票据号": ["F1", "F2", "F1", "F3", "F3", "F4", "F4", "F4", "F5"],
            "缴款日期": [
                "2024-01-01",
                "2024-01-02",
                "2024-02-01",
                "2024-03-01",
                "2024/3/1",
                "2024-04-01",
                "2024-04-01",
                "2024-04-01",
                "2024-05-01",
            ],
            "金额（元）": ["10.00", "20.00", "10.00", "30", "30.00", "1", "2", "1", "x"],
        },
        "fees",
    )
    # F1: two dates for one receipt in one file, a contradiction; F3: the same values written
    # twice (the same day and amount in other forms), which changes nothing; F4: three copies,
    # one of them different; F5: unreadable, quarantined for its own reason only.
    assert sorted(records["receipt_no"].to_list()) == ["F2", "F3"]
    assert records.filter(receipt_no="F3")["amount_fen"].to_list() == [3000]
    assert dict(quarantine.filter(column="票据号").select("row", "reason").iter_rows()) == {
        2: "票据号 'F1' appears 2 times in this file with different values (rows 2 and 4)",
        4: "票据号 'F1' appears 2 times in this file with different values (rows 2 and 4)",
        7: "票据号 'F4' appears 3 times in this file with different values (rows 7, …, 9)",
        8: "票据号 'F4' appears 3 times in this file with different values (rows 7, …, 9)",
        9: "票据号 'F4' appears 3 times in this file with different values (rows 7, …, 9)",
    }
    assert quarantine.filter(column="金额（元）")["row"].to_list() == [10]


def test_unreadable_repeat_is_quarantined_for_its_own_reason_and_the_readable_copy_kept() -> None:
    records, quarantine = _normalized(
        {
            "row": [2, 3],
            "票据号": ["F1", "F1"],
            "缴款日期": ["2024-01-01", "2024-01-01"],
            "金额（元）": ["10.00", "12,34"],
        },
        "fees",
    )
    assert records.select("row", "amount_fen").rows() == [(2, 1000)]
    assert quarantine.select("row", "column").rows() == [(3, "金额（元）")]


def test_contradicting_repeats_in_a_newer_file_leave_the_older_record_standing() -> None:
    records, quarantine = _normalized(
        {
            "row": [2, 2, 3],
            "file": ["old.csv", "new.csv", "new.csv"],
            "delivery": [0, 1, 1],
            "申请编号": ["R1", "R1", "R1"],
            "收到日期": ["2024-01-02", "2024-01-03", "2024-01-04"],
            "申请人类型": ["自然人"] * 3,
        },
        "requests",
    )
    assert records.select("file", "received_on").rows() == [("old.csv", dt.date(2024, 1, 2))]
    assert quarantine.select("file", "row").sort("row").rows() == [("new.csv", 2), ("new.csv", 3)]


def test_a_newer_file_still_wins_over_an_older_one() -> None:
    records, quarantine = _normalized(
        {
            "row": [2, 2],
            "file": ["old.csv", "new.csv"],
            "delivery": [0, 1],
            "申请编号": ["R1", "R1"],
            "收到日期": ["2024-01-02", "2024-01-03"],
            "申请人类型": ["自然人"] * 2,
        },
        "requests",
    )
    assert quarantine.is_empty()
    assert records.select("file", "received_on").rows() == [("new.csv", dt.date(2024, 1, 3))]


# --- 9b and 12: amounts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fen", "reason"),
    [
        pytest.param("1,234", 123_400, None, id="thousands"),
        pytest.param("12,345.60", 1_234_560, None, id="thousands-with-cents"),
        pytest.param("１，２３４．５", 123_450, None, id="full-width-thousands"),
        pytest.param("200,000,000.00", 20_000_000_000, None, id="a-legal-2-yi-payment"),
        pytest.param("999999999999.99", 99_999_999_999_999, None, id="largest-in-range"),
        pytest.param("12,34", None, "not an amount in 元", id="comma-not-grouping-by-three"),
        pytest.param("1,2345", None, "not an amount in 元", id="comma-four-digits-after"),
        pytest.param("1234,567", None, "not an amount in 元", id="comma-four-digits-before"),
        pytest.param("99999999999999999", None, "amount out of range", id="too-large"),
        pytest.param("-1000000000000", None, "amount out of range", id="too-negative"),
        pytest.param(
            "100000000000000000000", None, "amount out of range", id="xlsx-1e20-as-digits"
        ),
        pytest.param("9" * 5000, None, "amount out of range", id="five-thousand-digits"),
        pytest.param("1e20", None, "scientific notation", id="xlsx-1e20-as-text"),
        pytest.param("1.5e3", None, "scientific notation", id="scientific-small"),
        pytest.param("1.23457E+15", None, "scientific notation", id="excel-csv-rounded"),
    ],
)
def test_amounts_are_read_exactly_or_quarantined_with_a_reason(
    text: str, fen: int | None, reason: str | None
) -> None:
    records, quarantine = _normalized(
        {"row": [2], "票据号": ["F1"], "缴款日期": ["2024-01-01"], "金额（元）": [text]}, "fees"
    )
    if fen is None:
        assert records.is_empty()
        # Quarantined values are capped (a value may have swallowed a whole file).
        shown = text if len(text) <= QUOTED_MAX_CHARS else text[:QUOTED_MAX_CHARS] + "…"
        assert quarantine.select("column", "value").rows() == [("金额（元）", shown)]
        assert reason in quarantine["reason"].item()
    else:
        assert quarantine.is_empty()
        assert records["amount_fen"].to_list() == [fen]


# --- 9c: timestamps with an offset ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        pytest.param("2024-12-31T20:00:00Z", dt.date(2025, 1, 1), id="utc-z"),
        pytest.param("2024-12-31T16:00:00+00:00", dt.date(2025, 1, 1), id="utc-colon"),
        pytest.param("2024-12-31 15:59:59+0000", dt.date(2024, 12, 31), id="utc-just-before"),
        pytest.param("2024-12-31T20:00:00.250Z", dt.date(2025, 1, 1), id="fraction"),
        pytest.param("2024-12-31T23:30:00+0800", dt.date(2024, 12, 31), id="beijing-offset"),
        pytest.param("2024-06-01T12:00:00-05:00", dt.date(2024, 6, 2), id="west-of-utc"),
        pytest.param("2024-12-31 20:00:00", dt.date(2024, 12, 31), id="naive-is-beijing"),
    ],
)
def test_timestamp_with_an_offset_is_dated_in_beijing(text: str, day: dt.date) -> None:
    records, quarantine = _normalized(
        {"row": [2], "行政许可决定文书号": ["L1"], "许可决定日期": [text]}, "licensing"
    )
    assert quarantine.is_empty()
    assert records["decided_on"].to_list() == [day]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2024-02-30", id="impossible-day"),
        pytest.param("99999-01-01", id="five-digit-year"),
        pytest.param("2024-12-31T25:00:00Z", id="hour-25-with-offset"),
        pytest.param("2" * 10_000, id="ten-thousand-digits"),
        pytest.param("2024-01-01" + "x" * 10_000, id="date-then-garbage"),
    ],
)
def test_hostile_dates_are_quarantined_as_not_a_date(text: str) -> None:
    records, quarantine = _normalized(
        {"row": [2], "行政许可决定文书号": ["L1"], "许可决定日期": [text]}, "licensing"
    )
    assert records.is_empty()
    assert quarantine["reason"].item().startswith("not a date")


@pytest.mark.parametrize(
    "seconds",
    [
        pytest.param("9223372036854775807", id="int64-max"),
        pytest.param("-9223372036854775808", id="int64-min"),
        pytest.param("99999999999999", id="year-248073"),
        pytest.param("100000000000000000000", id="1e20"),
    ],
)
def test_hostile_wechat_create_time_is_not_a_date(seconds: str) -> None:
    records, quarantine = _normalized(
        {"row": [1], "article_key": ["A:0"], "account": ["号"], "create_time": [seconds]}, "wechat"
    )
    assert records.is_empty()
    assert quarantine.select("column", "reason").rows() == [
        ("create_time", f"not a date: '{seconds}'")
    ]


# --- 9d: 办理结果 and 具体情形 of different groups ------------------------------------------


def _request(result: str, reasons: str) -> dict:
    return {
        "row": [2],
        "申请编号": ["R1"],
        "收到日期": ["2024-01-02"],
        "申请人类型": ["自然人"],
        "办结日期": ["2024-01-05"],
        "办理结果": [result],
        "具体情形": [reasons],
    }


@pytest.mark.parametrize(
    ("result", "reasons", "reason"),
    [
        pytest.param(
            "不予处理",
            "属于国家秘密",
            "办理结果 不予处理 contradicts 具体情形 '属于国家秘密': no item is a 不予处理 reason (found 不予公开)",
            id="not-processed-with-a-withheld-reason",
        ),
        pytest.param(
            "无法提供",
            "重复申请|属于国家秘密",
            "办理结果 无法提供 contradicts 具体情形 '重复申请|属于国家秘密': no item is a 无法提供 reason (found 不予处理/不予公开)",
            id="unavailable-with-two-other-groups",
        ),
        pytest.param(
            "予以公开",
            "属于国家秘密",
            "办理结果 予以公开 contradicts 具体情形 '属于国家秘密': refusal reasons (不予公开) but no item 予以公开 (a request disclosed in part is 部分公开)",
            id="disclosed-with-only-a-refusal",
        ),
    ],
)
def test_result_contradicting_its_reasons_is_quarantined(
    result: str, reasons: str, reason: str
) -> None:
    records, quarantine = _normalized(_request(result, reasons), "requests")
    assert records.is_empty()
    assert quarantine.select("column", "value", "reason").rows() == [("具体情形", reasons, reason)]


@pytest.mark.parametrize(
    ("result", "reasons"),
    [
        pytest.param(
            "不予公开", "属于国家秘密|本机关不掌握相关政府信息", id="own-group-and-another"
        ),
        pytest.param("部分公开", "重复申请|属于国家秘密", id="partial-with-any-groups"),
        pytest.param("予以公开", "予以公开|属于国家秘密", id="disclosed-item-and-refused-item"),
        pytest.param("其他处理", "申请人撤回", id="withdrawn"),
    ],
)
def test_result_with_a_reason_of_its_own_group_is_kept(result: str, reasons: str) -> None:
    records, quarantine = _normalized(_request(result, reasons), "requests")
    assert quarantine.is_empty()
    assert records.height == 1


# --- 9e: a net-negative fee total -------------------------------------------------------------


def test_negative_fee_total_is_a_warning_not_a_refusal() -> None:
    cells = _set(_valid_cells(), "proactive", "fees", "amount_10k_yuan", -1.99)
    found = find_balance_violations(cells.lazy(), agencies("ag-a").lazy())
    assert found.filter(rule="W3").select("severity", "cells", "actual").rows() == [
        ("warning", "proactive/fees/amount_10k_yuan", "-1.9900")
    ]
    assert found.filter(severity="error").is_empty()


# --- end to end: hostile fees do not stop the run -------------------------------------------

REGISTRY = REGISTRY_HEADER + "ag-a,测试局,,,政府网站,否,2\nag-b,测试委,,,政府网站,否,2\n"
FEES_HEADER = "票据号,收费项目,缴款日期,金额（元）\n"
BIG_FEE_RULE = "records.fees:column_values_to_be_between(amount_fen)"


def _write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    moment = dt.datetime(2025, 1, 10, tzinfo=dt.UTC).timestamp()
    os.utime(target, (moment, moment))


def test_hostile_fees_are_quarantined_or_warned_and_the_reports_published(
    compile_landing, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    _write(landing, "agencies.csv", REGISTRY)
    _write(
        landing,
        "ag-a/fees/2024.csv",
        FEES_HEADER + 'F1,占道费,2024-02-01,"12,300.00"\n'
        "F2,占道费,2024-03-01,99999999999999999\n"
        "F3,占道费,2024-03-02,100000000000000000000\n"
        'F4,占道费,2024-03-03,"12,34"\n'
        "F5,土地出让,2024-03-04,200000000.00\n",
    )
    _write(
        landing,
        "ag-b/fees/2024.csv",
        FEES_HEADER + "G1,占道费,2024-02-01,100.00\nG2,退费,2024-03-01,-20000.00\n",
    )

    result = compile_landing(landing, 2024)

    fees = result.cells.filter(row="fees").select("agency_id", pl.col("value").cast(pl.String))
    assert sorted(fees.rows()) == [("ag-a", "20001.2300"), ("ag-b", "-1.9900")]
    assert sorted(result.quarantine.select("file", "row", "reason").rows()) == [
        ("ag-a/fees/2024.csv", 3, "amount out of range (10^12 元 or more): '99999999999999999'"),
        (
            "ag-a/fees/2024.csv",
            4,
            "amount out of range (10^12 元 or more): '100000000000000000000'",
        ),
        ("ag-a/fees/2024.csv", 5, "not an amount in 元 with at most two decimals: '12,34'"),
    ]
    assert result.ok
    assert sorted({Path(uri).parent.name for uri in result.published if "report_cells" in uri}) == [
        "agency_id=ag-a",
        "agency_id=ag-b",
    ]
    # A real payment above 10,000 万元 is unusual, not impossible: a warning, not a refusal.
    warnings = result.violations.filter(pl.col("rule").is_in(["W3", BIG_FEE_RULE]))
    assert sorted(warnings.select("agency_id", "rule", "severity").rows()) == [
        ("ag-a", BIG_FEE_RULE, "warning"),
        ("ag-b", "W3", "warning"),
    ]
