"""Build a city-scale landing zone: Huai'an's 2024 volumes (3,985,758 penalty and 447,228
licensing decisions) spread over many agencies, plus requests, fees and the other sources.

    uv run python bench/make_landing.py bench/out/landing --agencies 400

CSV throughout, one agency in eight exporting GB18030 (as Excel on Chinese Windows writes), with
personal data columns and a few broken rows, as the real exports have.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import polars as pl

PENALTIES = 3_985_758
LICENCES = 447_228
REQUESTS_PER_AGENCY = 12
FEES_PER_AGENCY = 250


def decisions(
    rng: np.random.Generator, n: int, agencies: int, key: str, date: str, prefix: str
) -> pl.DataFrame:
    """``n`` decisions over ``agencies``: mostly 2024, some 2023 and 2025, 0.01 % unreadable."""
    agency = rng.integers(0, agencies, size=n)
    day = pl.Series(rng.integers(-60, 366 + 30, size=n))
    frame = pl.DataFrame({"agency": agency, "day": day}).with_columns(
        pl.format(f"{prefix}〔{{}}〕{{}}号", pl.col("agency"), pl.int_range(pl.len())).alias(key),
        (pl.lit(dt.date(2024, 1, 1)) + pl.duration(days=pl.col("day")))
        .dt.to_string("%Y-%m-%d")
        .alias(date),
        pl.format("某某{}号商户", pl.col("day")).alias("行政相对人名称"),
        pl.lit("法人及非法人组织").alias("行政相对人类别"),
        pl.format("5002221980{}1234", pl.col("agency")).alias("证件号码"),
        pl.lit("淮安市某局").alias("数据来源单位"),
    )
    broken = rng.random(n) < 0.0001
    return frame.with_columns(
        pl.when(pl.Series(broken)).then(pl.lit("2024-13-45")).otherwise(pl.col(date)).alias(date)
    ).drop("day")


def write_per_agency(
    frame: pl.DataFrame, root: Path, source: str, name: str, agency_ids: list[str]
) -> None:
    for (agency,), part in frame.partition_by("agency", as_dict=True).items():
        folder = root / agency_ids[agency] / source
        folder.mkdir(parents=True, exist_ok=True)
        text = part.drop("agency").write_csv()
        encoding = "gb18030" if agency % 8 == 0 else "utf-8"
        (folder / name).write_bytes(text.encode(encoding))


def build(root: Path, agencies: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"ha-{i:04d}" for i in range(agencies)]
    root.mkdir(parents=True, exist_ok=True)
    registry = pl.DataFrame(
        {
            "agency_id": ids,
            "机关名称": [f"淮安市第{i}局" for i in range(agencies)],
            "统一社会信用代码": [""] * agencies,
            "上级机关": [""] * agencies,
            "渠道": ["政府网站|公众号"] * agencies,
            "规章制定权": ["否"] * agencies,
            "收费小数位": ["2"] * agencies,
        }
    )
    (root / "agencies.csv").write_text(registry.write_csv(), encoding="utf-8")
    write_per_agency(
        decisions(rng, PENALTIES, agencies, "行政处罚决定书文号", "处罚决定日期", "淮罚"),
        root, "penalty", "xzcf-2024.csv", ids,
    )  # fmt: skip
    write_per_agency(
        decisions(rng, LICENCES, agencies, "行政许可决定文书号", "许可决定日期", "淮许"),
        root, "licensing", "xzxk-2024.csv", ids,
    )  # fmt: skip
    n = REQUESTS_PER_AGENCY * agencies
    received = pl.Series(rng.integers(-40, 366, size=n))
    took = pl.Series(rng.integers(0, 60, size=n))
    requests = (
        pl.DataFrame({"agency": rng.integers(0, agencies, size=n), "r": received, "t": took})
        .with_columns(
            pl.format("YSQ-{}", pl.int_range(pl.len())).alias("申请编号"),
            (pl.lit(dt.date(2024, 1, 1)) + pl.duration(days=pl.col("r")))
            .dt.to_string("%Y-%m-%d")
            .alias("收到日期"),
            pl.lit("自然人").alias("申请人类型"),
            (pl.lit(dt.date(2024, 1, 1)) + pl.duration(days=pl.col("r") + pl.col("t")))
            .dt.to_string("%Y-%m-%d")
            .alias("办结日期"),
            pl.lit("不予公开").alias("办理结果"),
            pl.lit("属于国家秘密|本机关不掌握相关政府信息").alias("具体情形"),
            pl.lit("张某").alias("申请人姓名"),
        )
        .drop("r", "t")
    )
    write_per_agency(requests, root, "requests", "ysqgk.csv", ids)
    n = FEES_PER_AGENCY * agencies
    fees = (
        pl.DataFrame(
            {
                "agency": rng.integers(0, agencies, size=n),
                "fen": rng.integers(-5_000, 900_000, size=n),
            }
        )
        .with_columns(
            pl.format("FEE-{}", pl.int_range(pl.len())).alias("票据号"),
            pl.lit("城市道路占用费").alias("收费项目"),
            pl.lit("2024-06-01").alias("缴款日期"),
            (pl.col("fen") / 100).round(2).cast(pl.String).alias("金额（元）"),
        )
        .drop("fen")
    )
    write_per_agency(fees, root, "fees", "fees.csv", ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--agencies", type=int, default=400)
    args = parser.parse_args()
    started = time.perf_counter()
    build(args.root, args.agencies)
    print(f"landing zone at {args.root} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
