"""Keys that decide what is counted: a WeChat article is its account's, a count has a cell to go
to, and a report year is one the statutory format and the landing zone can fill."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import polars as pl
import pytest

from expectations.run import validate_source_records
from flows.io.landing import LocalLanding, group_files, read_source
from tests.factories import agencies, no_records, records
from tests.helpers import REGISTRY_HEADER, compile_args
from tests.test_hostile_registry import assert_one_line_error, run_cli
from transforms import report
from transforms.cells import report_skeleton
from transforms.normalize import normalize_source
from transforms.period import Period, check_report_year
from transforms.report import compile_report_cells, counts_outside_skeleton
from transforms.sources import SOURCES

RUN_DATE = dt.date(2025, 3, 1)
WEBSITE = "索引号,标题,发布日期,公开方式,状态\nW1,通知,2024-03-01,主动公开,已发布\n"
MARCH_2024 = "1709280000"  # 2024-03-01 16:00 Beijing time


def _normalized_wechat(rows: list[tuple[str, str, str, int, str]]) -> tuple[pl.DataFrame, ...]:
    """WeChat text rows (file, account, article_key, delivery, is_deleted) through the normalizer."""
    headers = SOURCES["wechat"].headers
    frame = pl.DataFrame(
        {
            "row": list(range(1, len(rows) + 1)),
            "file": [r[0] for r in rows],
            "account": [r[1] for r in rows],
            "article_key": [r[2] for r in rows],
            "delivery": [r[3] for r in rows],
            "is_deleted": [r[4] for r in rows],
            "title": [f"推送{i}" for i in range(len(rows))],
            "create_time": [MARCH_2024] * len(rows),
        },
        schema_overrides={"row": pl.UInt32, "delivery": pl.UInt32},
    ).with_columns(
        agency_id=pl.lit("ag-a"), delivered_at=pl.lit(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    )
    assert set(headers) <= set(frame.columns)
    return tuple(pl.collect_all(normalize_source(frame.lazy(), SOURCES["wechat"], RUN_DATE)))


# --- item 1: an article is (agency, account, article_id, position) -------------------------------


def test_two_accounts_sharing_an_article_id_keep_both_articles() -> None:
    kept, quarantine = _normalized_wechat(
        [
            ("ag-a/wechat/号甲/pull.json", "号甲", "A1:0", 0, "false"),
            ("ag-a/wechat/号乙/pull.json", "号乙", "A1:0", 1, "false"),
        ]
    )
    assert quarantine.is_empty()
    assert sorted(kept.select("account", "article_key").rows()) == [
        ("号乙", "A1:0"),
        ("号甲", "A1:0"),
    ]


def test_a_newer_pull_corrects_only_its_own_accounts_article() -> None:
    kept, _ = _normalized_wechat(
        [
            ("ag-a/wechat/号甲/pull.json", "号甲", "A1:0", 0, "false"),
            ("ag-a/wechat/号乙/pull.json", "号乙", "A1:0", 1, "false"),
            ("ag-a/wechat/号乙/corrected.json", "号乙", "A1:0", 2, "true"),
        ]
    )
    assert sorted(kept.select("account", "is_deleted").rows()) == [("号乙", True), ("号甲", False)]


def test_one_article_key_under_two_accounts_in_one_frame_is_not_a_repeat() -> None:
    # The reader gives one account per file; the in-file rule still keys on the same identity.
    kept, quarantine = _normalized_wechat(
        [
            ("ag-a/wechat/merged.json", "号甲", "A1:0", 0, "false"),
            ("ag-a/wechat/merged.json", "号乙", "A1:0", 0, "true"),
        ]
    )
    assert quarantine.is_empty()
    assert kept.height == 2


def test_the_wechat_record_suite_accepts_one_article_id_in_two_accounts() -> None:
    kept, _ = _normalized_wechat(
        [
            ("ag-a/wechat/号甲/pull.json", "号甲", "A1:0", 0, "false"),
            ("ag-a/wechat/号乙/pull.json", "号乙", "A1:0", 1, "false"),
        ]
    )
    results = validate_source_records(kept, "wechat", RUN_DATE)
    assert [r["type"] for r in results if not r["success"]] == []


# --- item 2: every count has a cell to go to -------------------------------------------------------


def test_a_count_outside_the_cell_dictionary_stops_the_compile_naming_its_key(
    monkeypatch,
) -> None:
    counted = report.count_decisions

    def renamed_in_one_place(decisions, row, period):
        # A counting rule that spells a row differently from transforms/cells.py.
        frame = counted(decisions, row, period)
        return frame.with_columns(pl.col("row").replace("licensing", "licence"))

    monkeypatch.setattr(report, "count_decisions", renamed_in_one_place)
    licences = records("licensing", [{"decision_no": "许1", "decided_on": dt.date(2024, 5, 1)}])
    with pytest.raises(ValueError, match=r"proactive/licence/decisions \(1 agencies\)"):
        compile_report_cells(
            no_records() | {"licensing": licences}, agencies("ag-a"), Period.of_year(2024)
        ).collect()


def test_a_channel_the_registry_does_not_list_is_left_out_not_an_error() -> None:
    articles = records(
        "wechat",
        [
            {
                "article_key": "A1:0",
                "account": "未登记的号",
                "published_on": dt.date(2024, 5, 1),
                "is_deleted": False,
            }
        ],
    )
    registry = agencies("ag-a")
    counts = report.count_all(
        no_records() | {"wechat": articles}, registry, Period.of_year(2024), report.CountingRules()
    )
    skeleton = report_skeleton(registry).lazy()
    assert counts_outside_skeleton(counts, skeleton).collect().is_empty()
    cells = compile_report_cells(
        no_records() | {"wechat": articles}, registry, Period.of_year(2024)
    )
    channels = cells.collect().filter(section="channels")
    assert channels.select("row", "value").rows() == [("website", 0), ("total", 0)]


def _registry_landing(root: Path, channels: str) -> LocalLanding:
    root.mkdir(parents=True)
    (root / "agencies.csv").write_text(
        REGISTRY_HEADER + f"ag-a,测试局,,,{channels},否,2\n", "utf-8"
    )
    return LocalLanding(root)


def _rejected(landing: LocalLanding, source: str, channels: list[str]) -> list[tuple]:
    by_source, _ = group_files(landing.files())
    read = read_source(landing, SOURCES[source], by_source[source], {"ag-a": channels})
    assert read.raw.is_empty()
    return read.rejected.select("file", "reason").rows()


def test_a_website_export_of_an_agency_without_the_website_channel_is_rejected(
    tmp_path: Path,
) -> None:
    landing = _registry_landing(tmp_path / "landing", "号甲")
    (tmp_path / "landing/ag-a/website").mkdir(parents=True)
    (tmp_path / "landing/ag-a/website/export.csv").write_text(WEBSITE, "utf-8")
    assert _rejected(landing, "website", ["号甲"]) == [
        ("ag-a/website/export.csv", "政府网站 is not among the agency's 渠道 in agencies.csv")
    ]


def test_a_wechat_folder_named_after_the_website_channel_is_rejected(tmp_path: Path) -> None:
    landing = _registry_landing(tmp_path / "landing", "政府网站")
    folder = tmp_path / "landing/ag-a/wechat/政府网站"
    folder.mkdir(parents=True)
    (folder / "pull.json").write_text(json.dumps({"item": []}), "utf-8")
    ((file, reason),) = _rejected(landing, "wechat", ["政府网站"])
    assert file == "ag-a/wechat/政府网站/pull.json"
    assert reason.startswith("政府网站 is the website channel, not a WeChat account")


# --- item 5: a report year is one the format and the landing zone can fill ---------------------


@pytest.mark.parametrize(
    ("year", "message"),
    [
        pytest.param(24, "year 24 is not a report year: give all four digits (2024)", id="24"),
        pytest.param(0, "year 0 is not a report year", id="0"),
        pytest.param(1999, "year 1999 is before 2021", id="1999"),
        pytest.param(2020, "year 2020 is before 2021", id="2020"),
        pytest.param(2026, "2026 has no day of data yet on 2025-03-01", id="next-year"),
        pytest.param(99999, "99999 has no day of data yet", id="99999"),
    ],
)
def test_a_year_that_cannot_be_compiled_is_refused_in_one_line(year: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        check_report_year(year, RUN_DATE)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("year", [2021, 2024, 2025])
def test_years_from_2021_to_this_year_are_compiled(year: int) -> None:
    check_report_year(year, RUN_DATE)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("year", "message"),
    [
        pytest.param("24", "give all four digits (2024)", id="two-digit"),
        pytest.param("1999", "year 1999 is before 2021", id="1999"),
        pytest.param("2999", "2999 has no day of data yet", id="future"),
    ],
)
def test_compile_refuses_a_bad_year_before_prefect_starts(
    tmp_path: Path, year: str, message: str
) -> None:
    landing = _registry_landing(tmp_path / "landing", "政府网站")
    outcome = run_cli(
        "compile",
        "--year",
        year,
        "--landing",
        str(landing.root),
        "--out",
        str(tmp_path / "published"),
        "--warehouse",
        str(tmp_path / "warehouse"),
        cwd=Path(__file__).parent.parent,
    )
    assert_one_line_error(outcome, message)
    assert sorted(os.listdir(tmp_path)) == ["landing"]


def test_the_flow_refuses_a_year_before_2021_for_deployments(compile_landing, tmp_path) -> None:
    landing = _registry_landing(tmp_path / "landing", "政府网站")
    with pytest.raises(ValueError, match="year 1999 is before 2021"):
        compile_landing(landing.root, 1999)
    assert not (tmp_path / "published").exists()


def _landing_without_records(root: Path) -> Path:
    landing = _registry_landing(root, "政府网站")
    # Records of another year only: 2024 has none.
    (root / "ag-a/website").mkdir(parents=True)
    (root / "ag-a/website/export.csv").write_text(WEBSITE.replace("2024-", "2023-"), "utf-8")
    return landing.root


def test_a_final_year_without_a_single_record_publishes_nothing(compile_landing, tmp_path) -> None:
    from flows.steps import NothingToReport

    landing = _landing_without_records(tmp_path / "landing")
    with pytest.raises(NothingToReport) as refused:
        compile_landing(landing, 2024)
    message = str(refused.value)
    assert f"no record of 2024 in the landing zone {landing}" in message
    assert "--allow-empty" in message and "\n" not in message
    published = tmp_path / "published"
    assert not list(published.glob("report_cells/**/*.parquet"))
    assert not list(published.glob("reports/**/*"))
    assert not list(published.glob("runs/*.json"))


def test_allow_empty_publishes_a_final_year_of_zeros(compile_landing, tmp_path) -> None:
    landing = _landing_without_records(tmp_path / "landing")
    result = compile_landing(landing, 2024, allow_empty=True)
    assert result.ok and result.status == "final"
    assert result.published and (result.cells["value"] == 0).all()


def test_a_final_year_with_records_for_one_agency_only_is_published(
    compile_landing, tmp_path
) -> None:
    landing = tmp_path / "landing"
    _registry_landing(landing, "政府网站")
    with (landing / "agencies.csv").open("a", encoding="utf-8") as registry:
        registry.write("ag-b,无申报局,,,政府网站,否,2\n")  # a nil return: normal
    (landing / "ag-a/website").mkdir(parents=True)
    (landing / "ag-a/website/export.csv").write_text(WEBSITE, "utf-8")
    result = compile_landing(landing, 2024)
    assert sorted(set(result.cells["agency_id"])) == ["ag-a", "ag-b"]
    assert result.ok and result.status == "final"


def test_a_provisional_year_without_records_is_published(compile_landing, tmp_path) -> None:
    landing = _landing_without_records(tmp_path / "landing")
    result = compile_landing(landing, 2024, run_date=dt.date(2024, 6, 1))
    assert result.status == "provisional" and result.published


def test_compile_of_a_final_year_without_records_exits_2_in_one_line(prefect_api, tmp_path):
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    landing = _landing_without_records(tmp_path / "landing")
    environment = os.environ | {"PREFECT_API_URL": PREFECT_API_URL.value(), "COLUMNS": "200"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            *compile_args(str(landing), str(tmp_path / "published"), str(tmp_path / "warehouse")),
        ],
        cwd=Path(__file__).parent.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2, run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert (
        line.startswith("error: no record of 2024 in the landing zone") and "--allow-empty" in line
    )
    published = tmp_path / "published"
    assert not [*published.glob("re*/**/*.*"), *published.glob("runs/*")]
