"""Where every validation rule is declared, once, with its level.

Two kinds of rule register here:

- report rules (C1, B1–B9, W1–W3): one Polars query each over report cells, declared with
  ``@rule("B1", Level.ERROR, "…")`` in ``transforms/balance.py``; the report suite
  (``expectations/build.py``) runs each by id and the tests call the same query; W4 (a report
  showing a placeholder, a narrative file with problems) is declared at the end of this file;
- record rules: what several fields of one landing record must satisfy together (dates in order,
  a refusal with its reasons), declared below with ``@record_rule`` or :func:`ordered_dates`. The
  normalizer quarantines every row that breaks one; those with a suite form (dates in order) are
  checked again on the records by the record suites, which ``expectations/build.py`` writes from
  the same declarations.

A rule's level is said once, here, and translated to Great Expectations' words (``critical``,
``warning``) and back only by :class:`Level`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from transforms.cells import OUTCOME_ROWS
from transforms.parse import clean_text
from transforms.sources import DISCLOSED_REASON, REASON_KEYS, REQUEST_RESULTS, SOURCES


class Level(StrEnum):
    ERROR = "error"  # blocks publication
    WARNING = "warning"  # reported, published anyway

    @property
    def gx(self) -> str:
        """The level as a Great Expectations suite writes it."""
        return "critical" if self is Level.ERROR else "warning"


def level_of(gx_severity: str) -> str:
    """A Great Expectations severity in nianbao's words; an unknown one blocks, to be safe."""
    return {Level.ERROR.gx: Level.ERROR.value, Level.WARNING.gx: Level.WARNING.value}.get(
        gx_severity, "info" if gx_severity == "info" else Level.ERROR.value
    )


# Dates before this are implausible for a disclosure record: the normalizer quarantines them and
# the record suites re-check what reached the records.
EARLIEST_PLAUSIBLE_DATE = dt.date(1990, 1, 1)


@dataclass(frozen=True)
class Rule:
    """A report rule: ``find_violations`` returns its violations (``VIOLATION_SCHEMA``)."""

    id: str
    level: Level
    summary_zh: str  # the rule in the report's own terms, for people reading the checks
    description: str  # English, the rule function's docstring ("B1: …")
    find_violations: Callable[..., pl.LazyFrame]
    on: str  # what it reads: "cells" (a report) or "requests" (W2, the records)

    @property
    def statement(self) -> str:
        """The rule in words, Chinese then English: what the validation pages show."""
        english = self.description.strip().splitlines()[0].removeprefix(f"{self.id}: ").rstrip(".")
        if english.startswith(self.summary_zh):  # W3's docstring says it in Chinese too: once
            english = (
                english.removeprefix(self.summary_zh).strip().removeprefix("(").removesuffix(")")
            )
        return f"{self.id} {self.summary_zh} — {english}"


@dataclass(frozen=True)
class RecordRule:
    """A rule over several fields of one record of ``source``.

    ``problem`` is a Polars expression over the normalizer's frame (parsed columns by field name,
    landing text as ``raw:<header>``): the reason the row is quarantined, or null. ``column`` is
    the landing header the quarantine names. ``pair`` (later, earlier), when given, is the rule's
    form in the record suite: ``later`` on or after ``earlier``.
    """

    id: str
    source: str
    column: str
    level: Level
    problem: pl.Expr
    pair: tuple[str, str] | None = None


REPORT_RULES: dict[str, Rule] = {}
RECORD_RULES: dict[str, RecordRule] = {}


def _declare(registry: dict, rule_id: str, declared: object) -> None:
    if rule_id in REPORT_RULES or rule_id in RECORD_RULES:
        raise ValueError(f"rule {rule_id} is declared twice")
    registry[rule_id] = declared


