"""The agency registry (agencies.csv) as typed rows, with unusable rows quarantined."""

from __future__ import annotations

import polars as pl

from transforms.normalize import QUARANTINE_SCHEMA
from transforms.parse import clean_text, to_half_width
from transforms.sources import AGENCY_SCHEMA, DEFAULT_FEE_DECIMALS

MAX_FEE_DECIMALS = 4


def normalize_agencies(raw: pl.DataFrame, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Registry rows → (agencies, quarantine). ``raw`` holds the header columns as text and ``row``.

    渠道 is ``|``-separated; 规章制定权 is 是/否 (empty: 否); 收费小数位 is 0–4 (empty: 2).
    A repeated agency_id keeps its last row.
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
    )
    problems = {
        "agency_id": pl.when(pl.col("agency_id").is_null()).then(pl.lit("agency_id is empty")),
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
        .unique("agency_id", keep="last", maintain_order=True)
        .select(AGENCY_SCHEMA.names())
        .cast(AGENCY_SCHEMA)
    )
    quarantine = pl.concat(
        [
            checked.filter(pl.col(f"_problem:{h}").is_not_null()).select(
                source=pl.lit("agencies"),
                agency_id="agency_id",
                file=pl.lit(file),
                row="row",
                column=pl.lit(h),
                value=pl.col(h),
                reason=f"_problem:{h}",
            )
            for h in problems
        ]
    ).cast(QUARANTINE_SCHEMA)
    return agencies, quarantine


def select_agencies(agencies: pl.DataFrame, wanted: list[str] | None) -> pl.DataFrame:
    """The registry rows to compile: all of them, or the ones named (each must exist)."""
    if not wanted:
        return agencies
    unknown = sorted(set(wanted) - set(agencies["agency_id"]))
    if unknown:
        raise ValueError(f"agency {', '.join(unknown)} is not in agencies.csv")
    return agencies.filter(pl.col("agency_id").is_in(wanted))
