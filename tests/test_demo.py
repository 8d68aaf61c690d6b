"""The demo landing zone compiles to the published 2024 report of 重庆市綦江区城市管理局."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from flows.demo.landing import build_demo_landing
from tests.reference_reports import QIJIANG_CGJ_2024 as REFERENCE
from transforms.cells import APPEALS_COLUMNS, APPEALS_ROWS, REQUEST_COLUMNS, REQUEST_ROWS


@pytest.fixture(scope="module")
def demo_run(prefect_api, tmp_path_factory):
    from flows.compile import compile_reports
    from tests.helpers import RUN_DATE

    root = tmp_path_factory.mktemp("demo")
    landing = build_demo_landing(root / "landing")
    result = compile_reports(
        year=REFERENCE["year"],
        landing=str(landing),
        out=str(root / "published"),
        warehouse=str(root / "warehouse"),
        run_date=RUN_DATE,
    )
    return root, result


def _published_cells(root: Path) -> pl.DataFrame:
    return (
        pl.scan_parquet(root / "published/report_cells/**/*.parquet", hive_partitioning=True)
        .filter(pl.col("agency_id") == REFERENCE["agency_id"], pl.col("year") == REFERENCE["year"])
        .collect()
    )


def _value(cells: pl.DataFrame, section: str, row: str, column: str) -> Decimal:
    return cells.filter(section=section, row=row, column=column)["value"].item()


def test_demo_reproduces_every_number_of_the_reference_report(demo_run) -> None:
    root, result = demo_run
    cells = _published_cells(root)

    for row, items in REFERENCE["channels"].items():
        assert _value(cells, "channels", row, "items") == items, row
    for (row, column), value in REFERENCE["proactive"].items():
        assert _value(cells, "proactive", row, column) == Decimal(value), (row, column)
    for (row, _), expected in zip(REQUEST_ROWS, REFERENCE["requests"], strict=True):
        got = [_value(cells, "requests", row, c) for c, _ in REQUEST_COLUMNS]
        assert got == expected, row
    for (row, _), expected in zip(APPEALS_ROWS, REFERENCE["appeals"], strict=True):
        got = [_value(cells, "appeals", row, c) for c, _ in APPEALS_COLUMNS]
        assert got == expected, row
    assert result.ok


def test_demo_noise_is_quarantined_not_counted(demo_run) -> None:
    _, result = demo_run
    reasons = result.quarantine["reason"].to_list()
    assert any("2024-02-30" in r for r in reasons)
    assert any("查封" in r for r in reasons)
    assert any("freepublish/batchget" in r for r in reasons)  # the truncated WeChat pull
    assert result.quarantine.filter(pl.col("file").is_null()).is_empty()


def test_no_personal_data_under_out_or_in_normalized_records(demo_run) -> None:
    root, _ = demo_run
    landing = root / "landing"
    # Names, ID numbers, phone numbers and addresses exactly as the demo exports carry them.
    register = pl.read_excel(landing / "cq-qijiang-cgj/requests/ysqgk-register.xlsx")
    penalty = pl.read_csv(
        (landing / "cq-qijiang-cgj/penalty/2025-01-06-xzcf.csv")
        .read_bytes()
        .decode("gb18030")
        .encode()
    )
    personal = set(register.select("申请人姓名", "证件号码", "联系电话", "通讯地址").to_series(0))
    for column in ("证件号码", "联系电话", "通讯地址"):
        personal |= set(register[column].drop_nulls())
    personal |= set(penalty["行政相对人名称"]) | set(penalty["证件号码"])
    personal = {p for p in personal if p}
    assert len(personal) > 500

    # Neither the published dataset nor the normalized records keep any of it.
    published = [p for p in (root / "published").rglob("*") if p.is_file()]
    published += list((root / "warehouse" / "records").rglob("*.parquet"))
    assert published
    for path in published:
        if path.suffix == ".parquet":
            text = json.dumps(pl.read_parquet(path).to_dicts(), default=str, ensure_ascii=False)
        elif path.suffix == ".xlsx":
            text = pl.read_excel(path, has_header=False).write_csv()
        else:  # text files, and the fonts and images of Data Docs
            text = path.read_bytes().decode("utf-8", errors="ignore")
        leaked = [p for p in personal if p in text]
        assert not leaked, f"{path} contains personal data: {leaked[:3]}"


def test_compiling_the_same_landing_zone_twice_gives_identical_cells(
    demo_run, compile_landing
) -> None:
    root, first = demo_run
    second = compile_landing(root / "landing", REFERENCE["year"])
    assert second.run_id != first.run_id
    assert second.cells.equals(first.cells)
