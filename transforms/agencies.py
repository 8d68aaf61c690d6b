"""The agency registry (agencies.csv) as typed rows, with unusable rows quarantined."""

from __future__ import annotations

import re

import polars as pl

from transforms.errors import InputError
from transforms.normalize import QUARANTINE_SCHEMA
from transforms.parse import clean_text, to_half_width
from transforms.sources import AGENCY_ID_PATTERN, AGENCY_SCHEMA, DEFAULT_FEE_DECIMALS

MAX_FEE_DECIMALS = 4
AGENCY_ID_RULE = f"lowercase a-z, 0-9 and '-', at most 64 characters ({AGENCY_ID_PATTERN})"
# Zero-width spaces, joiners, direction marks, BOMs, soft hyphens: invisible in a spreadsheet,
# yet they make an id that matches no landing folder (an all-zero report under a lookalike id).
_INVISIBLE = r"\p{Cf}"
_NOT_A_FOLDER_NAME = r"^\.{1,2}$|[/\\\p{Cc}]"


def safe_agency_id(agency_id: str) -> str:
    """``agency_id`` unchanged if it is safe in a folder name or object key; else ValueError.

    Examples
    --------
    >>> safe_agency_id("cq-qijiang-cgj")
    'cq-qijiang-cgj'
    """
    if not isinstance(agency_id, str) or not re.fullmatch(AGENCY_ID_PATTERN, agency_id):
        raise InputError(f"agency_id {agency_id!r} is not valid: {AGENCY_ID_RULE}")
    return agency_id


def check_agency_ids(agency_ids: list[str] | None) -> None:
    """ValueError naming the first id (e.g. given with ``--agency``) that is not a valid agency_id."""
    for agency_id in agency_ids or []:
        safe_agency_id(agency_id)


def _id_problem(raw: pl.Expr, cleaned: pl.Expr, name: str) -> pl.Expr:
    """Why an id-like cell (agency_id, 上级机关) cannot be used, or null."""
    return (
        pl.when(raw.str.contains(_INVISIBLE))
        .then(
            pl.lit(f"{name} has an invisible character (zero-width space, BOM…): {AGENCY_ID_RULE}")
        )
        .when(cleaned.is_not_null() & ~cleaned.str.contains(AGENCY_ID_PATTERN))
        .then(pl.lit(f"{name} is not valid: {AGENCY_ID_RULE}"))
    )


