"""The nightly run recomputes the roll-ups above a changed department, and no other."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from tests.helpers import REGISTRY_HEADER
from tests.test_nightly import HEADER, RUN_DATE, _deliver

# A city, two districts, two departments under each.
REGISTRY = REGISTRY_HEADER + (
    "city,重庆市人民政府,,,政府网站,否,2\n"
    "d1,重庆市甲区人民政府,,city,政府网站,否,2\n"
    "d2,重庆市乙区人民政府,,city,政府网站,否,2\n"
    "d1-x,甲区财政局,,d1,政府网站,否,2\n"
    "d1-y,甲区民政局,,d1,政府网站,否,2\n"
    "d2-x,乙区财政局,,d2,政府网站,否,2\n"
    "d2-y,乙区民政局,,d2,政府网站,否,2\n"
)
AGENCIES = ("city", "d1", "d2", "d1-x", "d1-y", "d2-x", "d2-y")
PARENTS = ("city", "d1", "d2")


def _export(*ids: str) -> str:
    return HEADER + "".join(f"{i},通知,通知,2025-03-01,主动公开,已发布,\n" for i in ids)


def _versions(out: Path, folder: str, agency_id: str) -> set[str]:
    where = out / folder / "year=2025" / f"agency_id={agency_id}"
    return {p.name for p in where.iterdir()} if where.exists() else set()


def _website(out: Path, agency_id: str) -> int:
    cells = pl.read_parquet(out / f"rollup_cells/year=2025/agency_id={agency_id}/data.parquet")
    return int(cells.filter(section="channels", row="website")["value"].item())


def test_a_changed_department_updates_it_its_district_and_the_city_and_nothing_else(
    prefect_api, tmp_path
) -> None:
    from flows.nightly import nightly_year_to_date

    landing, out = tmp_path / "landing", tmp_path / "published"
    t0 = dt.datetime(2025, 6, 30, tzinfo=dt.UTC)
    _deliver(landing / "agencies.csv", REGISTRY, t0)
    for agency_id in AGENCIES:
        _deliver(landing / agency_id / "website/export.csv", _export(f"{agency_id}-1"), t0)

    def nightly():
        return nightly_year_to_date(
            landing=str(landing), out=str(out), warehouse=str(tmp_path / "wh"), run_date=RUN_DATE
        )

    first = nightly()
    assert first.ok and sorted(first.agencies) == sorted(AGENCIES)
    reports = {a: _versions(out, "history", a) for a in AGENCIES}
    rollups = {p: _versions(out, "rollup_history", p) for p in PARENTS}
    assert all(len(v) == 1 for v in (*reports.values(), *rollups.values()))
    assert (_website(out, "city"), _website(out, "d1"), _website(out, "d2")) == (7, 3, 3)
    _deliver(
        landing / "d1-x/website/export.csv",
        _export("d1-x-1", "d1-x-2"),
        dt.datetime(2025, 7, 1, 20, tzinfo=dt.UTC),
    )

    second = nightly()

    assert second.agencies == ["d1-x"]
    new_reports = {a for a in AGENCIES if _versions(out, "history", a) != reports[a]}
    new_rollups = {p for p in PARENTS if _versions(out, "rollup_history", p) != rollups[p]}
    assert new_reports == {"d1-x"}
    assert new_rollups == {"d1", "city"}
    assert (_website(out, "city"), _website(out, "d1"), _website(out, "d2")) == (8, 4, 3)
