"""The nightly year-to-date flow reads and recompiles only what changed."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

from flows.io.landing import LocalLanding
from tests.helpers import REGISTRY_HEADER

REGISTRY = REGISTRY_HEADER + "ag-a,甲局,,,政府网站,否,2\nag-b,乙局,,,政府网站,否,2\n"
HEADER = "索引号,标题,栏目,发布日期,公开方式,状态,链接\n"
RUN_DATE = dt.date(2025, 7, 2)  # year to date: 1 January to 1 July 2025


def _deliver(path: Path, text: str, when: dt.datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, (when.timestamp(), when.timestamp()))


@pytest.fixture
def zone(tmp_path: Path) -> dict[str, Path]:
    landing = tmp_path / "landing"
    t0 = dt.datetime(2025, 6, 30, tzinfo=dt.UTC)
    _deliver(landing / "agencies.csv", REGISTRY, t0)
    _deliver(
        landing / "ag-a/website/export.csv",
        HEADER + "A1,通知,通知,2025-03-01,主动公开,已发布,\n",
        t0,
    )
    _deliver(
        landing / "ag-b/website/export.csv",
        HEADER
        + "B1,通知,通知,2025-03-01,主动公开,已发布,\nB2,通知,通知,2025-04-01,主动公开,已发布,\n",
        t0,
    )
    return {"landing": landing, "out": tmp_path / "published", "warehouse": tmp_path / "warehouse"}


def _nightly(zone: dict[str, Path], run_date: dt.date = RUN_DATE):
    from flows.nightly import nightly_year_to_date

    return nightly_year_to_date(
        landing=str(zone["landing"]),
        out=str(zone["out"]),
        warehouse=str(zone["warehouse"]),
        run_date=run_date,
    )


def _current(zone: dict[str, Path], agency: str, year: int = 2025) -> pl.DataFrame:
    return pl.read_parquet(
        zone["out"] / f"report_cells/year={year}/agency_id={agency}/data.parquet"
    )


def _website(cells: pl.DataFrame) -> int:
    return int(cells.filter(section="channels", row="website")["value"].item())


def test_first_run_compiles_every_agency_as_provisional(prefect_api, zone) -> None:
    first = _nightly(zone)
    assert first.agencies == ["ag-a", "ag-b"] and first.ok
    cells = _current(zone, "ag-b")
    assert _website(cells) == 2
    assert set(cells["status"]) == {"provisional"} and set(cells["as_of"]) == {dt.date(2025, 7, 1)}


def test_second_run_with_nothing_new_recomputes_nothing(prefect_api, zone) -> None:
    _nightly(zone)
    before = {a: _current(zone, a)["run_id"][0] for a in ("ag-a", "ag-b")}

    second = _nightly(zone)

    assert second.changed_files == [] and second.results == []
    assert {a: _current(zone, a)["run_id"][0] for a in ("ag-a", "ag-b")} == before


def test_a_correction_recompiles_only_its_agency(prefect_api, zone) -> None:
    _nightly(zone)
    untouched = _current(zone, "ag-a")["run_id"][0]
    _deliver(
        zone["landing"] / "ag-b/website/correction.csv",
        HEADER + "B2,通知,通知,2025-04-01,主动公开,已撤回,\n",
        dt.datetime(2025, 7, 1, 20, tzinfo=dt.UTC),
    )
    # Touched but unchanged: not a change.
    stamp = dt.datetime(2025, 7, 1, 21, tzinfo=dt.UTC).timestamp()
    os.utime(zone["landing"] / "ag-a/website/export.csv", (stamp, stamp))

    third = _nightly(zone)

    assert third.changed_files == ["ag-b/website/correction.csv"]
    assert third.agencies == ["ag-b"]
    assert _website(_current(zone, "ag-b")) == 1
    assert _current(zone, "ag-a")["run_id"][0] == untouched
    # Files this small are parsed again each run (faster than a cache entry is read back): no
    # entry is kept for them (the cache of larger files: tests/test_hostile_landing.py).
    assert not list((zone["warehouse"] / "parsed").rglob("*.parquet"))


def test_january_keeps_last_years_provisional_report_until_it_is_final(prefect_api, zone) -> None:
    from tests.helpers import RUN_DATE as LATER

    _deliver(
        zone["landing"] / "ag-a/website/late.csv",
        HEADER + "A9,年末通知,通知,2025-12-30,主动公开,已发布,\n",
        dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    )
    january = _nightly(zone, run_date=dt.date(2026, 1, 6))
    assert [r.year for r in january.results] == [2025, 2026]
    last_year = _current(zone, "ag-a", 2025)
    assert set(last_year["status"]) == {"provisional"} and set(last_year["as_of"]) == {
        dt.date(2025, 12, 31)
    }

    from flows.compile import compile_reports

    compile_reports(
        year=2025,
        landing=str(zone["landing"]),
        out=str(zone["out"]),
        warehouse=str(zone["warehouse"]),
        run_date=LATER,
    )
    _deliver(
        zone["landing"] / "ag-a/website/later.csv",
        HEADER + "A10,新年通知,通知,2026-01-07,主动公开,已发布,\n",
        dt.datetime(2026, 1, 8, tzinfo=dt.UTC),
    )
    after_final = _nightly(zone, run_date=dt.date(2026, 1, 9))
    assert [r.year for r in after_final.results] == [2026]
    assert set(_current(zone, "ag-a", 2025)["status"]) == {"final"}


def test_nightly_command_with_nothing_new_ends_before_prefect_is_imported(zone) -> None:
    import subprocess
    import sys

    from flows.io.ledger import landing_changes
    from flows.io.store import LocalStore, parquet_bytes
    from flows.outputs.layout import LEDGER_KEY

    warehouse = LocalStore(zone["warehouse"])
    # The ledger a finished nightly run leaves: the zone as it is now.
    warehouse.write_bytes(
        LEDGER_KEY, parquet_bytes(landing_changes(LocalLanding(zone["landing"]), warehouse).ledger)
    )
    locations = [f"--{k}={v}" for k, v in zone.items()]
    script = (
        "import sys\nfrom flows.cli import app\n"
        "try:\n    app(['nightly', *sys.argv[1:]])\nexcept SystemExit as end:\n"
        "    print('exit', end.code, 'prefect' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, *locations],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"},  # never reached
    )

    assert "Nothing new in the landing zone" in run.stdout
    assert run.stdout.strip().endswith("exit 0 False"), run.stdout + run.stderr
    assert not zone["out"].exists()


def test_nightly_command_with_a_change_still_runs_the_flow(prefect_api, zone) -> None:
    from typer.testing import CliRunner

    from flows.cli import app
    from flows.clock import beijing_today

    _nightly(zone)
    _deliver(
        zone["landing"] / "ag-a/website/more.csv",
        HEADER + "A2,通知,通知,2025-05-01,主动公开,已发布,\n",
        dt.datetime(2025, 7, 1, 20, tzinfo=dt.UTC),
    )
    result = CliRunner().invoke(app, ["nightly", *(f"--{k}={v}" for k, v in zone.items())])

    assert result.exit_code == 0, result.output
    assert "recompiled 1 agency" in result.output
    this_year = zone["out"] / f"report_cells/year={beijing_today().year}"  # the CLI's run date
    assert sorted(p.name for p in this_year.iterdir()) == ["agency_id=ag-a"]
