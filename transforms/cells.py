"""The statutory cell dictionary: every cell key of 国办公开办函〔2021〕30号 with its Chinese labels.

This is the one home of the report's contract. Schemas, counting transforms, balancing rules,
validation suites and renderers all read the keys and labels from here.
"""

from __future__ import annotations

from enum import StrEnum

import polars as pl

SECTIONS = ("channels", "proactive", "requests", "appeals")
SECTION_TITLES = {
    "channels": "一、总体情况（主动公开信息条数）",
    "proactive": "二、主动公开政府信息情况",
    "requests": "三、收到和处理政府信息公开申请情况",
    "appeals": "四、政府信息公开行政复议、行政诉讼情况",
}


class Unit(StrEnum):
    """What a cell's value counts: it decides rounding, rendering and which checks apply."""

    COUNT = "count"  # a whole, non-negative number of items, decisions, requests or cases
    TEN_THOUSAND_YUAN = "万元"  # money, net of refunds, at the agency's 收费小数位


# 行政事业性收费: the one cell reported in money.
FEES_ROW = "fees"
FEES_COLUMN = "amount_10k_yuan"
# (section, row) of every row whose cells are money; every other cell is a count. Per row, not
# per cell, so a hand-filled report's stray column in a money row is judged as money too.
MONEY_ROWS = (("proactive", FEES_ROW),)

# Published value type: fees in 万元 carry up to four decimals, everything else is a whole count.
VALUE_DTYPE = pl.Decimal(18, 4)

# Section 二 主动公开政府信息情况: (row, row label, group, [(column, column label), ...]).
_DOCUMENT_COLUMNS = (
    ("issued", "本年制发件数"),
    ("repealed", "本年废止件数"),
    ("in_force", "现行有效件数"),
)
_DECISION_COLUMNS = (("decisions", "本年处理决定数量"),)
PROACTIVE_ROWS = (
    ("regulations", "规章", "第二十条第（一）项", _DOCUMENT_COLUMNS),
    ("normative_documents", "行政规范性文件", "第二十条第（一）项", _DOCUMENT_COLUMNS),
    ("licensing", "行政许可", "第二十条第（五）项", _DECISION_COLUMNS),
    ("penalty", "行政处罚", "第二十条第（六）项", _DECISION_COLUMNS),
    ("enforcement", "行政强制", "第二十条第（六）项", _DECISION_COLUMNS),
    (
        FEES_ROW,
        "行政事业性收费",
        "第二十条第（八）项",
        ((FEES_COLUMN, "本年收费金额（单位：万元）"),),
    ),
)

# Section 三: applicant columns, in the order of the statutory table.
APPLICANT_COLUMNS = (
    ("natural_person", "自然人"),
    ("commercial_enterprise", "商业企业"),
    ("research_institution", "科研机构"),
    ("public_interest_org", "社会公益组织"),
    ("legal_service_org", "法律服务机构"),
    ("other_org", "其他"),
)
REQUEST_COLUMNS = (*APPLICANT_COLUMNS, ("total", "总计"))

# The 21 outcome rows: (row, label, outcome group). Group order is the table's order.
OUTCOME_ROWS = (
    ("disclosed", "（一）予以公开", "disclosed"),
    (
        "partially_disclosed",
        "（二）部分公开（区分处理的，只计这一情形，不计其他情形）",
        "partially_disclosed",
    ),
    ("withheld_state_secret", "（三）不予公开 1.属于国家秘密", "withheld"),
    ("withheld_law_prohibited", "（三）不予公开 2.其他法律行政法规禁止公开", "withheld"),
    ("withheld_three_securities_one_stability", "（三）不予公开 3.危及“三安全一稳定”", "withheld"),
    ("withheld_third_party_rights", "（三）不予公开 4.保护第三方合法权益", "withheld"),
    ("withheld_internal_affairs", "（三）不予公开 5.属于三类内部事务信息", "withheld"),
    ("withheld_process_info", "（三）不予公开 6.属于四类过程性信息", "withheld"),
    ("withheld_enforcement_files", "（三）不予公开 7.属于行政执法案卷", "withheld"),
    ("withheld_administrative_query", "（三）不予公开 8.属于行政查询事项", "withheld"),
    ("unavailable_not_held", "（四）无法提供 1.本机关不掌握相关政府信息", "unavailable"),
    ("unavailable_needs_creation", "（四）无法提供 2.没有现成信息需要另行制作", "unavailable"),
    (
        "unavailable_unclear_after_correction",
        "（四）无法提供 3.补正后申请内容仍不明确",
        "unavailable",
    ),
    ("not_processed_petition_complaint", "（五）不予处理 1.信访举报投诉类申请", "not_processed"),
    ("not_processed_duplicate", "（五）不予处理 2.重复申请", "not_processed"),
    ("not_processed_publications", "（五）不予处理 3.要求提供公开出版物", "not_processed"),
    ("not_processed_mass_repeated", "（五）不予处理 4.无正当理由大量反复申请", "not_processed"),
    (
        "not_processed_confirm_reissue",
        "（五）不予处理 5.要求行政机关确认或重新出具已获取信息",
        "not_processed",
    ),
    (
        "other_no_correction",
        "（六）其他处理 1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
        "other",
    ),
    (
        "other_fee_unpaid",
        "（六）其他处理 2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
        "other",
    ),
    ("other_other", "（六）其他处理 3.其他", "other"),
)
OUTCOME_ROW_KEYS = tuple(row for row, _, _ in OUTCOME_ROWS)

