"""Checks of published reports read back by ``nianbao audit``: the report suite on each report,
and what only a set of reports shows (last year's report, the same agency twice, copies).

Pure Polars over three frames keyed by ``report`` (the report's file, as given):

- ``reports``: one row per file read — ``report``, ``agency_name``, ``year``, ``layout``
  (``2021``/``pre-2021``/``unreadable``), ``problems`` (list of str), ``has_channels`` (part 一's
  channel sentence was found), ``channels`` (list of str: the channels the report shows),
  ``has_rulemaking_power`` (from the registry row it matches; null when unknown);
- ``cells``: ``report``, ``section``, ``row``, ``column``, ``value`` (``VALUE_DTYPE``);
- ``paragraphs``: ``report``, ``position``, ``text`` (the report's paragraphs in order).

Every rule added here is declared with ``@rule(..., on="reports")`` (transforms/rules.py) with its
level and Chinese summary; the report suite's rules (C1, B1–B9) are the ones of
``transforms/balance.py``, run with the report as the "agency".
"""

from __future__ import annotations

import polars as pl

from transforms.balance import RULES_BY_ID, VIOLATION_SCHEMA
from transforms.cells import CELL_KEY
from transforms.rules import REPORT_RULES, Level, rule

# The report suite's rules that one published report can be checked against. B5/B6 need last
# year's report; W1 (a channel that published nothing) needs the registry's channels, which a
# published report only shows when they published something.
SINGLE_REPORT_RULES = ("C1", "B1", "B2", "B3", "B4", "B7", "B8", "B9")
YEAR_OVER_YEAR_RULES = ("B5", "B6")

# Copy check thresholds. Tables: the share of cells non-zero in either report that are equal in
# both; a small report (a handful of non-zero cells) proves nothing, so at least this many equal.
COPIED_TABLE_SHARE = 0.95
COPIED_TABLE_MIN_EQUAL = 4
# Text: Jaccard similarity of character 3-grams of two paragraphs; shorter paragraphs are
# formulae ("无。", "本年度无行政事业性收费。") that every report may print alike.
COPIED_TEXT_SIMILARITY = 0.9
COPIED_TEXT_MIN_CHARS = 30
# A 3-gram in more reports than this is common wording of the field (条例 titles, the national
# format's sentences): it cannot tell which report copied which, so it does not pair paragraphs.
COMMON_GRAM_REPORTS = 10

# The parts of a report written by hand; part 一's (一)/(二) and the tables' sentences are drafted
# from the numbers, and the opening paragraph is the national format's own wording.
NARRATIVE_HEADINGS = (
    "（三）政府信息管理情况",
    "（四）政府信息公开平台建设情况",
    "（五）监督保障情况",
    "五、存在的主要问题及改进情况",
    "六、其他需要报告的事项",
)
_ANY_HEADING = r"^(?:[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）)"
# nianbao's placeholder for a part the office has not written: not text of the report.
_PLACEHOLDER = "【"

FINDINGS_SCHEMA = pl.Schema(
    {
        "source_file": pl.String(),
        "agency_name": pl.String(),
        "year": pl.Int32(),
        "rule": pl.String(),
        "level": pl.String(),
        "cells": pl.String(),
        "expected": pl.String(),
        "actual": pl.String(),
        "message": pl.String(),
    }
)


def _readable(reports: pl.LazyFrame) -> pl.LazyFrame:
    return reports.filter(pl.col("layout") == "2021")


def _as_agencies(reports: pl.LazyFrame) -> pl.LazyFrame:
    """The reports in the registry's shape the balance rules read (the report as the agency)."""
    return reports.select(
        agency_id=pl.col("report"),
        channels=pl.col("channels"),
        has_rulemaking_power=pl.col("has_rulemaking_power"),
    )


def _as_cells(cells: pl.LazyFrame) -> pl.LazyFrame:
    return cells.select(pl.col("report").alias("agency_id"), *CELL_KEY, "value")


