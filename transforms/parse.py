"""Expressions that turn the text of upstream exports into typed values.

Each parser returns null where the text cannot be read; the normalizer turns "text present but
parsed null" into a quarantine reason, so no parser raises and no row is silently dropped.
"""

from __future__ import annotations

import polars as pl

BEIJING = "Asia/Shanghai"

# Excel on Chinese Windows and hand-typed cells bring full-width digits and punctuation.
_FULL_WIDTH = [chr(0xFF10 + i) for i in range(10)] + ["．", "－", "／", "，", "：", "\u3000"]
_HALF_WIDTH = [str(i) for i in range(10)] + [".", "-", "/", ",", ":", " "]

_BLANKS = " \t\r\n\u3000\ufeff"
_DATE_FORMS = [*_FULL_WIDTH[:10], "年", "月", "日", "/", ".", "－", "／", "．", "T", "\u3000"]
_DATE_FORMS_AS_ISO = [*_HALF_WIDTH[:10], "-", "-", "", "-", "-", "-", "-", "-", " ", " "]
_DATE_FORMAT = r"^(\d{4}-\d{1,2}-\d{1,2})(?:\s|$)"
_MONEY_FORMAT = r"^-?\d+(\.\d{1,2})?$"
LABEL_NOISE = r"[\s“”\"'‘’「」『』《》〈〉·,，、。;；:：()（）\-]"
# "3.", "3、", "（三）", "(3)": the number a hand-typed reason may carry before its label.
_LABEL_NUMBER_PREFIX = r"^[（(]?[0-9一二三四五六七八九十]{1,2}[)）]?[.、．]?"


def to_half_width(text: pl.Expr) -> pl.Expr:
    """Full-width digits and separators as their ASCII forms."""
    return text.str.replace_many(_FULL_WIDTH, _HALF_WIDTH)


def clean_text(text: pl.Expr) -> pl.Expr:
    """Text with surrounding blanks (full-width and BOM too) removed; an empty cell becomes null."""
    stripped = text.str.strip_chars(_BLANKS)
    return pl.when(stripped.str.len_bytes() > 0).then(stripped)


def parse_date(text: pl.Expr) -> pl.Expr:
    """A calendar date from ``2024-03-05``, ``2024/3/5``, ``2024-03-05 14:20:00`` or ``2024年3月5日``.

    A time of day is Beijing time already, so the date is simply its calendar part.

    Examples
    --------
    >>> pl.select(parse_date(pl.lit("2024年3月5日"))).item()
    datetime.date(2024, 3, 5)
    """
    # One multi-pattern pass turns every accepted form into 2024-3-5[ time].
    day = (
        text.str.strip_chars(_BLANKS)
        .str.replace_many(_DATE_FORMS, _DATE_FORMS_AS_ISO)
        .str.extract(_DATE_FORMAT, 1)
    )
    return day.str.strptime(pl.Date, "%Y-%m-%d", strict=False)


def beijing_date_from_unix(seconds: pl.Expr) -> pl.Expr:
    """The Beijing calendar date of a Unix timestamp in seconds (WeChat's ``create_time``)."""
    return (
        pl.from_epoch(seconds.cast(pl.Int64), time_unit="s")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(BEIJING)
        .dt.date()
    )


def parse_yuan_as_fen(text: pl.Expr) -> pl.Expr:
    """An amount in 元 with at most two decimals as exact integer 分; null if not such an amount.

    Examples
    --------
    >>> pl.select(parse_yuan_as_fen(pl.lit("-1,234.5"))).item()
    -123450
    """
    amount = to_half_width(clean_text(text)).str.replace_all(r"[,\s¥￥元]", "")
    return pl.when(amount.str.contains(_MONEY_FORMAT)).then(
        (amount.str.to_decimal(scale=2) * 100).cast(pl.Int64)
    )


def normalize_label(text: pl.Expr) -> pl.Expr:
    """A reason label reduced for matching: no quote marks, spaces, punctuation or number prefix.

    Examples
    --------
    >>> pl.select(normalize_label(pl.lit("3.危及“三安全一稳定”"))).item()
    '危及三安全一稳定'
    """
    # Quotes and spaces go first, so a number behind an opening quote is still a prefix.
    bare = to_half_width(text).str.replace_all(r"[\s“”\"'‘’「」『』《》〈〉]", "")
    return bare.str.replace(_LABEL_NUMBER_PREFIX, "").str.replace_all(LABEL_NOISE, "")
