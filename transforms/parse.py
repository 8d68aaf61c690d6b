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
# A time with an explicit UTC offset (`Z`, `+00:00`, `+0800`, `+08`), as ISO 8601 exports write it.
_OFFSET_TIMESTAMP = (
    r"^(?P<day>\d{4}[-/.]\d{1,2}[-/.]\d{1,2})[Tt ](?P<clock>\d{1,2}:\d{2}(?::\d{2})?)(?:\.\d+)?"
    r"\s*(?:[Zz]|(?P<hours>[+-]\d{2}):?(?P<minutes>\d{2})?)$"
)
_ENDS_IN_OFFSET = r"[:：]\d{2}(?:[.．]\d+)?\s*(?:[Zz]|[+\-－]\d{2}(?:[:：]?\d{2})?)$"
# A comma separates thousands only where it groups digits by three: `12,34` is not 1,234 元.
_MONEY_FORMAT = r"^-?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d{1,2})?$"
# Amounts must stay below 10^12 元 (1 万亿元, beyond any fee an agency could collect): 分 then
# fit Int64 with room to sum 90,000 such values exactly, and anything larger is a typing or
# export error, not money.
MAX_YUAN_DIGITS = 12
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

    A time of day without an offset is Beijing time already, so the date is simply its calendar
    part; a time with an explicit offset (``2024-12-31T20:00:00Z``) is converted to Beijing time
    first.

    Examples
    --------
    >>> pl.select(parse_date(pl.lit("2024年3月5日"))).item()
    datetime.date(2024, 3, 5)
    >>> pl.select(parse_date(pl.lit("2024-12-31T20:00:00Z"))).item()
    datetime.date(2025, 1, 1)
    """
    stripped = text.str.strip_chars(_BLANKS)
    # One multi-pattern pass turns every accepted form into 2024-3-5[ time].
    day = stripped.str.replace_many(_DATE_FORMS, _DATE_FORMS_AS_ISO).str.extract(_DATE_FORMAT, 1)
    # A cheap look at the end first, so only text that ends in an offset pays for the full parse.
    ends_in_offset = stripped.str.contains(_ENDS_IN_OFFSET)
    stamp = (
        pl.when(ends_in_offset).then(to_half_width(stripped)).str.extract_groups(_OFFSET_TIMESTAMP)
    )
    return (
        pl.when(stamp.struct.field("day").is_not_null())
        .then(_beijing_date_of_offset_timestamp(stamp))
        .otherwise(day.str.strptime(pl.Date, "%Y-%m-%d", strict=False))
    )


def _beijing_date_of_offset_timestamp(stamp: pl.Expr) -> pl.Expr:
    """The Beijing date of the groups of ``_OFFSET_TIMESTAMP``; null if they are not a real time."""
    clock = stamp.struct.field("clock")
    seconds = pl.when(clock.str.count_matches(":") == 1).then(pl.lit(":00")).otherwise(pl.lit(""))
    # `Z` leaves the offset groups empty: UTC.
    hours = stamp.struct.field("hours").fill_null("+00")
    minutes = stamp.struct.field("minutes").fill_null("00")
    day = stamp.struct.field("day").str.replace_all(r"[/.]", "-")
    text = pl.concat_str(day, pl.lit(" "), clock, seconds, hours, pl.lit(":"), minutes)
    return (
        text.str.to_datetime("%Y-%m-%d %H:%M:%S%z", time_unit="us", strict=False)
        .dt.convert_time_zone(BEIJING)
        .dt.date()
    )


def beijing_date_from_unix(seconds: pl.Expr) -> pl.Expr:
    """The Beijing calendar date of a Unix timestamp in seconds (WeChat's ``create_time``).

    Null beyond ±10^11 s (about the year 5000): larger values would overflow in microseconds.
    """
    seconds = seconds.cast(pl.Int64, strict=False)
    return (
        pl.from_epoch(pl.when(seconds.is_between(-(10**11), 10**11)).then(seconds), time_unit="s")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(BEIJING)
        .dt.date()
    )


def _amount_in_yuan(text: pl.Expr) -> pl.Expr:
    """The amount as an exact decimal (any size), or null if the text is not an amount."""
    amount = to_half_width(clean_text(text)).str.replace_all(r"[\s¥￥元]", "")
    # Only well-formed text reaches the decimal parser, which would read `1e20` as a number.
    return (
        pl.when(amount.str.contains(_MONEY_FORMAT))
        .then(amount.str.replace_all(",", "", literal=True))
        .str.to_decimal(scale=2)
    )


def parse_yuan_as_fen(text: pl.Expr) -> pl.Expr:
    """An amount in 元 with at most two decimals as exact integer 分; null if not such an amount.

    A comma must group digits by three; amounts of 10^12 元 or more are out of range (null), so
    no input can overflow or raise.

    Examples
    --------
    >>> pl.select(parse_yuan_as_fen(pl.lit("-1,234.5"))).item()
    -123450
    >>> pl.select(parse_yuan_as_fen(pl.lit("12,34"))).item() is None
    True
    """
    yuan = _amount_in_yuan(text)
    in_range = yuan.abs() < pl.lit(10**MAX_YUAN_DIGITS, pl.Int64)
    return pl.when(in_range).then((yuan * 100).cast(pl.Int64, strict=False))


def yuan_out_of_range(text: pl.Expr) -> pl.Expr:
    """Whether the text is a well-formed amount too large for :func:`parse_yuan_as_fen`."""
    amount = to_half_width(clean_text(text)).str.replace_all(r"[\s¥￥元]", "")
    yuan = _amount_in_yuan(text)
    # The decimal parser gives null beyond 38 digits: those are out of range too.
    return amount.str.contains(_MONEY_FORMAT) & (
        yuan.is_null() | (yuan.abs() >= pl.lit(10**MAX_YUAN_DIGITS, pl.Int64))
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
