"""A realistic sample landing zone for 重庆市綦江区城市管理局, whose 2024 report it reproduces.

The raw records carry the mess of real exports: other years, re-deliveries and corrections,
withdrawn and deleted items, GB18030, BOM and XLSX files, personal data columns and a few broken
rows and files. Everything is seeded, so two demos are byte-for-byte the same. Files are named
by delivery date, so a copy whose modification times are lost (an `aws s3 sync` in one second)
still orders its deliveries right.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import polars as pl

from flows.clock import BEIJING

AGENCY = "cq-qijiang-cgj"
NIL_AGENCY = "cq-qijiang-sfj"
DEMO_YEAR = 2024

# The published 2024 figures the sample is built to reproduce, and the noise around them.
TARGET = {
    "website": 152,
    "wechat:綦江城管": 60,
    "wechat:綦江城管执法": 22,
    "licensing": 1322,
    "penalty": 532,
    "fees_fen": 727_081_234,  # 7,270,812.34 元 → 727.08 万元
}


def write_csv(frame: pl.DataFrame, path: Path, encoding: str = "utf-8") -> None:
    """A CSV as upstream systems write it: UTF-8, UTF-8 with BOM ("utf-8-sig") or GB18030."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(frame.write_csv().encode(encoding))


def write_xlsx(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_excel(path, autofit=False)


def deliver(path: Path, on: dt.datetime) -> None:
    """Give a file the modification time of its delivery (Beijing time)."""
    stamp = on.replace(tzinfo=BEIJING).timestamp()
    os.utime(path, (stamp, stamp))


def random_dates(rng: np.random.Generator, n: int, start: dt.date, end: dt.date) -> list[str]:
    days = rng.integers(0, (end - start).days + 1, size=n)
    return [(start + dt.timedelta(days=int(d))).isoformat() for d in days]


def _people(rng: np.random.Generator, n: int) -> dict[str, list[str]]:
    """Personal data columns, present in the exports so the pipeline must drop them."""
    surnames = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"))
    names = [f"{s}某{i % 97}" for i, s in enumerate(rng.choice(surnames, size=n))]
    ids = [
        f"500222{1950 + i % 60}{(i % 12) + 1:02d}{(i % 28) + 1:02d}{i % 1000:03d}X"
        for i in range(n)
    ]
    phones = [f"138{i:08d}"[:11] for i in rng.integers(10_000_000, 99_999_999, size=n)]
    return {"行政相对人名称": names, "法定代表人": names, "证件号码": ids, "联系电话": phones}


def _registry(root: Path) -> None:
    registry = pl.DataFrame(
        {
            "agency_id": [AGENCY, NIL_AGENCY],
            "机关名称": ["重庆市綦江区城市管理局", "重庆市綦江区司法局"],
            "统一社会信用代码": ["11500222MB1234567X", "11500222MB7654321Y"],
            "上级机关": ["", ""],
            "渠道": ["政府网站|綦江城管|綦江城管执法", "政府网站"],
            "规章制定权": ["否", "否"],
            "收费小数位": ["2", "2"],
        }
    )
    write_csv(registry, root / "agencies.csv")


def _website(rng: np.random.Generator, base: Path) -> None:
    counted = TARGET["website"] - 2  # the correction below adds three and withdraws one
    n_other_year, n_on_request, n_withdrawn = 30, 11, 5
    rows = counted + n_other_year + n_on_request + n_withdrawn
    dates = (
        random_dates(rng, counted, dt.date(2024, 1, 1), dt.date(2024, 12, 31))
        + random_dates(rng, n_other_year - 1, dt.date(2023, 1, 1), dt.date(2023, 12, 31))
        + ["2023-12-30"]
        + random_dates(rng, n_on_request + n_withdrawn, dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    )
    mode = ["主动公开"] * (counted + n_other_year) + ["依申请公开"] * 8 + ["不予公开"] * 3
    mode += ["主动公开"] * n_withdrawn
    state = ["已发布"] * (rows - n_withdrawn) + ["已撤回"] * n_withdrawn
    first = pl.DataFrame(
        {
            "索引号": [f"115002220090-{i:05d}" for i in range(rows)],
            "标题": [f"綦江区城市管理局工作动态（第{i}期）" for i in range(rows)],
            "栏目": ["工作动态"] * rows,
            "发布日期": dates,
            "公开方式": mode,
            "状态": state,
            "链接": [f"http://www.cqqj.gov.cn/bm/qcgj/zwgk/{i}.html" for i in range(rows)],
        }
    )
    # Two broken rows: an impossible date and a missing 公开方式.
    broken = pl.DataFrame(
        {
            "索引号": ["115002220090-99998", "115002220090-99999"],
            "标题": ["日期录错的稿件", "缺公开方式的稿件"],
            "栏目": ["通知公告"] * 2,
            "发布日期": ["2024-02-30", "2024-06-01"],
            "公开方式": ["主动公开", ""],
            "状态": ["已发布"] * 2,
            "链接": [""] * 2,
        }
    )
    write_csv(pl.concat([first, broken]), base / "website" / "2025-01-05-cms-export.csv")
    deliver(base / "website" / "2025-01-05-cms-export.csv", dt.datetime(2025, 1, 5, 9))
    # The correction: one counted item withdrawn, two withdrawn items restored, one 2023 date fixed.
    withdrawn = rows - n_withdrawn
    correction = first.select(
        pl.all().gather([0, withdrawn, withdrawn + 1, counted + n_other_year - 1])
    ).with_columns(
        状态=pl.Series(["已撤回", "已发布", "已发布", "已发布"]),
        发布日期=pl.Series(
            [first["发布日期"][0], "2024/3/5", "2024年7月9日", "2024-01-02 10:30:00"]
        ),
    )
    write_xlsx(correction, base / "website" / "2025-01-10-cms-correction.xlsx")
    deliver(base / "website" / "2025-01-10-cms-correction.xlsx", dt.datetime(2025, 1, 10, 16))
    # The same first export delivered again after the correction: it must change nothing.
    copy = base / "website" / "2025-01-12-cms-export (重发).csv"
    copy.write_bytes((base / "website" / "2025-01-05-cms-export.csv").read_bytes())
    deliver(copy, dt.datetime(2025, 1, 12, 8))


def _unix(day: str, hour: int, minute: int = 0) -> int:
    moment = dt.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=BEIJING)
    return int(moment.timestamp())


# The first article id of an account's export: the same in both accounts' pulls, so the demo
# counts each account's articles only when an article is told apart by its account too.
ARTICLE_ID_BASE = 2247483648


def _wechat_items(rng: np.random.Generator, account: str, counted: int) -> list[dict]:
    """Published items whose non-deleted 2024 articles number ``counted``.

    An item's articles share its ``create_time``; deleted articles ride along and never count.
    Article ids are numbered per account, as export tools do: two accounts share ids.
    """
    sizes: list[int] = []
    while sum(sizes) < counted:
        sizes.append(min(int(rng.integers(1, 4)), counted - sum(sizes)))
    days = sorted(random_dates(rng, len(sizes) - 2, dt.date(2024, 1, 2), dt.date(2024, 12, 30)))
    # Beijing midnight edges: 00:20 on 1 Jan 2024 is still 2023 in UTC but counts for 2024;
    # 23:50 on 31 Dec 2024 counts; 00:05 on 1 Jan 2025 is 2024 in UTC and must not.
    stamps = [
        _unix("2024-01-01", 0, 20),
        *(_unix(d, 18) for d in days),
        _unix("2024-12-31", 23, 50),
    ]
    stamps += [_unix("2025-01-01", 0, 5), _unix("2023-11-20", 9), _unix("2023-12-31", 23, 40)]
    sizes += [2, 1, 1]
    items = []
    for number, (stamp, size) in enumerate(zip(stamps, sizes, strict=True)):
        news = [
            {
                "title": f"{account}推送{number}-{k}",
                "author": account,
                "digest": "",
                "content": "<p>正文</p>",
                "url": "https://mp.weixin.qq.com/s/x",
                "is_deleted": False,
            }
            for k in range(size)
        ]
        if rng.random() < 0.3:
            news.append({"title": "已删除的推送", "url": "", "is_deleted": True})
        items.append(
            {
                "article_id": f"{ARTICLE_ID_BASE + number}",
                "content": {"news_item": news, "create_time": stamp, "update_time": stamp},
                "update_time": stamp,
            }
        )
    return sorted(items, key=lambda item: item["content"]["create_time"])


def _batchget(items: list[dict]) -> bytes:
    body = {"total_count": len(items), "item_count": len(items), "item": items}
    return json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")


def _wechat(rng: np.random.Generator, base: Path) -> None:
    folder = base / "wechat" / "綦江城管"
    folder.mkdir(parents=True, exist_ok=True)
    items = _wechat_items(rng, "綦江城管", TARGET["wechat:綦江城管"])
    half = len(items) // 2
    # An article deleted after the first pull: the first pull still shows it, the second (newer)
    # pull marks it deleted, and the newest delivery wins.
    items[half]["content"]["news_item"].append({"title": "发布后删除的推送", "is_deleted": True})
    stale = json.loads(json.dumps(items[half]))
    stale["content"]["news_item"][-1]["is_deleted"] = False
    (folder / "batchget-2024-h1.json").write_bytes(_batchget([*items[:half], stale]))
    deliver(folder / "batchget-2024-h1.json", dt.datetime(2024, 7, 1, 3))
    (folder / "batchget-2024-h2.json").write_bytes(_batchget(items[half:]))
    deliver(folder / "batchget-2024-h2.json", dt.datetime(2025, 1, 2, 3))

    folder = base / "wechat" / "綦江城管执法"
    folder.mkdir(parents=True, exist_ok=True)
    items = _wechat_items(rng, "綦江城管执法", TARGET["wechat:綦江城管执法"])
    (folder / "batchget-2024.json").write_bytes(_batchget(items))
    deliver(folder / "batchget-2024.json", dt.datetime(2025, 1, 2, 3))
    # A pull cut off mid-transfer: rejected whole, the rest goes on.
    (folder / "batchget-partial.json").write_bytes(_batchget(items)[:200])
    deliver(folder / "batchget-partial.json", dt.datetime(2025, 1, 3, 3))


def _documents(base: Path) -> None:
    register = pl.DataFrame(
        {
            "文号": ["綦江城管发〔2019〕12号", "綦江城管发〔2025〕3号"],
            "标题": ["綦江区城市道路占用管理办法", "綦江区户外广告设置管理规定"],
            "文件类别": ["行政规范性文件", "行政规范性文件"],
            "公布日期": ["2019-05-01", "2025-03-01"],
            "废止日期": ["2023-06-30", ""],
        }
    )
    write_csv(register, base / "documents" / "gfxwj.csv", "utf-8-sig")
    deliver(base / "documents" / "gfxwj.csv", dt.datetime(2025, 4, 1, 9))


def _decisions(
    rng: np.random.Generator, n: int, key: str, date: str, start: dt.date, end: dt.date, prefix: str
) -> pl.DataFrame:
    people = _people(rng, n)
    return pl.DataFrame(
        {
            key: [
                f"{prefix}〔{d[:4]}〕{i:05d}号"
                for i, d in enumerate(random_dates(rng, n, start, end))
            ],
            date: random_dates(rng, n, start, end),
            "行政相对人名称": people["行政相对人名称"],
            "行政相对人类别": ["自然人"] * n,
            "法定代表人": people["法定代表人"],
            "证件号码": people["证件号码"],
            "数据来源单位": ["重庆市綦江区城市管理局"] * n,
        }
    )


def _licensing(rng: np.random.Generator, base: Path) -> None:
    key, date = "行政许可决定文书号", "许可决定日期"
    in_year = _decisions(
        rng, 1288, key, date, dt.date(2024, 1, 1), dt.date(2024, 12, 31), "綦城管许"
    )
    earlier = _decisions(
        rng, 15, key, date, dt.date(2023, 1, 1), dt.date(2023, 12, 31), "綦城管许旧"
    )
    main = pl.concat([in_year, earlier]).with_columns(许可类别=pl.lit("普通"))
    write_xlsx(main, base / "licensing" / "2025-01-06-xzxk.xlsx")
    deliver(base / "licensing" / "2025-01-06-xzxk.xlsx", dt.datetime(2025, 1, 6, 10))
    # The supplement (GB18030, from a Windows desktop): 32 late decisions; five 2023 dates
    # corrected into 2024; three 2024 dates corrected into 2025; two broken rows.
    late = _decisions(rng, 32, key, date, dt.date(2024, 1, 1), dt.date(2024, 12, 31), "綦城管许补")
    into_2024 = earlier[:5].with_columns(pl.lit("2024年12月30日").alias(date))
    into_2025 = in_year[:3].with_columns(pl.lit("2025/1/3").alias(date))
    broken = late[:2].with_columns(
        pl.Series(key, ["綦城管许补〔2024〕99998号", ""]),
        pl.Series(date, ["2024-13-01", "2024-05-05"]),
    )
    supplement = pl.concat([late, into_2024, into_2025, broken]).with_columns(
        许可类别=pl.lit("普通")
    )
    write_csv(supplement, base / "licensing" / "2025-01-09-xzxk-补报.csv", "gb18030")
    deliver(base / "licensing" / "2025-01-09-xzxk-补报.csv", dt.datetime(2025, 1, 9, 15))


def _penalty(rng: np.random.Generator, base: Path) -> None:
    key, date = "行政处罚决定书文号", "处罚决定日期"
    in_year = _decisions(
        rng, 520, key, date, dt.date(2024, 1, 1), dt.date(2024, 12, 31), "綦城管罚"
    )
    other = _decisions(rng, 20, key, date, dt.date(2022, 1, 1), dt.date(2023, 12, 31), "綦城管罚旧")
    fines = [f"{x:.4f}" for x in rng.integers(1, 500, size=540) / 100]
    main = pl.concat([in_year, other]).with_columns(pl.Series("罚款金额（万元）", fines))
    write_csv(main, base / "penalty" / "2025-01-06-xzcf.csv", "gb18030")
    deliver(base / "penalty" / "2025-01-06-xzcf.csv", dt.datetime(2025, 1, 6, 10))
    q4 = _decisions(rng, 12, key, date, dt.date(2024, 10, 1), dt.date(2024, 12, 31), "綦城管罚四")
    fixed_width = q4[:1].with_columns(pl.Series(date, ["２０２４－１２－２０"]))
    unreadable = q4[:1].with_columns(
        pl.Series(key, ["綦城管罚〔2024〕错号"]), pl.Series(date, ["二〇二四年十二月"])
    )
    resent = main[:3].drop("罚款金额（万元）")
    extra = pl.concat([fixed_width, q4[1:], resent, unreadable])
    write_csv(extra, base / "penalty" / "2025-01-08-xzcf-q4.csv", "utf-8-sig")
    deliver(base / "penalty" / "2025-01-08-xzcf-q4.csv", dt.datetime(2025, 1, 8, 11))


def _enforcement(base: Path) -> None:
    cases = pl.DataFrame(
        {
            "决定书文号": [f"綦城管强〔2023〕{i}号" for i in range(1, 6)],
            "强制类别": ["行政强制措施"] * 3 + ["行政强制执行", "查封"],
            "决定日期": ["2023-03-01", "2023-05-12", "2023-08-30", "2023-11-02", "2023-12-01"],
        }
    )
    write_csv(cases, base / "enforcement" / "xzqz.csv")
    deliver(base / "enforcement" / "xzqz.csv", dt.datetime(2025, 1, 6, 10))


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _fees(rng: np.random.Generator, base: Path) -> None:
    n = 1800
    fen = rng.integers(50_00, 800_000, size=n).astype(np.int64)
    fen[:12] = -rng.integers(1_00, 5_000_00, size=12)  # refunds
    fen[-1] = 0
    first_total = int(fen.sum())
    corrected_fen = 12_345_67
    wrong_fen = 1_234_567_00
    fen[-1] = TARGET["fees_fen"] - first_total - corrected_fen
    amounts = [_yuan(int(f)) for f in fen]
    payments = pl.DataFrame(
        {
            "票据号": [f"QJ2024{i:07d}" for i in range(n)],
            "收费项目": rng.choice(
                ["城市道路占用费", "城市垃圾处理费", "户外广告设置费"], size=n
            ).tolist(),
            "缴款日期": random_dates(rng, n, dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
            "金额（元）": amounts,
            "缴款人": _people(rng, n)["行政相对人名称"],
        }
    )
    earlier = payments[:40].with_columns(
        pl.format("QJ2023{}", pl.int_range(40)).alias("票据号"),
        pl.lit("2023-11-15").alias("缴款日期"),
    )
    keyed_wrong = payments[:1].with_columns(
        pl.lit("QJ2024-FIX").alias("票据号"), pl.lit(_yuan(wrong_fen)).alias("金额（元）")
    )
    bad = payments[:1].with_columns(
        pl.lit("QJ2024-BAD").alias("票据号"), pl.lit("12.345").alias("金额（元）")
    )
    write_csv(
        pl.concat([payments, earlier, keyed_wrong, bad]), base / "fees" / "2025-01-07-fees.csv"
    )
    deliver(base / "fees" / "2025-01-07-fees.csv", dt.datetime(2025, 1, 7, 9))
    # The finance office corrects a mistyped amount (an extra two digits) in a later export.
    fix = keyed_wrong.with_columns(pl.lit(_yuan(corrected_fen)).alias("金额（元）"))
    write_csv(fix, base / "fees" / "2025-01-15-fees-更正.csv")
    deliver(base / "fees" / "2025-01-15-fees-更正.csv", dt.datetime(2025, 1, 15, 9))


def _requests(base: Path) -> None:
    register = pl.DataFrame(
        {
            "申请编号": [
                "YSQ-2023-001",
                "YSQ-2023-002",
                "YSQ-2023-009",
                "YSQ-2024-001",
                "YSQ-2025-001",
            ],
            "收到日期": ["2023-03-02", "2023-11-20", "2023-02-29", "2024-05-10", "2025-02-11"],
            "申请人类型": ["自然人", "商业企业", "自然人", "自然人", "法律服务机构"],
            "办结日期": ["2023-03-20", "2023-12-11", "2023-03-10", "2024-05-28", ""],
            "办理结果": ["予以公开", "无法提供", "予以公开", "予以公开", ""],
            "具体情形": ["", "本机关不掌握相关政府信息", "", "", ""],
            "申请人姓名": ["张某", "重庆某建设有限公司", "李某", "王某", "某律师事务所"],
            "证件号码": ["500222198001011234", "", "500222199002023456", "500222197503035678", ""],
            "联系电话": ["13800000001", "02348600000", "13900000002", "13700000003", "02367000000"],
            "通讯地址": [
                "綦江区古南街道某路1号",
                "綦江区文龙街道",
                "綦江区通惠街道",
                "綦江区三江街道",
                "渝中区",
            ],
        }
    )
    write_xlsx(register, base / "requests" / "ysqgk-register.xlsx")
    deliver(base / "requests" / "ysqgk-register.xlsx", dt.datetime(2025, 2, 20, 9))


# The demo agency's narrative: the parts of the report only the office can write. Our own
# wording, in the shape real reports use; the numbers stay in the data.
NARRATIVE = """\
# 一、总体情况

## （三）政府信息管理情况
一是坚持先审后发。拟公开的信息由承办科室初审、分管领导复审后发布，确保内容准确、表述规范。
二是做好动态更新。对机构职能、办事指南等栏目定期核对，内容变化后及时更新。

## （四）政府信息公开平台建设情况
本局以区政府门户网站信息公开专栏为第一平台，以“綦江城管”“綦江城管执法”两个微信公众号为补充，\
安排专人维护，做到栏目清晰、更新及时。

## （五）监督保障情况
将政务公开工作纳入年度目标考核，主要负责同志负总责，办公室统筹推进，各科室按职责抓好落实；\
定期检查已公开内容，发现问题及时整改。

# 五、存在的主要问题及改进情况

## （一）存在的主要问题
部分信息发布的及时性有待提高，信息公开与业务工作的衔接还不够紧密。

## （二）改进情况
下一步，本局将加强对信息发布人员的业务培训，完善科室之间的信息报送机制，\
进一步提高政府信息公开工作的质量和效率。

# 六、其他需要报告的事项
本年度未收取信息处理费。无其他需要报告的事项。

# 联系方式
电子版：重庆市綦江区人民政府网站“政府信息公开”专栏
联系：重庆市綦江区城市管理局办公室
"""


def _narrative(base: Path) -> None:
    folder = base / "narrative"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{DEMO_YEAR}.md").write_text(NARRATIVE, encoding="utf-8")


def _appeals(base: Path) -> None:
    cases = pl.DataFrame(
        {
            "案件编号": ["綦府复〔2022〕31号"],
            "案件类型": ["行政复议"],
            "起诉方式": [""],
            "立案日期": ["2022-03-01"],
            "结案日期": ["2022-06-01"],
            "结果": ["维持"],
        }
    )
    write_csv(cases, base / "appeals" / "cases.csv")
    deliver(base / "appeals" / "cases.csv", dt.datetime(2025, 1, 6, 10))


def is_demo_landing(root: Path) -> bool:
    """Whether ``root`` holds a landing zone the demo wrote: its registry is the demo's, byte for
    byte (two sample agencies with made-up credit codes: no real landing zone has it)."""
    import tempfile

    found = root / "agencies.csv"
    with tempfile.TemporaryDirectory() as scratch:
        _registry(Path(scratch))
        return (
            found.is_file() and found.read_bytes() == (Path(scratch) / "agencies.csv").read_bytes()
        )


def build_demo_landing(root: str | Path, seed: int = 2024) -> Path:
    """Write the sample landing zone under ``root`` and return it."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    base = root / AGENCY
    _registry(root)
    _website(rng, base)
    _wechat(rng, base)
    _documents(base)
    _licensing(rng, base)
    _penalty(rng, base)
    _enforcement(base)
    _fees(rng, base)
    _requests(base)
    _appeals(base)
    _narrative(base)
    return root