def rule(rule_id: str, level: Level, summary_zh: str, *, on: str = "cells"):
    """Declare a report rule. The function returns its violations as ``agency_id``, ``cells``,
    ``expected`` and ``actual``; the rule's id and level are added here."""

    def declare(find: Callable[..., pl.LazyFrame]) -> Callable[..., pl.LazyFrame]:
        def find_violations(*args: object, **kwargs: object) -> pl.LazyFrame:
            return find(*args, **kwargs).select(
                pl.col("agency_id").cast(pl.String),
                rule=pl.lit(rule_id),
                severity=pl.lit(level.value),
                cells=pl.col("cells"),
                expected=pl.col("expected").cast(pl.String),
                actual=pl.col("actual").cast(pl.String),
            )

        find_violations.__doc__ = find.__doc__
        find_violations.__name__ = find.__name__
        declared = Rule(rule_id, level, summary_zh, find.__doc__ or "", find_violations, on)
        _declare(REPORT_RULES, rule_id, declared)
        return find_violations

    return declare


def record_rule(rule_id: str, source: str, column: str, level: Level = Level.ERROR):
    """Declare a record rule whose problem is the decorated function's expression."""

    def declare(problem: Callable[[], pl.Expr]) -> Callable[[], pl.Expr]:
        _declare(RECORD_RULES, rule_id, RecordRule(rule_id, source, column, level, problem()))
        return problem

    return declare


def _headers(source: str) -> dict[str, str]:
    return {f.name: f.header for f in SOURCES[source].fields}


def ordered_dates(source: str, later: str, earlier: str, level: Level = Level.ERROR) -> None:
    """Declare that the date field ``later`` of a ``source`` record is not before ``earlier``."""
    header = _headers(source)
    message = f"{header[later]} is before {header[earlier]}"
    problem = pl.when(pl.col(later) < pl.col(earlier)).then(pl.lit(message))
    rule_id = f"{source}.{later}_not_before_{earlier}"
    declared = RecordRule(rule_id, source, header[later], level, problem, pair=(later, earlier))
    _declare(RECORD_RULES, rule_id, declared)


def concluded_with_result(source: str, concluded: str, result: str) -> None:
    """Declare that a ``source`` record gives its conclusion date and its result both or neither."""
    header = _headers(source)
    for given, missing in ((concluded, result), (result, concluded)):
        rule_id = f"{source}.{missing}_with_{given}"
        message = f"{header[given]} given but {header[missing]} is empty"
        problem = pl.when(pl.col(given).is_not_null() & pl.col(missing).is_null())
        declared = RecordRule(
            rule_id, source, header[missing], Level.ERROR, problem.then(pl.lit(message))
        )
        _declare(RECORD_RULES, rule_id, declared)


def record_rules(source: str) -> list[RecordRule]:
    """The record rules of ``source``, in the order declared (the order of its quarantine rows)."""
    return [r for r in RECORD_RULES.values() if r.source == source]


# Landing text quoted into the quarantine is cut to this many characters: a value that swallowed
# the rest of its file (an unclosed quote) must not carry other columns' names and ID numbers.
QUOTED_MAX_CHARS = 64


def capped(text: pl.Expr) -> pl.Expr:
    return (
        pl.when(text.str.len_chars() > QUOTED_MAX_CHARS)
        .then(text.str.slice(0, QUOTED_MAX_CHARS) + pl.lit("…"))
        .otherwise(text)
    )


def quoted(raw: pl.Expr) -> pl.Expr:
    return pl.lit("'") + capped(raw) + pl.lit("'")


def raw(header: str) -> pl.Expr:
    """The landing text of a column, kept apart from the parsed column of the same name."""
    return pl.col(f"raw:{header}")


# ---- Record rules, in the order their quarantine rows are listed -------------------------------

c = pl.col
# The refusal group of each 具体情形 (不予公开, 无法提供, …), and the Chinese name of each group.
_REASON_GROUP = {row: group for row, _, group in OUTCOME_ROWS if row in REASON_KEYS}
_RESULT_LABEL = {key: label for label, key in REQUEST_RESULTS.items()}
_NEEDS_REASONS = c("result").is_in(["withheld", "unavailable", "not_processed", "other"])