# The printed table splits each outcome label into its group (a cell spanning the group's rows)
# and its numbered item: (group, group label, short name for sentences). The group label is the
# part of each OUTCOME_ROWS label before its space.
OUTCOME_GROUPS = (
    ("disclosed", "（一）予以公开", "予以公开"),
    ("partially_disclosed", OUTCOME_ROWS[1][1], "部分公开"),
    ("withheld", "（三）不予公开", "不予公开"),
    ("unavailable", "（四）无法提供", "无法提供"),
    ("not_processed", "（五）不予处理", "不予处理"),
    ("other", "（六）其他处理", "其他处理"),
)
OUTCOME_HEADER = "三、本年度办理结果"
OUTCOME_TOTAL_LABEL = "（七）总计"
# Header cells of table 三 that are no cell's label.
REQUESTS_NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
APPLICANT_HEADER = "申请人情况"
ORGANIZATION_HEADER = "法人或其他组织"
# Header cells of table 二 and 四 that are no cell's label.
PROACTIVE_CONTENT_HEADER = "信息内容"
APPEALS_REVIEW_LABEL = "行政复议"
APPEALS_LITIGATION_LABEL = "行政诉讼"


def outcome_item_label(row: str) -> str:
    """The label an outcome row prints beside its group cell: ``1.属于国家秘密``, or the group
    label itself for the groups of one row.

    Examples
    --------
    >>> outcome_item_label("withheld_state_secret"), outcome_item_label("disclosed")
    ('1.属于国家秘密', '（一）予以公开')
    """
    label = next(label for key, label, _ in OUTCOME_ROWS if key == row)
    return label.split(" ", 1)[-1]


REQUEST_ROWS = (
    ("new_received", "一、本年新收政府信息公开申请数量"),
    ("carried_over_from_last_year", "二、上年结转政府信息公开申请数量"),
    *((row, "三、本年度办理结果 " + label) for row, label, _ in OUTCOME_ROWS),
    ("outcome_total", "三、本年度办理结果 （七）总计"),
    ("carried_to_next_year", "四、结转下年度继续办理"),
)

APPEALS_ROWS = (
    ("review", "行政复议"),
    ("litigation_direct", "行政诉讼·未经复议直接起诉"),
    ("litigation_after_review", "行政诉讼·复议后起诉"),
)
APPEALS_COLUMNS = (
    ("upheld", "结果维持"),
    ("corrected", "结果纠正"),
    ("other", "其他结果"),
    ("pending", "尚未审结"),
    ("total", "总计"),
)

CHANNEL_WEBSITE = "政府网站"
CHANNEL_COLUMN = ("items", "条数")
# Row keys of section 一: the website, one row per WeChat account, then the total.
WEBSITE_ROW = "website"
WECHAT_ROW_PREFIX = "wechat:"
_WECHAT_LABEL = ("“", "”微信公众号")

CELL_KEY = ("section", "row", "column")
CELL_SCHEMA = pl.Schema(
    {
        "section": pl.String,
        "row": pl.String,
        "column": pl.String,
        "row_label": pl.String,
        "column_label": pl.String,
        "position": pl.UInt32,
    }
)

# The cells people look at first (a run's key-cells table in the Prefect UI), with the short
# names that table gives them.
HEADLINE_CELLS = (
    (("channels", "total", CHANNEL_COLUMN[0]), "主动公开条数"),
    (("proactive", "licensing", "decisions"), "行政许可"),
    (("proactive", "penalty", "decisions"), "行政处罚"),
    (("proactive", FEES_ROW, FEES_COLUMN), "收费（万元）"),
    (("requests", "new_received", "total"), "新收申请"),
    (("requests", "outcome_total", "total"), "办结"),
    (("requests", "carried_to_next_year", "total"), "结转下年"),
)


def _static_cell_tuples() -> list[tuple[str, str, str, str, str]]:
    cells = [
        ("proactive", row, column, row_label, column_label)
        for row, row_label, _, columns in PROACTIVE_ROWS
        for column, column_label in columns
    ]
    cells += [
        ("requests", row, column, row_label, column_label)
        for row, row_label in REQUEST_ROWS
        for column, column_label in REQUEST_COLUMNS
    ]
    cells += [
        ("appeals", row, column, row_label, column_label)
        for row, row_label in APPEALS_ROWS
        for column, column_label in APPEALS_COLUMNS
    ]
    return cells


