"""What several test modules share: the run date, the registry file, the golden scenarios."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

# The day most tests compile on: after 2024 and 2025 ended, so their reports are final.
RUN_DATE = dt.date(2026, 11, 27)

# agencies.csv as upstream delivers it: the header, then one line per agency.
REGISTRY_HEADER = "agency_id,机关名称,统一社会信用代码,上级机关,渠道,规章制定权,收费小数位\n"
# One agency with a website and no rule-making power: the smallest registry a run accepts.
ONE_AGENCY_REGISTRY = REGISTRY_HEADER + "ag-a,测试局,,,政府网站,否,2\n"

GOLDEN = Path(__file__).parent / "golden"
DEFAULT_DELIVERY = dt.datetime(2025, 1, 10, tzinfo=dt.UTC)
SCENARIOS = sorted(p.name for p in GOLDEN.iterdir() if (p / "scenario.json").is_file())


def scenario_spec(name: str) -> dict:
    """A golden scenario's scenario.json."""
    return json.loads((GOLDEN / name / "scenario.json").read_text(encoding="utf-8"))


def lay_landing(scenario: Path, target: Path, deliveries: dict[str, str]) -> Path:
    """Copy a scenario's landing files and give each its delivery time (git keeps no mtimes)."""
    shutil.copytree(scenario / "landing", target)
    for path in target.rglob("*"):
        if path.is_file():
            relative = path.relative_to(target).as_posix()
            when = deliveries.get(relative)
            moment = dt.datetime.fromisoformat(when) if when else DEFAULT_DELIVERY
            os.utime(path, (moment.timestamp(), moment.timestamp()))
    return target


def nonzero_cells(cells: pl.DataFrame) -> pl.DataFrame:
    """The cells with a value other than zero, as plain text for easy comparison."""
    return (
        cells.filter(pl.col("value") != 0)
        .select(
            "agency_id",
            "section",
            "row",
            "column",
            pl.col("value").cast(pl.String).str.replace(r"(\.\d*?)0+$", "$1").str.strip_suffix("."),
        )
        .sort(pl.all())
    )


def assert_matches_scenario(name: str, cells: pl.DataFrame, quarantine: pl.DataFrame) -> None:
    """The compiled cells are exactly the scenario's expected.csv (every other cell zero), and
    exactly the scenario's ``quarantined`` [file, row, column] triples were quarantined."""
    expected = pl.read_csv(
        GOLDEN / name / "expected.csv", infer_schema=False, comment_prefix="#"
    ).sort(pl.all())
    assert nonzero_cells(cells).to_dicts() == expected.to_dicts()
    quarantined = [[q["file"], q["row"], q["column"]] for q in quarantine.iter_rows(named=True)]
    assert sorted(quarantined, key=str) == sorted(
        scenario_spec(name).get("quarantined", []), key=str
    )


def compile_args(landing, out, warehouse, *extra: str, year: int | str = 2024) -> list[str]:
    """The words of ``nianbao compile`` for one year and its three locations, then ``extra``."""
    return [
        "compile",
        "--year",
        str(year),
        "--landing",
        str(landing),
        "--out",
        str(out),
        "--warehouse",
        str(warehouse),
        *extra,
    ]


def headless_chromium(
    profile: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Debian's chromium (``.ci/run`` installs it), headless, offline and in a fresh profile.

    Every host is unresolvable, so a page that tried to load anything from the network fails
    at once instead of waiting; ``args`` say what to do (``--dump-dom``, ``--screenshot=…``)
    and end with the page's URI. A missing chromium fails the test, naming the package.
    """
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed (.ci/run installs it when missing)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ]
    return subprocess.run(
        [chromium, *flags, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
