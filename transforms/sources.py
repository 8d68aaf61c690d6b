"""The nine landing sources: their Chinese headers, categories and normalized record schemas.

Declared once here, as data. The readers use the headers, the normalizer the field kinds, the
warehouse the record schemas, the counting transforms the Enums.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl

from transforms.cells import APPLICANT_COLUMNS, OUTCOME_ROWS
from transforms.parse import LABEL_NOISE


class Kind(StrEnum):
    KEY = "key"
    TEXT = "text"
    DATE = "date"
    CATEGORY = "category"
    YUAN = "yuan"
    REASONS = "reasons"
    UNIX_TIME = "unix_time"
    FLAG = "flag"


@dataclass(frozen=True)
class Field:
    """One column of a landing file and the normalized column it becomes."""

    header: str
    name: str
    kind: Kind
    # The column must be in the file's header, or the whole file is rejected.
    column_required: bool = True
    # Each row must carry a value, or the row is quarantined.
    value_required: bool = True
    # For CATEGORY: the Chinese value as exported → the normalized key.
    categories: dict[str, str] = field(default_factory=dict)

    @property
    def dtype(self) -> pl.DataType:
        return {
            Kind.KEY: pl.String(),
            Kind.TEXT: pl.String(),
            Kind.DATE: pl.Date(),
            Kind.UNIX_TIME: pl.Date(),
            Kind.YUAN: pl.Int64(),
            Kind.FLAG: pl.Boolean(),
            Kind.REASONS: pl.List(pl.Enum(REASON_KEYS)),
        }.get(self.kind) or pl.Enum(list(dict.fromkeys(self.categories.values())))


@dataclass(frozen=True)
class Source:
    """A landing source: its folder name, its fields, and the field that keys a record."""

    name: str
    fields: tuple[Field, ...]
    # Fields that, with the key, identify a record within an agency: a key that upstream systems
    # only keep unique within one of them (a WeChat article id, per account).
    key_scope: tuple[str, ...] = ()

    @property
    def key(self) -> Field:
        return next(f for f in self.fields if f.kind is Kind.KEY)

    @property
    def identity(self) -> list[str]:
        """The columns one record of an agency is unique on: the key's scope, then the key."""
        return [*self.key_scope, self.key.name]

    @property
    def required_headers(self) -> list[str]:
        return [f.header for f in self.fields if f.column_required]

    @property
    def headers(self) -> list[str]:
        return [f.header for f in self.fields]

    @property
    def record_schema(self) -> pl.Schema:
        """Normalized record columns: lineage first, then the source's own fields."""
        return pl.Schema(
            {**LINEAGE_SCHEMA, **{f.name: f.dtype for f in self.fields}},
        )


LINEAGE_SCHEMA = pl.Schema(
    {
        "agency_id": pl.Categorical(),
        "file": pl.String(),
        "row": pl.UInt32(),
        "delivered_at": pl.Datetime("us", "UTC"),
    }
)

# What a reader attaches to each landing row; ``delivery`` is the file's place in the delivery
# order of one read (modification time, then name), which the newest-delivery rule sorts on.
RAW_LINEAGE_SCHEMA = pl.Schema(
    {**LINEAGE_SCHEMA, "agency_id": pl.String(), "delivery": pl.UInt32()}
)

APPLICANT_TYPES = {label: key for key, label in APPLICANT_COLUMNS}

REQUEST_RESULTS = {
    "予以公开": "disclosed",
    "部分公开": "partially_disclosed",
    "不予公开": "withheld",
    "无法提供": "unavailable",
    "不予处理": "not_processed",
    "其他处理": "other",
}

# 具体情形 labels (normalized as transforms.parse.normalize_label does) → outcome row.
# The first label of each row is the statutory one; later ones are wordings seen in real
# registers and reports (the 2021 form's own footnotes say 受理 where the table says 处理).
_REASON_ALIASES: dict[str, tuple[str, ...]] = {
    "withheld_law_prohibited": ("其他法律和行政法规禁止公开",),
    "other_no_correction": ("申请人无正当理由逾期不补正行政机关不再受理其政府信息公开申请",),
    "other_fee_unpaid": ("申请人逾期未按收费通知要求缴纳费用行政机关不再受理其政府信息公开申请",),
    "other_other": ("申请人撤回", "撤回申请", "撤回"),
}
DISCLOSED_REASON = "disclosed_item"


def _reason_labels() -> dict[str, str]:
    labels: dict[str, str] = {"予以公开": DISCLOSED_REASON, "公开": DISCLOSED_REASON}
    for row, label, group in OUTCOME_ROWS:
        if group in {"disclosed", "partially_disclosed"}:
            continue
        statutory = re.sub(LABEL_NOISE, "", label.split(".", 1)[1])
        labels[statutory] = row
        for alias in _REASON_ALIASES.get(row, ()):
            labels[alias] = row
    return labels


REASON_LABELS = _reason_labels()
REASON_KEYS = tuple(dict.fromkeys(REASON_LABELS.values()))

_OPTIONAL = dict(column_required=False, value_required=False)

