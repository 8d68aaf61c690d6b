"""Reading the text of upstream exports: dates, money, reason labels."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from transforms.parse import beijing_date_from_unix, normalize_label, parse_date, parse_yuan_as_fen
from transforms.sources import REASON_LABELS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2024-03-05", dt.date(2024, 3, 5), id="iso"),
        pytest.param("2024/3/5", dt.date(2024, 3, 5), id="slashes"),
        pytest.param("2024-03-05 14:20:00", dt.date(2024, 3, 5), id="with-time"),
        pytest.param("2024年3月5日", dt.date(2024, 3, 5), id="chinese"),
        pytest.param(" ２０２４－０３－０５ ", dt.date(2024, 3, 5), id="full-width-digits"),
        pytest.param("２０２４／３／５", dt.date(2024, 3, 5), id="full-width-slashes"),
        pytest.param("2024.3.5", dt.date(2024, 3, 5), id="dots"),
        pytest.param("2024-02-30", None, id="impossible-day"),
        pytest.param("二〇二四年三月", None, id="chinese-numerals"),
        pytest.param("", None, id="empty"),
    ],
)
def test_dates_in_every_listed_format(text: str, expected: dt.date | None) -> None:
    assert pl.DataFrame({"v": [text]}).select(parse_date(pl.col("v"))).item() == expected


def test_unix_time_takes_the_beijing_calendar_day() -> None:
    # 2023-12-31 16:20 UTC is 2024-01-01 00:20 in Beijing.
    stamp = int(dt.datetime(2023, 12, 31, 16, 20, tzinfo=dt.UTC).timestamp())
    day = pl.DataFrame({"t": [stamp]}).select(beijing_date_from_unix(pl.col("t"))).item()
    assert day == dt.date(2024, 1, 1)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        pytest.param("1234.56", 123456, id="two-decimals"),
        pytest.param("1,234.5", 123450, id="thousands-separator"),
        pytest.param("-50.00", -5000, id="refund"),
        pytest.param("￥12", 1200, id="currency-sign"),
        pytest.param("0.1", 10, id="one-decimal"),
        pytest.param("12.345", None, id="three-decimals-refused"),
        pytest.param("十元", None, id="words-refused"),
    ],
)
def test_yuan_amounts_become_exact_fen(text: str, fen: int | None) -> None:
    assert pl.DataFrame({"v": [text]}).select(parse_yuan_as_fen(pl.col("v"))).item() == fen


@pytest.mark.parametrize(
    ("label", "row"),
    [
        pytest.param("属于国家秘密", "withheld_state_secret", id="plain"),
        pytest.param(
            "3.危及“三安全一稳定”",
            "withheld_three_securities_one_stability",
            id="number-and-quotes",
        ),
        pytest.param(" 2、 重复申请 ", "not_processed_duplicate", id="chinese-comma-and-spaces"),
        pytest.param("其他法律和行政法规禁止公开", "withheld_law_prohibited", id="report-wording"),
        pytest.param("申请人撤回", "other_other", id="withdrawn"),
        pytest.param(
            "“3.危及“三安全一稳定”",
            "withheld_three_securities_one_stability",
            id="quote-before-number",
        ),
    ],
)
def test_reason_labels_match_tolerantly(label: str, row: str) -> None:
    normalized = pl.DataFrame({"v": [label]}).select(normalize_label(pl.col("v"))).item()
    assert REASON_LABELS[normalized] == row
