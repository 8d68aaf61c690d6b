"""Landing files as upstream systems really send them: reader edge cases, one per test."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.io.landing import (
    LocalLanding,
    UnreadableFile,
    group_files,
    read_source,
    read_table,
    read_wechat,
)
from tests.helpers import RUN_DATE
from transforms.normalize import normalize_source
from transforms.sources import SOURCES

BEIJING_NOON_2024 = 1717214400  # 2024-06-01 12:00 Asia/Shanghai


def _normalized(raw: pl.DataFrame, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    lineage = raw.with_columns(
        agency_id=pl.lit("ag-a"),
        file=pl.lit("f"),
        row=pl.col("row").cast(pl.UInt32),
        delivered_at=pl.lit(dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
        delivery=pl.lit(0, pl.UInt32),
    )
    records, quarantine = normalize_source(lineage.lazy(), SOURCES[source], RUN_DATE)
    return records.collect(), quarantine.collect()


def test_wechat_article_without_is_deleted_counts_as_published() -> None:
    body = {
        "item": [
            {
                "article_id": "A",
                "content": {
                    "create_time": BEIJING_NOON_2024,
                    "news_item": [{"title": "t"}, {"title": "u", "is_deleted": False}],
                },
            }
        ]
    }
    records, quarantine = _normalized(read_wechat(json.dumps(body).encode(), "号"), "wechat")
    assert quarantine.is_empty()
    assert records["is_deleted"].to_list() == [False, False]


def test_wechat_error_body_is_rejected_not_read_as_nothing() -> None:
    with pytest.raises(UnreadableFile, match="item"):
        read_wechat(b'{"errcode": 40001, "errmsg": "invalid credential"}', "号")


def test_two_headers_that_clean_alike_keep_the_first() -> None:
    text = "票据号,金额（元）,缴款日期,金额(元)\nF1,10.00,2024-01-01,99.00\n".encode()
    frame = read_table(text, ".csv", SOURCES["fees"].headers, SOURCES["fees"].required_headers)
    assert frame["金额（元）"].to_list() == ["10.00"]


def test_refusal_whose_only_item_is_disclosed_is_quarantined() -> None:
    raw = pl.DataFrame(
        {
            "row": [2],
            "申请编号": ["R"],
            "收到日期": ["2024-01-02"],
            "申请人类型": ["自然人"],
            "办结日期": ["2024-01-05"],
            "办理结果": ["不予公开"],
            "具体情形": ["予以公开"],
        }
    )
    records, quarantine = _normalized(raw, "requests")
    assert records.is_empty()
    assert quarantine["column"].to_list() == ["具体情形"]


def _deliver(root: Path, path: str, text: str, when: dt.datetime) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    os.utime(target, (when.timestamp(), when.timestamp()))


def _website_states(root: Path) -> list[str]:
    landing = LocalLanding(root)
    by_source, _ = group_files(landing.files())
    read = read_source(landing, SOURCES["website"], by_source["website"], {"ag-a": ["政府网站"]})
    records, _ = normalize_source(read.raw.lazy(), SOURCES["website"], RUN_DATE)
    return records.collect()["state"].cast(pl.String).to_list()


HEADER = "索引号,标题,栏目,发布日期,公开方式,状态,链接\n"
PUBLISHED = HEADER + "W1,t,c,2024-03-01,主动公开,已发布,\n"
WITHDRAWN = HEADER + "W1,t,c,2024-03-01,主动公开,已撤回,\n"


def test_identical_copy_in_another_subfolder_does_not_undo_a_correction(tmp_path) -> None:
    t = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    _deliver(tmp_path, "ag-a/website/2024-12/export.csv", PUBLISHED, t)
    _deliver(tmp_path, "ag-a/website/2025-01/fix.csv", WITHDRAWN, t + dt.timedelta(days=1))
    _deliver(tmp_path, "ag-a/website/2025-02/export-again.csv", PUBLISHED, t + dt.timedelta(days=2))
    assert _website_states(tmp_path) == ["withdrawn"]


def test_same_delivery_time_ties_go_by_file_name_not_folder(tmp_path) -> None:
    t = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    _deliver(tmp_path, "ag-a/website/2025-01/a.csv", PUBLISHED, t)
    _deliver(tmp_path, "ag-a/website/2024-12/z.csv", WITHDRAWN, t)
    assert _website_states(tmp_path) == ["withdrawn"]


# Small plain CSVs are parsed together, one parse per header: to the very rows each file gives
# when read alone.

_FEES = SOURCES["fees"]
_FEE_HEADER = "票据号,收费项目,缴款日期,金额（元）"


def _read_both_ways(root: Path) -> tuple:
    zone = LocalLanding(root)
    files = group_files(zone.files())[0]["fees"]
    channels = {"ag-a": ["政府网站"], "ag-b": ["政府网站"]}
    together = read_source(zone, _FEES, files, channels)
    alone = read_source(zone, _FEES, files, channels, together=False)
    return together, alone


def _assert_read_alike(together, alone) -> None:
    assert together.raw.equals(alone.raw)
    assert together.rejected.sort(pl.all()).equals(alone.rejected.sort(pl.all()))
    assert together.rows_read == alone.rows_read
    assert together.inputs == alone.inputs


_EDGE_FILES = {
    "plain.csv": f"{_FEE_HEADER}\nF1,复印费,2024-03-01,1.00\nF2,,2024-03-02,2.00\n",
    "no-last-line-end.csv": f"{_FEE_HEADER}\nF3,复印费,2024-03-01,3.00",
    "empty-quoted.csv": f'{_FEE_HEADER}\nF4,"",2024-03-01,"4.00"\n',
    "comma-in-quotes.csv": f'{_FEE_HEADER}\nF5,"复印,打印",2024-03-01,5.00\n',
    "ragged.csv": f"{_FEE_HEADER}\nF6,复印费,2024-03-01\nF7,复印费,2024-03-01,7.00,extra\n",
    "blank-lines.csv": f"{_FEE_HEADER}\n\nF8,复印费,2024-03-01,8.00\n\n",
    "all-empty-row.csv": f"{_FEE_HEADER}\n,,,\nF9,复印费,2024-03-01,9.00\n",
    "header-only.csv": f"{_FEE_HEADER}\n",
    "half-width.csv": "票据号,收费项目,缴款日期,金额(元)\nF10,复印费,2024-03-01,10.00\n",
    "reordered.csv": "金额（元）,票据号,缴款日期\n11.00,F11,2024-03-01\n",
    "no-amount.csv": "票据号,收费项目,缴款日期\nF12,复印费,2024-03-01\n",
    "crlf.csv": f"{_FEE_HEADER}\r\nF13,复印费,2024-03-01,13.00\r\n",
    "unclosed.csv": f'{_FEE_HEADER}\nF14,"复印费,2024-03-01,14.00\n',
    "row-column.csv": "票据号,row,缴款日期,金额（元）\nF15,x,2024-03-01,15.00\n",
    "one-column.csv": "票据号\nF16\n\nF17\n",
}


def test_small_plain_csvs_read_together_give_each_files_rows(tmp_path) -> None:
    t = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for place, (name, text) in enumerate(sorted(_EDGE_FILES.items())):
        for agency in ("ag-a", "ag-b"):  # two agencies, the same header: one parse
            _deliver(tmp_path, f"{agency}/fees/{name}", text, t + dt.timedelta(minutes=place))
    gb18030 = tmp_path / "ag-b/fees/gb18030.csv"
    gb18030.write_bytes(f"{_FEE_HEADER}\nF18,复印费,2024-03-01,18.00\n".encode("gb18030"))
    (tmp_path / "ag-a/fees/copy.csv").write_bytes((tmp_path / "ag-a/fees/plain.csv").read_bytes())

    together, alone = _read_both_ways(tmp_path)

    _assert_read_alike(together, alone)
    assert "F18" in together.raw["票据号"].to_list()
    assert {"ag-a/fees/no-amount.csv", "ag-a/fees/unclosed.csv"} <= set(together.rejected["file"])


_VALUES = st.sampled_from(
    ["", "F1", "复印费", "2024-03-01", "1.00", '""', '"x"', '"a,b"', '""""', " ", "a b"]
)