def static_cells() -> pl.DataFrame:
    """Every cell key that does not depend on the agency (sections 二, 三, 四), in report order.

    Examples
    --------
    >>> static_cells().filter(section="requests").height
    175
    """
    cells = _static_cell_tuples()
    return pl.DataFrame(
        {
            "section": [c[0] for c in cells],
            "row": [c[1] for c in cells],
            "column": [c[2] for c in cells],
            "row_label": [c[3] for c in cells],
            "column_label": [c[4] for c in cells],
            "position": list(range(1000, 1000 + len(cells))),
        },
        schema=CELL_SCHEMA,
    )


def unit(section: str, row: str) -> Unit:
    """The unit of every cell of a row.

    Examples
    --------
    >>> unit("proactive", "fees"), unit("proactive", "licensing")
    (<Unit.TEN_THOUSAND_YUAN: '万元'>, <Unit.COUNT: 'count'>)
    """
    return Unit.TEN_THOUSAND_YUAN if (section, row) in MONEY_ROWS else Unit.COUNT


def is_money() -> pl.Expr:
    """True for the cells of a frame (``section``, ``row``) that are money, not counts."""
    return pl.any_horizontal(
        (pl.col("section") == section) & (pl.col("row") == row) for section, row in MONEY_ROWS
    )


def wechat_row(account: pl.Expr) -> pl.Expr:
    """Row key of a WeChat account's articles: ``wechat:<account>``."""
    return pl.lit(WECHAT_ROW_PREFIX) + account


def channel_row_key(channel: pl.Expr) -> pl.Expr:
    """Row key of a registry channel name: ``website`` for 政府网站, ``wechat:<account>`` otherwise."""
    return (
        pl.when(channel == CHANNEL_WEBSITE).then(pl.lit(WEBSITE_ROW)).otherwise(wechat_row(channel))
    )


def channel_row(channel: str) -> str:
    """:func:`channel_row_key` of one registry channel name.

    Examples
    --------
    >>> channel_row("政府网站"), channel_row("綦江城管")
    ('website', 'wechat:綦江城管')
    """
    return pl.select(channel_row_key(pl.lit(channel, pl.String))).item()


def channel_name(row: str) -> str:
    """The registry channel name of a section 一 row key: the inverse of :func:`channel_row`."""
    return CHANNEL_WEBSITE if row == WEBSITE_ROW else row.removeprefix(WECHAT_ROW_PREFIX)


def channel_name_key(row: pl.Expr) -> pl.Expr:
    """:func:`channel_name` of a column of row keys: the inverse of :func:`channel_row_key`."""
    return (
        pl.when(row == WEBSITE_ROW)
        .then(pl.lit(CHANNEL_WEBSITE))
        .otherwise(row.str.strip_prefix(WECHAT_ROW_PREFIX))
    )


def channel_row_label(channel: pl.Expr) -> pl.Expr:
    """Label of a registry channel as a report prints it: 政府网站 or “<account>”微信公众号."""
    opening, closing = _WECHAT_LABEL
    return (
        pl.when(channel == CHANNEL_WEBSITE)
        .then(channel)
        .otherwise(pl.lit(opening) + channel + pl.lit(closing))
    )


def channel_name_of_label(label: str) -> str:
    """The registry channel name a printed row label shows: the inverse of :func:`channel_row_label`."""
    opening, closing = _WECHAT_LABEL
    return label if label == CHANNEL_WEBSITE else label.removeprefix(opening).removesuffix(closing)


def channel_cells(agencies: pl.DataFrame) -> pl.DataFrame:
    """The section 一 cell keys of each agency: one row per registry channel plus ``total``.

    ``agencies`` needs ``agency_id`` and ``channels`` (a list of registry channel names).
    """
    per_channel = (
        agencies.select("agency_id", pl.col("channels").alias("channel"))
        .explode("channel")
        .drop_nulls("channel")
        .with_columns(position=pl.int_range(pl.len()).over("agency_id").cast(pl.UInt32))
        .select(
            "agency_id",
            section=pl.lit("channels"),
            row=channel_row_key(pl.col("channel")),
            column=pl.lit(CHANNEL_COLUMN[0]),
            row_label=channel_row_label(pl.col("channel")),
            column_label=pl.lit(CHANNEL_COLUMN[1]),
            position="position",
        )
    )
    totals = channel_total_cells(agencies).with_columns(position=pl.lit(999, pl.UInt32))
    return pl.concat([per_channel, totals])


def channel_total_cells(agencies: pl.DataFrame) -> pl.DataFrame:
    """The 合计 row of section 一 of each ``agency_id``, keys and labels."""
    return agencies.select(
        "agency_id",
        section=pl.lit("channels"),
        row=pl.lit("total"),
        column=pl.lit(CHANNEL_COLUMN[0]),
        row_label=pl.lit("合计"),
        column_label=pl.lit(CHANNEL_COLUMN[1]),
    )


def report_skeleton(agencies: pl.DataFrame) -> pl.DataFrame:
    """Every cell key of every agency's report, in report order: the frame all counts fill in."""
    static = agencies.select("agency_id").join(static_cells(), how="cross")
    return (
        pl.concat([channel_cells(agencies), static], how="vertical")
        .sort("agency_id", "position")
        .drop("position")
    )
