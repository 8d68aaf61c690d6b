"""Build a landing zone of many small agencies: a few records each, in every source's file kind.

    uv run python bench/make_small_landing.py bench/out/small-50000 --agencies 50000

Each agency delivers one file per source (website, WeChat JSON, documents, licensing, penalty,
enforcement, fees, requests, appeals: nine files, about 25 records), as a province's districts
and townships do. The rows of all agencies are drawn at once (numpy, Polars); only the writing
loops, one file at a time. One agency in eight exports GB18030, and the exports carry personal
data columns the pipeline must drop.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import polars as pl

ACCOUNT = "政务号"  # each agency's WeChat account (its folder, and a 渠道 of the registry)
PER_AGENCY = {  # rows per agency and source
    "website": 4,
    "wechat": 3,
    "documents": 1,
    "licensing": 4,
    "penalty": 4,
    "enforcement": 1,
    "fees": 4,
    "requests": 3,
    "appeals": 1,
}
FILE_NAME = {
    "website": "cms-export.csv",
    "documents": "gfxwj.csv",
    "licensing": "xzxk.csv",
    "penalty": "xzcf.csv",
    "enforcement": "xzqz.csv",
    "fees": "fees.csv",
    "requests": "ysqgk.csv",
    "appeals": "cases.csv",
}


def rows(rng: np.random.Generator, agencies: int, source: str) -> pl.DataFrame:
    """``PER_AGENCY[source]`` rows for every agency, numbered within the agency (``n``), with
    a day offset from 2024-01-01 (mostly in 2024, some in 2023 and 2025)."""
    per = PER_AGENCY[source]
    return pl.DataFrame(
        {
            "agency": np.repeat(np.arange(agencies), per),
            "n": np.tile(np.arange(per), agencies),
            "day": rng.integers(-40, 366 + 20, size=agencies * per),
        }
    )


def day(plus: int = 0) -> pl.Expr:
    """The row's date, ``plus`` days later, as exports write it."""
    offset = pl.col("day") + plus
    return (pl.lit(dt.date(2024, 1, 1)) + pl.duration(days=offset)).dt.to_string("%Y-%m-%d")


def pick(values: list[str], index: pl.Expr) -> pl.Expr:
    """The ``index``-th (modulo) of ``values``."""
    return pl.lit(pl.Series(values)).gather(index % len(values))


def exports(rng: np.random.Generator, agencies: int) -> dict[str, pl.DataFrame]:
    """Every CSV source's rows of every agency (column ``agency`` says whose)."""
    person = pl.format("某某{}", pl.col("n"))
    decision = [
        pl.lit("法人及非法人组织").alias("行政相对人类别"),
        pl.format("5002221980{}1234", pl.col("agency")).alias("证件号码"),
    ]
    frames = {
        "website": rows(rng, agencies, "website").with_columns(
            pl.format("{}-{}", pl.col("agency"), pl.col("n")).alias("索引号"),
            pl.format("工作动态第{}期", pl.col("n")).alias("标题"),
            pl.lit("工作动态").alias("栏目"),
            day().alias("发布日期"),
            pick(["主动公开", "主动公开", "依申请公开"], pl.col("day")).alias("公开方式"),
            pick(["已发布"] * 9 + ["已撤回"], pl.col("day")).alias("状态"),
            pl.lit("").alias("链接"),
        ),
        "documents": rows(rng, agencies, "documents").with_columns(
            pl.format("文〔2024〕{}号", pl.col("agency")).alias("文号"),
            pl.lit("管理办法").alias("标题"),
            pl.lit("行政规范性文件").alias("文件类别"),  # 规章 needs rule-making power (B9)
            day().alias("公布日期"),
            pl.lit("").alias("废止日期"),
        ),
        "licensing": rows(rng, agencies, "licensing").with_columns(
            pl.format("许〔2024〕{}号", pl.col("n")).alias("行政许可决定文书号"),
            day().alias("许可决定日期"),
            person.alias("行政相对人名称"),
            *decision,
        ),
        "penalty": rows(rng, agencies, "penalty").with_columns(
            pl.format("罚〔2024〕{}号", pl.col("n")).alias("行政处罚决定书文号"),
            day().alias("处罚决定日期"),
            person.alias("行政相对人名称"),
            *decision,
        ),
        "enforcement": rows(rng, agencies, "enforcement").with_columns(
            pl.format("强〔2024〕{}号", pl.col("n")).alias("决定书文号"),
            pick(["行政强制措施", "行政强制执行"], pl.col("day")).alias("强制类别"),
            day().alias("决定日期"),
        ),
        "fees": rows(rng, agencies, "fees").with_columns(
            pl.format("FEE-{}", pl.col("n")).alias("票据号"),
            pl.lit("城市道路占用费").alias("收费项目"),
            day().alias("缴款日期"),
            pl.format("{}.{}", pl.col("day").abs() * 7 + 1, pl.col("n") * 11 + 10).alias(
                "金额（元）"
            ),
            person.alias("缴款人"),
        ),
        "requests": rows(rng, agencies, "requests").with_columns(
            pl.format("YSQ-{}", pl.col("n")).alias("申请编号"),
            day().alias("收到日期"),
            pick(["自然人", "商业企业"], pl.col("n")).alias("申请人类型"),
            day(15).alias("办结日期"),
            pick(["予以公开", "不予公开", "无法提供"], pl.col("day")).alias("办理结果"),
            pick(["", "属于国家秘密", "本机关不掌握相关政府信息"], pl.col("day")).alias("具体情形"),
            pl.lit("张某").alias("申请人姓名"),
        ),
        "appeals": rows(rng, agencies, "appeals").with_columns(
            pl.format("C{}", pl.col("n")).alias("案件编号"),
            pick(["行政复议", "行政诉讼"], pl.col("day")).alias("案件类型"),
            pick(["", "未经复议直接起诉"], pl.col("day")).alias("起诉方式"),  # litigation only
            day().alias("立案日期"),
            day(30).alias("结案日期"),
            pick(["维持", "纠正", "其他"], pl.col("day")).alias("结果"),
        ),
    }
    return {name: frame.drop("n", "day") for name, frame in frames.items()}