@settings(max_examples=40, deadline=None)
@given(
    files=st.lists(
        st.lists(st.lists(_VALUES, min_size=3, max_size=5), max_size=4), min_size=1, max_size=4
    ),
    header=st.sampled_from(
        [_FEE_HEADER, "票据号,收费项目,缴款日期", "金额（元）,票据号,缴款日期,备注"]
    ),
)
def test_any_small_csvs_read_together_give_each_files_rows(tmp_path_factory, files, header) -> None:
    root = tmp_path_factory.mktemp("landing")
    t = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for place, lines in enumerate(files):
        text = "\n".join([header, *(",".join(values) for values in lines)]) + "\n"
        _deliver(root, f"ag-{'ab'[place % 2]}/fees/f{place}.csv", text, t)

    _assert_read_alike(*_read_both_ways(root))


def test_normalizing_a_group_of_agencies_at_a_time_keeps_every_record_and_reason(
    tmp_path,
) -> None:
    from transforms.normalize import normalize_in_groups

    t = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for agency in ("ag-a", "ag-b", "ag-c"):
        first = f"{_FEE_HEADER}\nF1,复印费,2024-03-01,1.00\nF2,复印费,2024-03-02,2.00\nF2,复印费,2024-03-02,3.00\n"
        correction = f"{_FEE_HEADER}\nF1,复印费,2024-03-01,9.00\nF3,复印费,2024-13-01,1.00\n"
        _deliver(tmp_path, f"{agency}/fees/first.csv", first, t)
        _deliver(tmp_path, f"{agency}/fees/correction.csv", correction, t + dt.timedelta(days=1))
    zone = LocalLanding(tmp_path)
    files = group_files(zone.files())[0]["fees"]
    raw = read_source(zone, _FEES, files, {a: [] for a in ("ag-a", "ag-b", "ag-c")}).raw

    whole = normalize_in_groups(raw, _FEES, RUN_DATE, rows=10**9)
    one_agency_each = normalize_in_groups(raw, _FEES, RUN_DATE, rows=1)

    for grouped, at_once in zip(one_agency_each, whole, strict=True):
        assert grouped.sort(pl.all()).equals(at_once.sort(pl.all()))
    records, quarantine = one_agency_each
    assert sorted(records["amount_fen"]) == [900, 900, 900]  # each agency's correction of F1
    # F2 twice in one file with other values (2 rows an agency), F3's impossible date (1 row).
    assert sorted(quarantine.group_by("reason").len()["len"]) == [3, 6]