def _item_groups() -> pl.Expr:
    return (
        c("reasons")
        .list.eval(pl.element().cast(pl.String).replace_strict(_REASON_GROUP, default=None))
        .list.drop_nulls()
    )


def _found_groups() -> pl.Expr:
    return (
        _item_groups()
        .list.eval(pl.element().replace_strict(_RESULT_LABEL, default=None))
        .list.unique(maintain_order=True)
    )


ordered_dates("requests", "concluded_on", "received_on")


concluded_with_result("requests", "concluded_on", "result")


@record_rule("requests.refusal_needs_reasons", "requests", "具体情形")
def _refusal_needs_reasons() -> pl.Expr:
    # An unknown label is reported on its own; here only "no refusal item at all" counts.
    refusal_items = (
        c("reasons")
        .list.eval(pl.element().is_null() | (pl.element().cast(pl.String) != DISCLOSED_REASON))
        .list.sum()
    )
    return pl.when(_NEEDS_REASONS & (refusal_items.fill_null(0) == 0)).then(
        pl.lit("办理结果 ") + raw("办理结果") + pl.lit(" needs 具体情形")
    )


@record_rule("requests.refusal_has_own_reason", "requests", "具体情形")
def _refusal_has_own_reason() -> pl.Expr:
    # A refusal must give at least one reason of its own group; items of other groups may go
    # with it (a request of several items, counted by precedence), but none of its own means
    # 办理结果 and 具体情形 say different things and the row cannot be counted either way.
    item_groups = _item_groups()
    result = c("result").cast(pl.String)
    contradicts = (
        _NEEDS_REASONS
        & (item_groups.list.len() > 0)
        & ~item_groups.list.contains(result).fill_null(False)
    )
    return pl.when(contradicts).then(
        pl.format(
            "办理结果 {} contradicts 具体情形 {}: no item is a {} reason (found {})",
            clean_text(raw("办理结果")),
            quoted(clean_text(raw("具体情形"))),
            result.replace_strict(_RESULT_LABEL, default=None),
            _found_groups().list.join("/"),
        )
    )


@record_rule("requests.disclosed_has_disclosed_item", "requests", "具体情形")
def _disclosed_has_disclosed_item() -> pl.Expr:
    # 予以公开 with refusal items is a request of several items only if one item is disclosed.
    contradicts = (
        (c("result") == "disclosed")
        & (_item_groups().list.len() > 0)
        & ~c("reasons").list.contains(pl.lit(DISCLOSED_REASON)).fill_null(False)
    )
    return pl.when(contradicts).then(
        pl.format(
            "办理结果 予以公开 contradicts 具体情形 {}: refusal reasons ({}) but no item 予以公开"
            " (a request disclosed in part is 部分公开)",
            quoted(clean_text(raw("具体情形"))),
            _found_groups().list.join("/"),
        )
    )


@record_rule("appeals.litigation_needs_route", "appeals", "起诉方式")
def _litigation_needs_route() -> pl.Expr:
    return pl.when((c("case_type") == "litigation") & c("route").is_null()).then(
        pl.lit("行政诉讼 needs 起诉方式")
    )


ordered_dates("appeals", "concluded_on", "filed_on")


concluded_with_result("appeals", "concluded_on", "result")

ordered_dates("documents", "repealed_on", "published_on")


# ---- The narrative: what only the office can write ---------------------------------------------


@rule("W4", Level.WARNING, "叙述未填写/叙述文件有问题", on="narrative")
def w4_narrative(findings: pl.LazyFrame) -> pl.LazyFrame:
    """W4: 叙述未填写/叙述文件有问题 (the report shows a placeholder, or its narrative file
    has lines nianbao ignored or cannot be read): published, but not ready to be published on.

    ``findings`` has one row per problem: ``agency_id``, ``cells`` (the narrative file),
    ``expected`` (what belongs there) and ``actual`` (what is missing or wrong).
    """
    return findings