WEBSITE = Source(
    "website",
    (
        Field("索引号", "item_id", Kind.KEY),
        Field("标题", "title", Kind.TEXT, **_OPTIONAL),
        Field("发布日期", "published_on", Kind.DATE),
        Field(
            "公开方式",
            "disclosure",
            Kind.CATEGORY,
            categories={
                "主动公开": "proactive",
                "依申请公开": "on_request",
                "不予公开": "withheld",
            },
        ),
        Field(
            "状态",
            "state",
            Kind.CATEGORY,
            categories={"已发布": "published", "已撤回": "withdrawn"},
        ),
    ),
)

# WeChat fields are named after the JSON of freepublish/batchget, not a spreadsheet header.
# An article is its account's: export tools number article ids per account, so two accounts of
# one agency may deliver the same article_id for different articles.
WECHAT = Source(
    "wechat",
    (
        Field("article_key", "article_key", Kind.KEY),
        Field("account", "account", Kind.TEXT),
        Field("title", "title", Kind.TEXT, value_required=False),
        Field("create_time", "published_on", Kind.UNIX_TIME),
        Field("is_deleted", "is_deleted", Kind.FLAG, value_required=False),
    ),
    key_scope=("account",),
)

DOCUMENTS = Source(
    "documents",
    (
        Field("文号", "document_no", Kind.KEY),
        Field("标题", "title", Kind.TEXT, **_OPTIONAL),
        Field(
            "文件类别",
            "category",
            Kind.CATEGORY,
            categories={"规章": "regulations", "行政规范性文件": "normative_documents"},
        ),
        Field("公布日期", "published_on", Kind.DATE),
        Field("废止日期", "repealed_on", Kind.DATE, value_required=False),
    ),
)

LICENSING = Source(
    "licensing",
    (
        Field("行政许可决定文书号", "decision_no", Kind.KEY),
        Field("许可决定日期", "decided_on", Kind.DATE),
    ),
)

PENALTY = Source(
    "penalty",
    (
        Field("行政处罚决定书文号", "decision_no", Kind.KEY),
        Field("处罚决定日期", "decided_on", Kind.DATE),
    ),
)

ENFORCEMENT = Source(
    "enforcement",
    (
        Field("决定书文号", "decision_no", Kind.KEY),
        Field(
            "强制类别",
            "measure",
            Kind.CATEGORY,
            categories={"行政强制措施": "coercive_measure", "行政强制执行": "coercive_execution"},
        ),
        Field("决定日期", "decided_on", Kind.DATE),
    ),
)

FEES = Source(
    "fees",
    (
        Field("票据号", "receipt_no", Kind.KEY),
        Field("收费项目", "fee_item", Kind.TEXT, **_OPTIONAL),
        Field("缴款日期", "paid_on", Kind.DATE),
        Field("金额（元）", "amount_fen", Kind.YUAN),
    ),
)

REQUESTS = Source(
    "requests",
    (
        Field("申请编号", "request_id", Kind.KEY),
        Field("收到日期", "received_on", Kind.DATE),
        Field("申请人类型", "applicant_type", Kind.CATEGORY, categories=APPLICANT_TYPES),
        Field("办结日期", "concluded_on", Kind.DATE, value_required=False),
        Field(
            "办理结果", "result", Kind.CATEGORY, value_required=False, categories=REQUEST_RESULTS
        ),
        Field("具体情形", "reasons", Kind.REASONS, column_required=False, value_required=False),
    ),
)

APPEALS = Source(
    "appeals",
    (
        Field("案件编号", "case_no", Kind.KEY),
        Field(
            "案件类型",
            "case_type",
            Kind.CATEGORY,
            categories={"行政复议": "review", "行政诉讼": "litigation"},
        ),
        Field(
            "起诉方式",
            "route",
            Kind.CATEGORY,
            column_required=False,
            value_required=False,
            categories={"未经复议直接起诉": "direct", "复议后起诉": "after_review"},
        ),
        Field("立案日期", "filed_on", Kind.DATE),
        Field("结案日期", "concluded_on", Kind.DATE, value_required=False),
        Field(
            "结果",
            "result",
            Kind.CATEGORY,
            value_required=False,
            categories={"维持": "upheld", "纠正": "corrected", "其他": "other"},
        ),
    ),
)

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (WEBSITE, WECHAT, DOCUMENTS, LICENSING, PENALTY, ENFORCEMENT, FEES, REQUESTS, APPEALS)
}

AGENCY_HEADERS = {
    "agency_id": "agency_id",
    "机关名称": "name",
    "统一社会信用代码": "credit_code",
    "上级机关": "parent_id",
    "渠道": "channels",
    "规章制定权": "has_rulemaking_power",
    "收费小数位": "fee_decimals",
}
AGENCY_REQUIRED_HEADERS = ("agency_id", "机关名称", "渠道")
# An agency_id names folders and object keys (report_cells/year=Y/agency_id=<id>/…): only
# characters that cannot change a path's meaning (no "/", "..", "=", blanks or invisible ones).
AGENCY_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
AGENCY_SCHEMA = pl.Schema(
    {
        "agency_id": pl.String(),
        "name": pl.String(),
        "credit_code": pl.String(),
        "parent_id": pl.String(),
        "channels": pl.List(pl.String()),
        "has_rulemaking_power": pl.Boolean(),
        "fee_decimals": pl.UInt8(),
    }
)
DEFAULT_FEE_DECIMALS = 2