def test_files_joined_a_few_at_a_time_keep_their_rows_and_order(tmp_path, monkeypatch) -> None:
    from flows.io import landing

    t = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for place, (name, text) in enumerate(sorted(_EDGE_FILES.items())):
        _deliver(tmp_path, f"ag-a/fees/{name}", text, t + dt.timedelta(minutes=place))
    whole = _read_both_ways(tmp_path)

    monkeypatch.setattr(landing, "JOINED_PER_QUERY", 2)  # a chunk boundary between most files
    in_chunks = _read_both_ways(tmp_path)

    for chunked, at_once in zip(in_chunks, whole, strict=True):
        assert chunked.raw.equals(at_once.raw)
        assert chunked.rejected.equals(at_once.rejected)


# Small WeChat exports are parsed together, as one JSON array: to the very rows (or reasons)
# each file gives when read alone.

_ARTICLE = {"title": "通知", "is_deleted": False}
_WECHAT_BODIES = {
    "two-items.json": {
        "item": [
            {"article_id": "A1", "content": {"create_time": 1717200000, "news_item": [_ARTICLE]}},
            {
                "article_id": "A2",
                "content": {"create_time": 1717300000, "news_item": [_ARTICLE, _ARTICLE]},
            },
        ]
    },
    "null-item.json": {"item": [None, {"article_id": "A3", "content": {"news_item": []}}]},
    "empty-list.json": {"item": [], "total_count": 0},
    "error-body.json": {"errcode": 40001, "errmsg": "invalid credential"},
    "deleted.json": {
        "item": [
            {
                "article_id": "A4",
                "content": {
                    "create_time": 1717400000,
                    "news_item": [{"title": "撤", "is_deleted": True}],
                },
            }
        ]
    },
    "null-news.json": {"item": [{"article_id": "A5", "content": {"news_item": [None, _ARTICLE]}}]},
    "extra-fields.json": {"item": [{"article_id": "A6", "x": [1, 2], "content": {}}], "y": {}},
}
_WECHAT_TEXTS = {  # not one JSON object: read alone
    "array-body.json": json.dumps([_WECHAT_BODIES["two-items.json"]] * 2),
    "bom.json": "\ufeff" + json.dumps(_WECHAT_BODIES["deleted.json"]),
    "scalar.json": "5",
    "cut-off.json": '{"item": [',
}
_SPACED = "\n  " + json.dumps(_WECHAT_BODIES["deleted.json"], ensure_ascii=False) + "\r\n"
# Bodies that look like one object but make the array unreadable or of another length.
_WECHAT_SPOILERS = {
    "two-objects.json": json.dumps(_WECHAT_BODIES["deleted.json"]) + ",{}",
    "not-json.json": '{"item": [}',
    "wrong-type.json": '{"item": "A7"}',
}