def check_each_report(reports: pl.LazyFrame, cells: pl.LazyFrame) -> pl.LazyFrame:
    """C1, B1–B4, B7, B8 and B9 on every readable report at once (``VIOLATION_SCHEMA``).

    B8 and C1's section 一 are checked only where part 一's channel sentence was found: a report
    that states its channel counts otherwise (a table, a list) gives section 一 no cells to check,
    which is not an error of the report. B9 only where the rule-making power is known.

    Examples
    --------
    >>> import polars as pl
    >>> check_each_report(pl.LazyFrame(schema={"report": pl.String, "layout": pl.String,
    ...     "channels": pl.List(pl.String), "has_rulemaking_power": pl.Boolean,
    ...     "has_channels": pl.Boolean}), pl.LazyFrame(schema={"report": pl.String,
    ...     "section": pl.String, "row": pl.String, "column": pl.String,
    ...     "value": pl.Decimal(18, 4)})).collect().height
    0
    """
    readable = _readable(reports)
    agencies = _as_agencies(readable)
    checked = _as_cells(cells.join(readable.select("report"), on="report", how="semi"))
    found = pl.concat(
        [
            RULES_BY_ID[rule_id].find_violations(checked, agencies=agencies)
            for rule_id in SINGLE_REPORT_RULES
        ]
    )
    without_channels = readable.filter(~pl.col("has_channels")).select(agency_id="report")
    on_channels = pl.col("cells").str.starts_with("channels")
    return pl.concat(
        [
            found.join(without_channels, on="agency_id", how="anti"),
            found.join(without_channels, on="agency_id", how="semi").filter(~on_channels),
        ]
    )


def _primary(reports: pl.LazyFrame) -> pl.LazyFrame:
    """One report per agency and year (the first file, when the same report is given twice)."""
    return (
        _readable(reports)
        .filter(pl.col("agency_name").is_not_null() & pl.col("year").is_not_null())
        .sort("report")
        .unique(["agency_name", "year"], keep="first")
    )


def previous_year_pairs(reports: pl.LazyFrame) -> pl.LazyFrame:
    """``report`` and ``previous``: each report and its agency's report of the year before."""
    primary = _primary(reports).select("report", "agency_name", "year")
    return primary.join(
        primary.select("agency_name", pl.col("year") + 1, previous="report"),
        on=["agency_name", "year"],
        how="inner",
    ).select("report", "previous")


def check_year_over_year(reports: pl.LazyFrame, cells: pl.LazyFrame) -> pl.LazyFrame:
    """B5 and B6 on every report whose agency's previous-year report is among the inputs."""
    pairs = previous_year_pairs(reports)
    previous = cells.join(pairs, left_on="report", right_on="previous", how="inner").select(
        pl.col("report_right").alias("agency_id"), *CELL_KEY, "value"
    )
    this_year = _as_cells(cells.join(pairs, on="report", how="semi"))
    return pl.concat(
        [
            RULES_BY_ID[rule_id].find_violations(this_year, previous=previous)
            for rule_id in YEAR_OVER_YEAR_RULES
        ]
    )