def wechat_bodies(rng: np.random.Generator, agencies: int) -> pl.Series:
    """Each agency's freepublish/batchget response body (JSON), in agency order."""
    beijing_2024 = 1_704_038_400  # 2024-01-01 00:00 Beijing time, as a Unix time
    items = rows(rng, agencies, "wechat").with_columns(
        (beijing_2024 + pl.col("day") * 86_400 + 36_000).alias("stamp")
    )
    # Built with concat_str: JSON's braces would read as pl.format placeholders.
    stamp = pl.col("stamp").cast(pl.String)
    item = pl.concat_str(
        pl.lit('{"article_id":"'), pl.col("n").cast(pl.String),
        pl.lit('","content":{"news_item":[{"title":"推送'), pl.col("n").cast(pl.String),
        pl.lit('","is_deleted":false}],"create_time":'), stamp,
        pl.lit(',"update_time":'), stamp, pl.lit('},"update_time":'), stamp, pl.lit("}"),
    )  # fmt: skip
    per = PER_AGENCY["wechat"]
    bodies = (
        items.group_by("agency", maintain_order=True)
        .agg(item.str.join(",").alias("item"))
        .select(
            pl.concat_str(
                pl.lit(f'{{"total_count":{per},"item_count":{per},"item":['),
                pl.col("item"),
                pl.lit("]}"),
            )
        )
    )
    return bodies.to_series()


def build(root: Path, agencies: int, seed: int = 11) -> int:
    """The landing zone at ``root``; returns the number of files written."""
    rng = np.random.default_rng(seed)
    ids = [f"sm-{i:05d}" for i in range(agencies)]
    root.mkdir(parents=True, exist_ok=True)
    registry = pl.DataFrame({"agency_id": ids}).with_columns(
        pl.format("第{}乡镇人民政府", pl.int_range(pl.len())).alias("机关名称"),
        pl.lit("").alias("统一社会信用代码"),
        pl.lit("").alias("上级机关"),
        pl.lit(f"政府网站|{ACCOUNT}").alias("渠道"),
        pl.lit("否").alias("规章制定权"),
        pl.lit("2").alias("收费小数位"),
    )
    (root / "agencies.csv").write_text(registry.write_csv(), encoding="utf-8")
    written = 1
    for source, frame in exports(rng, agencies).items():
        for (agency,), part in frame.partition_by("agency", as_dict=True).items():
            folder = root / ids[agency] / source
            folder.mkdir(parents=True, exist_ok=True)
            encoding = "gb18030" if agency % 8 == 0 else "utf-8"
            text = part.drop("agency").write_csv()
            (folder / FILE_NAME[source]).write_bytes(text.encode(encoding))
            written += 1
    for agency, body in enumerate(wechat_bodies(rng, agencies)):
        folder = root / ids[agency] / "wechat" / ACCOUNT
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "batchget-2024.json").write_bytes(body.encode("utf-8"))
        written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--agencies", type=int, default=50_000)
    args = parser.parse_args()
    started = time.perf_counter()
    files = build(args.root, args.agencies)
    print(f"{files} files at {args.root} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