def normalize_agencies(raw: pl.DataFrame, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Registry rows → (agencies, quarantine). ``raw`` holds the header columns as text and ``row``.

    渠道 is ``|``-separated; 规章制定权 is 是/否 (empty: 否); 收费小数位 is 0–4 (empty: 2).
    agency_id and 上级机关 match ``AGENCY_ID_PATTERN`` (上级机关 may be empty). An agency_id on
    several rows rejects all of them: which row is right cannot be known.
    """
    decimals_text = to_half_width(clean_text(pl.col("收费小数位")))
    parsed = raw.with_columns(
        agency_id=clean_text(pl.col("agency_id")),
        name=clean_text(pl.col("机关名称")),
        credit_code=clean_text(pl.col("统一社会信用代码")),
        parent_id=clean_text(pl.col("上级机关")),
        channels=clean_text(pl.col("渠道"))
        .str.split("|")
        .list.eval(clean_text(pl.element()))
        .list.drop_nulls()
        .fill_null([]),
        has_rulemaking_power=clean_text(pl.col("规章制定权")).fill_null("否"),
        fee_decimals=decimals_text.cast(pl.Int64, strict=False).fill_null(
            pl.when(decimals_text.is_null()).then(DEFAULT_FEE_DECIMALS)
        ),
        _raw_agency_id=pl.col("agency_id"),
    )
    agency_id = pl.col("agency_id")
    duplicated = agency_id.is_not_null() & (pl.len().over("agency_id") > 1)
    problems = {
        "agency_id": pl.when(agency_id.is_null())
        .then(pl.lit("agency_id is empty"))
        .otherwise(_id_problem(pl.col("_raw_agency_id"), agency_id, "agency_id"))
        .fill_null(
            pl.when(duplicated).then(
                pl.lit("agency_id is on rows ")
                + pl.col("row").cast(pl.String).str.join(", ").over("agency_id")
                + pl.lit(f" of {file}: none of them is used, as which one is right is unknown")
            )
        ),
        "上级机关": _id_problem(pl.col("上级机关"), pl.col("parent_id"), "上级机关"),
        # A WeChat account is a folder name (wechat/<account>/): nothing that moves a path.
        "渠道": pl.when(
            pl.col("channels").list.eval(pl.element().str.contains(_NOT_A_FOLDER_NAME)).list.any()
        ).then(
            pl.lit("a channel must not be '.' or '..' or contain '/', '\\' or control characters")
        ),
        "规章制定权": pl.when(~pl.col("has_rulemaking_power").is_in(["是", "否"])).then(
            pl.lit("expected 是 or 否")
        ),
        "收费小数位": pl.when(
            pl.col("fee_decimals").is_null()
            | ~pl.col("fee_decimals").is_between(0, MAX_FEE_DECIMALS)
        ).then(pl.lit(f"expected a whole number from 0 to {MAX_FEE_DECIMALS}")),
    }
    checked = parsed.with_columns(p.alias(f"_problem:{h}") for h, p in problems.items())
    problem_cols = [f"_problem:{h}" for h in problems]
    clean = pl.all_horizontal(pl.col(c).is_null() for c in problem_cols)
    agencies = (
        checked.filter(clean)
        .with_columns(has_rulemaking_power=pl.col("has_rulemaking_power") == "是")
        .select(AGENCY_SCHEMA.names())
        .cast(AGENCY_SCHEMA)
    )
    # An id that is not valid is kept only as the value: the agency_id column may become a path.
    usable_id = pl.when(agency_id.str.contains(AGENCY_ID_PATTERN)).then(agency_id)
    quarantine = pl.concat(
        [
            checked.filter(pl.col(f"_problem:{h}").is_not_null()).select(
                source=pl.lit("agencies"),
                agency_id=usable_id,
                file=pl.lit(file),
                row="row",
                column=pl.lit(h),
                value=pl.col("_raw_agency_id" if h == "agency_id" else h),
                reason=f"_problem:{h}",
            )
            for h in problems
        ]
    ).cast(QUARANTINE_SCHEMA)
    return agencies, quarantine


def rejected_rows(quarantine: pl.DataFrame) -> int:
    """How many registry rows the quarantine holds (a row may have several problems)."""
    return quarantine.filter(pl.col("source") == "agencies").select("file", "row").n_unique()


def select_agencies(
    agencies: pl.DataFrame, wanted: list[str] | None, rejected: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The registry rows to compile: all of them, or the ones named (each must exist).

    A registry without a usable row is an error, not a run of no reports; ``rejected`` (the
    registry's quarantine) says why.
    """
    check_agency_ids(wanted)
    rejected = rejected if rejected is not None else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    if agencies.is_empty():
        first = "".join(
            f", e.g. row {q['row']} {q['column']}: {q['reason']}"
            for q in rejected.head(1).to_dicts()
        )
        raise InputError(
            f"agencies.csv has no usable row ({rejected_rows(rejected)} rejected{first})"
        )
    if not wanted:
        return agencies
    unknown = sorted(set(wanted) - set(agencies["agency_id"]))
    if unknown:
        why = "".join(
            f"row {q['row']} {q['column']}: {q['reason']}"
            for q in rejected.filter(pl.col("agency_id").is_in(unknown)).head(1).to_dicts()
        )
        raise InputError(
            f"agency {', '.join(unknown)} is not in agencies.csv"
            + (f" (its row was rejected: {why})" if why else "")
        )
    return agencies.filter(pl.col("agency_id").is_in(wanted))