def _read_wechat_both_ways(root: Path) -> tuple:
    zone = LocalLanding(root)
    files = group_files(zone.files())[0]["wechat"]
    channels = {"ag-a": ["公众号"], "ag-b": ["公众号"]}
    together = read_source(zone, SOURCES["wechat"], files, channels)
    alone = read_source(zone, SOURCES["wechat"], files, channels, together=False)
    return together, alone


@pytest.mark.parametrize("spoiler", [None, *_WECHAT_SPOILERS])
def test_small_wechat_exports_read_together_give_each_files_rows(
    tmp_path, monkeypatch, spoiler
) -> None:
    from flows.io import landing

    texts = {name: json.dumps(body) for name, body in _WECHAT_BODIES.items()}
    texts |= _WECHAT_TEXTS | {"spaces.json": _SPACED}
    if spoiler:  # then every file is read alone
        texts[spoiler] = _WECHAT_SPOILERS[spoiler]
    t = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for place, (name, text) in enumerate(sorted(texts.items())):
        for agency in ("ag-a", "ag-b"):
            _deliver(
                tmp_path, f"{agency}/wechat/公众号/{name}", text, t + dt.timedelta(minutes=place)
            )
    read_alone = []
    real_read = landing.read_wechat

    def counted(data: bytes, account: str) -> pl.DataFrame:
        read_alone.append(data)
        return real_read(data, account)

    monkeypatch.setattr(landing, "read_wechat", counted)

    together, alone = _read_wechat_both_ways(tmp_path)

    # Together, only what is not one object was read alone (both agencies' copies); then every
    # file once more, alone.
    n_together = 2 * len(texts) if spoiler else 2 * len(_WECHAT_TEXTS)
    assert len(read_alone) == n_together + 2 * len(texts)
    _assert_read_alike(together, alone)
    assert together.raw.filter(pl.col("file") == "ag-b/wechat/公众号/two-items.json").height == 3
    rejected = set(together.rejected["file"])
    assert {"ag-a/wechat/公众号/error-body.json", "ag-a/wechat/公众号/scalar.json"} <= rejected