@rule("F0", Level.ERROR, "无法读取：文件不是可识别的政府信息公开工作年度报告", on="reports")
def f0_unreadable(reports: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """F0: the file could not be read as a report at all (what was found is in ``actual``)."""
    return reports.filter(pl.col("layout") == "unreadable").select(
        agency_id="report",
        cells=pl.lit("—"),
        expected=pl.lit("2021年格式的年度报告"),
        actual=pl.col("problems").list.join("；"),
    )


@rule("F1", Level.ERROR, "旧版格式：报告未采用2021年版年度报告格式", on="reports")
def f1_old_layout(reports: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """F1: the report is in the layout before 国办公开办函〔2021〕30号 and is not read as cells."""
    return reports.filter(pl.col("layout") == "pre-2021").select(
        agency_id="report",
        cells=pl.lit("—"),
        expected=pl.lit("2021年格式（国办公开办函〔2021〕30号）"),
        actual=pl.lit("2021年以前的格式"),
    )


@rule("F2", Level.WARNING, "读取时有内容无法识别（缺少的单元格另见 C1）", on="reports")
def f2_read_problems(reports: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """F2: what reading a 2021-format report met (a table missing, a cell that is no number)."""
    return (
        _readable(reports)
        .select("report", "problems")
        .explode("problems")
        .drop_nulls("problems")
        .select(
            agency_id="report",
            cells=pl.lit("—"),
            expected=pl.lit("每个单元格可读"),
            actual=pl.col("problems"),
        )
    )


@rule("F3", Level.WARNING, "标题中找不到机关名称或年度，无法与其他报告比对", on="reports")
def f3_title_unknown(reports: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """F3: the title names no agency or no year, so no year-over-year or copy check is made."""
    return (
        _readable(reports)
        .filter(pl.col("agency_name").is_null() | pl.col("year").is_null())
        .select(
            agency_id="report",
            cells=pl.lit("title"),
            expected=pl.lit("机关名称 + 「YYYY年政府信息公开工作年度报告」"),
            actual=pl.format(
                "agency {}, year {}",
                pl.col("agency_name").fill_null("?"),
                pl.col("year").cast(pl.String).fill_null("?"),
            ),
        )
    )


@rule("F4", Level.WARNING, "同一机关同一年度有多份报告", on="reports")
def f4_duplicate_reports(reports: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """F4: the inputs hold more than one report of the same agency and year."""
    known = _readable(reports).filter(
        pl.col("agency_name").is_not_null() & pl.col("year").is_not_null()
    )
    return (
        known.with_columns(
            others=pl.col("report").implode().over(["agency_name", "year"]),
        )
        .filter(pl.col("others").list.len() > 1)
        .select(
            agency_id="report",
            cells=pl.lit("—"),
            expected=pl.lit("每个机关每年一份报告"),
            actual=pl.col("others").list.sort().list.join("、"),
        )
    )


def _pair_kind(a: str, b: str) -> pl.Expr:
    """Which comparison a pair of reports (suffixes ``a``/``b``) is, or null for none.

    ``previous_year``: the same agency, b the year before a; ``same_year``: two agencies' reports
    of one year (each such pair appears twice, once from each side).
    """
    same_agency = pl.col(f"agency_name{a}") == pl.col(f"agency_name{b}")
    return (
        pl.when(same_agency & (pl.col(f"year{b}") == pl.col(f"year{a}") - 1))
        .then(pl.lit("previous_year"))
        .when(~same_agency & (pl.col(f"year{b}") == pl.col(f"year{a}")))
        .then(pl.lit("same_year"))
    )


def _compared(reports: pl.LazyFrame) -> pl.LazyFrame:
    return _primary(reports).select("report", "agency_name", "year")


def _copy_finding(kind_text: pl.Expr, what: str, actual: pl.Expr) -> dict[str, pl.Expr]:
    return {
        "agency_id": pl.col("report"),
        "cells": pl.format("{}: {}", pl.lit(what), pl.col("other")),
        "expected": kind_text,
        "actual": actual,
    }


def _kind_text() -> pl.Expr:
    return (
        pl.when(pl.col("kind") == "previous_year")
        .then(pl.lit("不同于本机关上年度报告"))
        .otherwise(pl.lit("不同于其他机关同年度报告"))
    )


@rule("F5", Level.WARNING, "统计表与本机关上年度或其他机关同年度的报告相同或几乎相同", on="reports")
def f5_copied_tables(reports: pl.LazyFrame, cells: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """F5: at least 95% of the cells non-zero in either report are equal to the other report's
    (last year's of the same agency, or another agency's of the same year), at least 4 of them."""
    compared = _compared(reports)
    nonzero = cells.filter(pl.col("value") != 0).join(compared, on="report", how="inner")
    counts = nonzero.group_by("report").agg(nonzero=pl.len())
    # Pairs first by equal cells (key and value): far fewer than all pairs of a province's
    # reports. Cells non-zero in either report number at least the larger report's non-zero
    # cells, so a pair whose equal cells fall short of 95 % of that cannot be a copy.
    equal = (
        nonzero.join(nonzero, on=[*CELL_KEY, "value"], how="inner", suffix="_b")
        .filter(pl.col("report") != pl.col("report_b"))
        .with_columns(kind=_pair_kind("", "_b"))
        .filter(pl.col("kind").is_not_null())
        .group_by("report", "report_b", "kind")
        .agg(equal=pl.len())
        .join(counts, on="report")
        .join(counts.rename({"report": "report_b", "nonzero": "nonzero_b"}), on="report_b")
        .filter(
            (pl.col("equal") >= COPIED_TABLE_MIN_EQUAL)
            & (pl.col("equal") >= COPIED_TABLE_SHARE * pl.max_horizontal("nonzero", "nonzero_b"))
        )
    )
    keys = nonzero.select("report", *CELL_KEY)
    both = (
        equal.select("report", "report_b")
        .join(keys, on="report")
        .join(keys.rename({"report": "report_b"}), on=["report_b", *CELL_KEY], how="semi")
        .group_by("report", "report_b")
        .agg(both=pl.len())
    )
    pairs = (
        equal.join(both, on=["report", "report_b"])
        .with_columns(either=pl.col("nonzero") + pl.col("nonzero_b") - pl.col("both"))
        .filter(pl.col("equal") >= COPIED_TABLE_SHARE * pl.col("either"))
    )
    return pairs.rename({"report_b": "other"}).select(
        **_copy_finding(
            _kind_text(),
            "tables as in",
            pl.format("{} of {} non-zero cells equal", pl.col("equal"), pl.col("either")),
        )
    )


def narrative_paragraphs(paragraphs: pl.LazyFrame) -> pl.LazyFrame:
    """The hand-written paragraphs of each report (``report``, ``position``, ``text``), longer
    than 30 characters, whitespace removed, placeholders left out.

    The parts under the narrative headings when the report shows them; otherwise (a layout
    without those headings) every paragraph that is not a heading.
    """
    text = pl.col("text").str.replace_all(r"\s+", "")
    heading = text.str.contains(_ANY_HEADING) & (text.str.len_chars() <= 40)
    marked = (
        paragraphs.with_columns(text=text)
        .sort("report", "position")
        .with_columns(
            section=pl.when(heading).then(pl.col("text")).forward_fill().over("report"),
            is_heading=heading,
        )
        .with_columns(has_headings=pl.col("section").is_in(NARRATIVE_HEADINGS).any().over("report"))
    )
    return marked.filter(
        ~pl.col("is_heading")
        & (pl.col("text").str.len_chars() > COPIED_TEXT_MIN_CHARS)
        & ~pl.col("text").str.starts_with(_PLACEHOLDER)
        & (~pl.col("has_headings") | pl.col("section").is_in(NARRATIVE_HEADINGS).fill_null(False))
    ).select("report", "position", "text")


def _grams(paragraphs: pl.LazyFrame) -> pl.LazyFrame:
    return (
        paragraphs.with_columns(start=pl.int_ranges(0, pl.col("text").str.len_chars() - 2))
        .explode("start")
        .select("report", "position", gram=pl.col("text").str.slice(pl.col("start"), 3))
        .unique()
    )


@rule(
    "F6",
    Level.WARNING,
    "叙述文字与本机关上年度或其他机关同年度的报告相同或几乎相同",
    on="reports",
)
def f6_copied_text(reports: pl.LazyFrame, paragraphs: pl.LazyFrame, **_: object) -> pl.LazyFrame:
    """F6: at least half of a report's hand-written paragraphs (longer than 30 characters) have a
    near-identical paragraph (3-gram Jaccard ≥ 0.9) in last year's report of the same agency or in
    another agency's report of the same year."""
    compared = _compared(reports)
    narrative = narrative_paragraphs(paragraphs).join(compared.select("report"), on="report")
    grams = _grams(narrative)
    sizes = grams.group_by("report", "position").agg(size=pl.len())
    rare = grams.filter(pl.col("report").n_unique().over("gram") <= COMMON_GRAM_REPORTS)
    meta = compared.select("report", "agency_name", "year")
    candidates = (
        rare.join(rare, on="gram", suffix="_b")
        .filter(pl.col("report") != pl.col("report_b"))
        .select("report", "position", "report_b", "position_b")
        .unique()
        .join(meta, on="report")
        .join(meta.rename(lambda c: f"{c}_b"), on="report_b")
        .with_columns(kind=_pair_kind("", "_b"))
        .filter(pl.col("kind").is_not_null())
    )
    shared = (
        candidates.join(grams, on=["report", "position"])
        .join(
            grams.rename({"report": "report_b", "position": "position_b"}),
            on=["report_b", "position_b", "gram"],
            how="semi",
        )
        .group_by("report", "position", "report_b", "position_b", "kind")
        .agg(shared=pl.len())
        .join(sizes, on=["report", "position"])
        .join(
            sizes.rename({"report": "report_b", "position": "position_b", "size": "size_b"}),
            on=["report_b", "position_b"],
        )
        .filter(
            pl.col("shared")
            >= COPIED_TEXT_SIMILARITY * (pl.col("size") + pl.col("size_b") - pl.col("shared"))
        )
    )
    matched = shared.group_by("report", "report_b", "kind").agg(
        matched=pl.col("position").n_unique()
    )
    written = narrative.group_by("report").agg(written=pl.len())
    return (
        matched.join(written, on="report")
        .filter(2 * pl.col("matched") >= pl.col("written"))
        .rename({"report_b": "other"})
        .select(
            **_copy_finding(
                _kind_text(),
                "text as in",
                pl.format(
                    "{} of {} paragraphs near-identical", pl.col("matched"), pl.col("written")
                ),
            )
        )
    )


AUDIT_RULES = ("F0", "F1", "F2", "F3", "F4", "F5", "F6")


# The few words the report rules (transforms/balance.py) write in English, as a message says them.
_IN_CHINESE = {"present": "有此单元格", "missing": "缺少此单元格"}


def audit_findings(
    reports: pl.DataFrame, cells: pl.DataFrame, paragraphs: pl.DataFrame
) -> pl.DataFrame:
    """Every finding of every report (``FINDINGS_SCHEMA``), sorted by file and rule.

    ``message`` is the rule in Chinese with what was found.
    """
    lazy_reports, lazy_cells, lazy_paragraphs = reports.lazy(), cells.lazy(), paragraphs.lazy()
    frames = [
        check_each_report(lazy_reports, lazy_cells),
        check_year_over_year(lazy_reports, lazy_cells),
        *(
            REPORT_RULES[rule_id].find_violations(
                lazy_reports, cells=lazy_cells, paragraphs=lazy_paragraphs
            )
            for rule_id in AUDIT_RULES
        ),
    ]
    found = pl.concat(pl.collect_all(frames)).cast(VIOLATION_SCHEMA)
    summaries = pl.DataFrame(
        {
            "rule": list(REPORT_RULES),
            "summary_zh": [r.summary_zh for r in REPORT_RULES.values()],
        }
    )
    return (
        found.join(summaries, on="rule", how="left")
        .join(
            reports.select(
                pl.col("report").alias("agency_id"),
                pl.col("report").alias("source_file"),
                "agency_name",
                "year",
            ),
            on="agency_id",
            how="left",
        )
        .select(
            "source_file",
            "agency_name",
            "year",
            "rule",
            level="severity",
            cells="cells",
            expected="expected",
            actual="actual",
            message=pl.format(
                "{}：{}（应为 {}，实为 {}）",
                pl.col("summary_zh"),
                "cells",
                pl.col("expected").replace(_IN_CHINESE),
                pl.col("actual").replace(_IN_CHINESE),
            ),
        )
        .cast(FINDINGS_SCHEMA)
        .sort("source_file", "rule", "cells", maintain_order=True)
    )


def report_status(reports: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    """Each report's status: 无法读取 (F0), 有错误, 有警告 or 通过; with its error/warning counts."""
    counts = findings.group_by("source_file").agg(
        errors=(pl.col("level") == Level.ERROR.value).sum(),
        warnings=(pl.col("level") == Level.WARNING.value).sum(),
    )
    return (
        reports.select(
            source_file="report", agency_name="agency_name", year="year", layout="layout"
        )
        .join(counts, on="source_file", how="left")
        .with_columns(pl.col("errors", "warnings").fill_null(0).cast(pl.UInt32))
        .with_columns(
            status=pl.when(pl.col("layout") == "unreadable")
            .then(pl.lit("无法读取"))
            .when(pl.col("errors") > 0)
            .then(pl.lit("有错误"))
            .when(pl.col("warnings") > 0)
            .then(pl.lit("有警告"))
            .otherwise(pl.lit("通过"))
        )
    )


def match_registry(reports: pl.DataFrame, registry: pl.DataFrame) -> pl.DataFrame:
    """``report``, ``agency_id``, ``has_rulemaking_power``, ``channels`` of each report whose
    title names exactly one registry agency (机关名称, blanks ignored); null where none or
    several do (several: which one is meant cannot be known)."""
    bare = pl.col("name").str.replace_all(r"\s+", "")
    names = registry.select(
        "agency_id", "has_rulemaking_power", "channels", agency_name=bare
    ).filter(pl.len().over("agency_name") == 1)
    return (
        reports.select("report", pl.col("agency_name").str.replace_all(r"\s+", ""))
        .join(names, on="agency_name", how="left", maintain_order="left")
        .drop("agency_name")
    )
