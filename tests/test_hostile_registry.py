"""Hostile registries, locations and report files: nothing escapes its place, one line, exit 2.

Issue 8, items 1 (agency ids in paths), 5 (output inside the landing zone), 16 (`nianbao check`
with a year that is not a year), 17 (S3 edge cases) and 18 (inputs checked before Prefect).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.outputs.publish import cells_key
from tests.helpers import REGISTRY_HEADER as HEADER
from tests.helpers import compile_args

GOOD = "cq-qijiang-cgj"
WEBSITE = (
    "索引号,标题,栏目,发布日期,公开方式,状态,链接\nW1,通知一,通知公告,2024-03-01,主动公开,已发布,\n"
)
# Row numbers as the quarantine gives them: the header is row 1.
HOSTILE_ROWS = {
    3: ("x/../../../../../escaped,逃逸局,,,政府网站,否,2", "agency_id", "is not valid"),
    4: (f"zz/../agency_id={GOOD},冒名局,,,政府网站,否,2", "agency_id", "is not valid"),
    5: ("a/b,斜杠局,,,政府网站,否,2", "agency_id", "is not valid"),
    6: ("ag-zw\u200b,零宽局,,,政府网站,否,2", "agency_id", "invisible character"),
    7: ("ag-dup,重复局一,,,政府网站,否,2", "agency_id", "is on rows 7, 8"),
    8: ("ag-dup,重复局二,,,政府网站,否,2", "agency_id", "is on rows 7, 8"),
    9: ("ag-power,权限局,,,政府网站,Y,2", "规章制定权", "expected 是 or 否"),
    10: ("ag-parent,上级局,,../../x,政府网站,否,2", "上级机关", "is not valid"),
}
UNUSED_PREFECT = "http://127.0.0.1:9/api"  # nothing listens: a started Prefect would fail there


def write_landing(root: Path, rows: list[str]) -> Path:
    """A landing zone with this registry and one website export of the good agency."""
    (root / GOOD / "website").mkdir(parents=True)
    (root / GOOD / "website" / "export.csv").write_text(WEBSITE, encoding="utf-8")
    (root / "agencies.csv").write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return root


def good_row() -> str:
    return f"{GOOD},重庆市綦江区城市管理局,,,政府网站,否,2"


def files_under(root: Path, *excluded: Path) -> set[str]:
    """Every file and folder under ``root`` outside the ``excluded`` folders."""
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if not any(p == e or e in p.parents for e in excluded)
    }


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    """``nianbao ARGS`` in a fresh process: exit code, output lines, Prefect modules it imported.

    PREFECT_API_URL points at a port where nothing listens: a run that started Prefect would
    fail there with a connection error, not with the one-line message asserted.
    """
    marker = cwd / f".modules-{uuid.uuid4().hex}"
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write("
        "' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))))\n"
        "from flows.cli import app\napp()\n"
    )
    environment = os.environ | {"PREFECT_API_URL": UNUSED_PREFECT} | (env or {})
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    prefect = marker.read_text() if marker.exists() else "(no marker: the process died)"
    marker.unlink(missing_ok=True)
    return done.returncode, lines, prefect


def assert_one_line_error(
    outcome: tuple[int, list[str], str], *expected: str, prefect_allowed: bool = False
) -> None:
    code, lines, prefect = outcome
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in lines[0]
    for text in expected:
        assert text in lines[0], lines
    if not prefect_allowed:
        assert prefect == "", f"Prefect imported before the inputs were checked: {prefect}"


# --- item 1: agency ids are checked before they become paths -------------------------------


def test_hostile_registry_rows_are_quarantined_and_nothing_is_written_outside_out(
    prefect_api, tmp_path: Path
) -> None:
    landing = write_landing(
        tmp_path / "landing", [good_row(), *(row for row, _, _ in HOSTILE_ROWS.values())]
    )
    (landing / "a" / "b" / "website").mkdir(parents=True)
    (landing / "a" / "b" / "website" / "export.csv").write_text(WEBSITE, encoding="utf-8")
    # Deep enough that "x/../../../../../escaped" would land inside tmp_path, where we look.
    out, warehouse = tmp_path / "run" / "published", tmp_path / "run" / "warehouse"
    out.parent.mkdir()
    before = files_under(tmp_path, out, warehouse)

    result = CliRunner().invoke(
        app,
        [
            *compile_args(str(landing), str(out), str(warehouse)),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "agencies.csv: 8 row(s) rejected (see the quarantine)" in result.output
    assert "1 report(s) published" in result.output
    assert files_under(tmp_path, out, warehouse) == before
    agency_folders = {p.name for p in out.rglob("agency_id=*")}
    assert agency_folders == {f"agency_id={GOOD}"}
    # The good agency's report is its own: its website notice counted, its name in the title.
    cells = pl.read_parquet(out / cells_key(2024, GOOD))
    assert cells.filter(section="channels", row="website", column="items")["value"].to_list() == [1]
    report = (out / "reports" / "year=2024" / f"agency_id={GOOD}" / "report.md").read_text()
    assert "重庆市綦江区城市管理局" in report and "冒名局" not in report
    quarantine = pl.read_parquet(next((warehouse / "quarantine").rglob("*.parquet")))
    registry = quarantine.filter(source="agencies").sort("row")
    assert registry["row"].to_list() == list(HOSTILE_ROWS)
    for q in registry.iter_rows(named=True):
        _, column, reason = HOSTILE_ROWS[q["row"]]
        assert q["file"] == "agencies.csv" and q["column"] == column, q
        assert reason in q["reason"], q
    # An id that is not valid never reaches the quarantine's agency_id column.
    assert set(registry["agency_id"].drop_nulls()) == {"ag-dup", "ag-power", "ag-parent"}


def test_zero_width_space_is_not_trimmed_into_a_valid_id() -> None:
    from transforms.agencies import normalize_agencies

    raw = pl.DataFrame(
        {
            "agency_id": ["\u200bag-a", "ag-b\u200b", "\ufeffag-c", " ag-d "],
            "机关名称": ["甲", "乙", "丙", "丁"],
            "统一社会信用代码": [None] * 4,
            "上级机关": [None] * 4,
            "渠道": ["政府网站"] * 4,
            "规章制定权": ["否"] * 4,
            "收费小数位": ["2"] * 4,
            "row": [2, 3, 4, 5],
        },
        schema_overrides={"统一社会信用代码": pl.String, "上级机关": pl.String, "row": pl.UInt32},
    )

    agencies, quarantine = normalize_agencies(raw, "agencies.csv")

    assert agencies["agency_id"].to_list() == ["ag-d"]  # plain blanks around an id are trimmed
    assert quarantine["row"].to_list() == [2, 3, 4]
    assert quarantine["reason"].str.contains("invisible character").all()


def test_wechat_account_that_would_move_a_path_rejects_the_registry_row() -> None:
    from transforms.agencies import normalize_agencies

    raw = pl.DataFrame(
        {
            "agency_id": ["ag-a", "ag-b", "ag-c", "ag-d"],
            "机关名称": ["甲", "乙", "丙", "丁"],
            "统一社会信用代码": [None] * 4,
            "上级机关": [None] * 4,
            "渠道": ["政府网站|..", "政府网站|a/b", "政府网站|x\\y", "政府网站|綦江城管"],
            "规章制定权": ["否"] * 4,
            "收费小数位": ["2"] * 4,
            "row": [2, 3, 4, 5],
        },
        schema_overrides={"统一社会信用代码": pl.String, "上级机关": pl.String, "row": pl.UInt32},
    )

    agencies, quarantine = normalize_agencies(raw, "agencies.csv")

    assert agencies["agency_id"].to_list() == ["ag-d"]
    assert quarantine["row"].to_list() == [2, 3, 4]
    assert (quarantine["column"] == "渠道").all()


@pytest.mark.slow
def test_registry_without_a_usable_row_is_one_line_error_and_publishes_nothing(
    tmp_path: Path,
) -> None:
    landing = write_landing(tmp_path / "landing", [row for row, _, _ in HOSTILE_ROWS.values()])
    out, warehouse = tmp_path / "out", tmp_path / "warehouse"

    outcome = run_cli(
        *compile_args(str(landing), str(out), str(warehouse)),
        cwd=tmp_path,
    )

    assert_one_line_error(
        outcome, "agencies.csv has no usable row (8 rejected, e.g. row 2 agency_id"
    )
    assert not out.exists() and not warehouse.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "agency",
    [
        pytest.param("x/../../escaped", id="parent-folders"),
        pytest.param(f"zz/../agency_id={GOOD}", id="another-agency"),
        pytest.param("a/b", id="slash"),
        pytest.param("ag-a\u200b", id="zero-width-space"),
    ],
)
def test_agency_option_that_is_not_an_id_is_refused_before_anything_starts(
    agency: str, tmp_path: Path
) -> None:
    landing = write_landing(tmp_path / "landing", [good_row()])

    outcome = run_cli(
        *compile_args(
            str(landing), str(tmp_path / "out"), str(tmp_path / "warehouse"), "--agency", agency
        ),
        cwd=tmp_path,
    )

    assert_one_line_error(outcome, "--agency: agency_id", "is not valid")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["landing"]


def test_show_template_and_revisions_refuse_an_agency_that_is_not_an_id(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    runner = CliRunner()
    for args in (
        ["show", "--year", "2024", "--agency", "../../x", "--out", str(tmp_path / "out")],
        ["template", "--year", "2024", "--agency", "../escaped"],
        ["revisions", "--year", "2024", "--agency", "../x", "--out", str(tmp_path / "out")],
    ):
        result = runner.invoke(app, args)

        assert result.exit_code == 2, result.output
        assert result.output.strip().startswith("error: --agency: agency_id"), result.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["work"]


def test_published_keys_refuse_an_id_that_is_not_safe() -> None:
    assert cells_key(2024, GOOD) == f"report_cells/year=2024/agency_id={GOOD}/data.parquet"
    for hostile in ("x/../../escaped", "a/b", "", "ag-a\n", "A"):
        with pytest.raises(ValueError, match="is not valid"):
            cells_key(2024, hostile)


# --- item 5: output and warehouse never inside the landing zone -----------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("out", "warehouse", "message"),
    [
        pytest.param("{landing}", "{tmp}/warehouse", "the published output", id="out-is-landing"),
        pytest.param(
            "{landing}/published",
            "{tmp}/warehouse",
            "the published output",
            id="out-inside-landing",
        ),
        pytest.param(
            "{tmp}/out", "{landing}/warehouse", "the warehouse", id="warehouse-inside-landing"
        ),
        # The landing zone's raw records (personal data) would be published with the output.
        pytest.param("{tmp}/site", "{tmp}/warehouse", "the landing zone", id="landing-inside-out"),
    ],
)
def test_output_overlapping_the_landing_zone_is_refused(
    out: str, warehouse: str, message: str, tmp_path: Path
) -> None:
    landing = write_landing(tmp_path / "site" / "landing", [good_row()])
    before = files_under(landing)
    where = {"landing": str(landing), "tmp": str(tmp_path)}

    outcome = run_cli(
        *compile_args(str(landing), out.format(**where), warehouse.format(**where)),
        cwd=tmp_path,
    )

    assert_one_line_error(outcome, message, "must not be, or be inside")
    assert files_under(landing) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    ("landing", "out"),
    [
        pytest.param("s3://landing/zone", "s3://landing/zone/published", id="out-inside"),
        pytest.param("s3://landing", "s3://landing/zone/published", id="out-in-landing-bucket"),
        pytest.param("s3://landing/zone/", "s3://landing/zone", id="out-is-landing"),
    ],
)
def test_s3_output_inside_the_s3_landing_zone_is_refused(
    landing: str, out: str, tmp_path: Path
) -> None:
    outcome = run_cli(
        *compile_args(landing, out, str(tmp_path / "warehouse")),
        cwd=tmp_path,
    )

    assert_one_line_error(
        outcome, f"the published output ({out}) must not be, or be inside, the landing zone"
    )


# --- item 16: `nianbao check` with a year that is not a year ---------------------------------


@pytest.mark.parametrize(
    ("year", "agency", "message"),
    [
        pytest.param(
            "二〇二四",
            "ag-a",
            "row 2: year is '二〇二四', not a year such as 2024",
            id="chinese-numerals",
        ),
        pytest.param(" ", "ag-a", "row 2: year is blank", id="blank"),
        pytest.param("2024", "../x", "row 2: agency_id '../x' is not valid", id="agency-path"),
        pytest.param("2024", "", "row 2: agency_id is blank", id="agency-blank"),
    ],
)
def test_check_reports_a_year_or_agency_that_cannot_be_used_as_a_bad_file(
    year: str, agency: str, message: str, tmp_path: Path
) -> None:
    report = tmp_path / "filled.csv"
    report.write_text(
        "agency_id,year,section,row,column,value\n"
        f"{agency},{year},channels,website,items,1\n"
        "ag-a,2024,channels,total,items,1\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(app, ["check", str(report)])

    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {report}: {message}"), lines
    assert not (tmp_path / "filled.validation").exists()


# --- item 17: S3 edge cases are one line ------------------------------------------------------

# Credentials and an endpoint where nothing listens: a request would fail to connect.
UNREACHABLE_S3 = {
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "y",
    "NIANBAO_S3__ENDPOINT_URL": "http://127.0.0.1:1",
}


@pytest.mark.slow
def test_s3_uri_without_a_bucket_is_one_line_error(tmp_path: Path) -> None:
    outcome = run_cli(
        *compile_args(str(tmp_path), "s3://", str(tmp_path / "warehouse")),
        cwd=tmp_path,
        env=UNREACHABLE_S3,
    )

    assert_one_line_error(outcome, "s3://: '' is not a bucket name")


def test_s3_prefix_with_parent_folder_is_refused_and_nothing_is_written(
    s3_env, tmp_path: Path
) -> None:
    bucket = f"published-{uuid.uuid4().hex[:8]}"
    s3_env.client().create_bucket(Bucket=bucket)
    landing = write_landing(tmp_path / "landing", [good_row()])

    outcome = run_cli(
        *compile_args(str(landing), f"s3://{bucket}/nianbao/../other", str(tmp_path / "warehouse")),
        cwd=tmp_path,
    )

    assert_one_line_error(outcome, f"s3://{bucket}/nianbao/../other: the prefix must not have")
    assert s3_env.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


@pytest.mark.slow
def test_unreachable_s3_endpoint_is_one_line_error(tmp_path: Path) -> None:
    landing = write_landing(tmp_path / "landing", [good_row()])

    outcome = run_cli(
        *compile_args(str(landing), "s3://published/x", str(tmp_path / "warehouse")),
        cwd=tmp_path,
        env=UNREACHABLE_S3,
    )

    assert_one_line_error(outcome, "s3://published/x: cannot reach the object store")
    assert not (tmp_path / "warehouse").exists()


# --- item 18: inputs checked before Prefect starts --------------------------------------------


@pytest.mark.slow
def test_missing_landing_folder_is_one_line_before_prefect(tmp_path: Path) -> None:
    outcome = run_cli(
        *compile_args(
            str(tmp_path / "nowhere"), str(tmp_path / "out"), str(tmp_path / "warehouse")
        ),
        cwd=tmp_path,
    )

    assert_one_line_error(outcome, f"landing zone {tmp_path / 'nowhere'} is not a folder")
    assert not (tmp_path / "out").exists() and not (tmp_path / "warehouse").exists()


@pytest.mark.slow
def test_unknown_agency_is_one_line_before_prefect(tmp_path: Path) -> None:
    landing = write_landing(tmp_path / "landing", [good_row(), "ag-power,权限局,,,政府网站,Y,2"])

    unknown = run_cli(
        *compile_args(
            str(landing),
            str(tmp_path / "out"),
            str(tmp_path / "warehouse"),
            "--agency",
            "ag-nobody",
        ),
        cwd=tmp_path,
    )
    rejected = run_cli(
        *compile_args(
            str(landing), str(tmp_path / "out"), str(tmp_path / "warehouse"), "--agency", "ag-power"
        ),
        cwd=tmp_path,
    )

    assert_one_line_error(unknown, "agency ag-nobody is not in agencies.csv")
    assert_one_line_error(
        rejected, "agency ag-power is not in agencies.csv (its row was rejected: row 3 规章制定权"
    )
    assert not (tmp_path / "out").exists() and not (tmp_path / "warehouse").exists()


@pytest.mark.slow
def test_bad_location_and_bad_setting_are_one_line_before_prefect(tmp_path: Path) -> None:
    landing = write_landing(tmp_path / "landing", [good_row()])

    inside = run_cli(
        *compile_args(str(landing), str(tmp_path / "out"), str(tmp_path / "out" / "warehouse")),
        cwd=tmp_path,
    )
    setting = run_cli(
        "nightly",
        "--landing",
        str(landing),
        "--out",
        str(tmp_path / "out"),
        "--warehouse",
        str(tmp_path / "warehouse"),
        cwd=tmp_path,
        env={"NIANBAO_S3__MAX_RETRIES": "many"},
    )

    assert_one_line_error(
        inside, "the warehouse", "must not be, or be inside, the published output"
    )
    assert_one_line_error(setting, "settings: NIANBAO_S3__MAX_RETRIES: Input should be")
    assert not (tmp_path / "out").exists() and not (tmp_path / "warehouse").exists()
