"""The changes dataset carries the roll-ups too (kind = rollup), beside the reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl

from flows.io.store import LocalStore, parquet_bytes
from flows.outputs.layout import cells_key, changes_key
from flows.outputs.rollups import publish_rollups
from tests.factories import agencies, no_records
from tests.test_rollup import registry
from transforms.changes import year_over_year
from transforms.period import Period
from transforms.report import compile_report_cells

# city → d1 → d1-x, d1-y; city → d2 → d2-x.
REGISTRY = registry(
    [
        ("city", None, [], 2),
        ("d1", "city", [], 2),
        ("d2", "city", [], 2),
        ("d1-x", "d1", [], 2),
        ("d1-y", "d1", [], 2),
        ("d2-x", "d2", [], 2),
    ]
)
MEMBERS = REGISTRY["agency_id"].to_list()
WEBSITE = {"section": "channels", "row": "website", "column": "items"}


def _publish_reports(out: LocalStore, year: int, items: dict[str, int]) -> None:
    """Each agency's current report of ``year``: zeros but its website items (and 合计)."""
    zeros = compile_report_cells(no_records(), agencies(*items), Period.of_year(year)).collect()
    channel = (pl.col("section") == "channels") & (pl.col("column") == "items")
    for agency_id, n in items.items():
        cells = zeros.filter(agency_id=agency_id).with_columns(
            value=pl.when(channel).then(pl.lit(Decimal(n))).otherwise("value"),
            status=pl.lit("final"),
            as_of=pl.lit(dt.date(year, 12, 31)),
            run_id=pl.lit(f"r{year}"),
        )
        out.write_bytes(cells_key(year, agency_id), parquet_bytes(cells.drop("agency_id")))


def _website(changes: pl.DataFrame, agency_id: str, kind: str) -> tuple:
    row = changes.filter(agency_id=agency_id, kind=kind, **WEBSITE)
    assert row.height == 1
    return row.select("value", "last_year_value", "change").row(0)


def test_recomputed_rollups_get_their_changes_from_last_years_rollup_beside_the_reports(
    tmp_path: Path,
) -> None:
    out, warehouse = LocalStore(tmp_path / "out"), LocalStore(tmp_path / "wh")
    _publish_reports(out, 2023, dict.fromkeys(MEMBERS, 10))
    publish_rollups(out, warehouse, REGISTRY, Period.of_year(2023), "final", "r2023", MEMBERS)
    _publish_reports(out, 2024, dict.fromkeys(MEMBERS, 10) | {"d1-x": 25})
    # A changes file from before roll-ups: one report's rows, no kind column.
    old = pl.DataFrame(
        {"agency_id": ["d1-x"], **{k: [v] for k, v in WEBSITE.items()}, "value": [Decimal(25)]}
    ).with_columns(pl.lit(None, pl.String).alias(c) for c in ("row_label", "column_label"))
    out.write_bytes(changes_key(2024), parquet_bytes(year_over_year(old, None)))

    publish_rollups(out, warehouse, REGISTRY, Period.of_year(2024), "final", "r2024", ["d1-x"])

    changes = pl.read_parquet(tmp_path / "out" / changes_key(2024))
    # Only d1-x changed: its district's and the city's roll-ups were recomputed, not d2's.
    assert sorted(changes.filter(kind="rollup")["agency_id"].unique()) == ["city", "d1"]
    assert _website(changes, "d1", "rollup") == (45, 30, 15)
    assert _website(changes, "city", "rollup") == (75, 60, 15)
    assert changes.filter(kind="report")["agency_id"].unique().to_list() == ["d1-x"]
    assert changes.columns[:2] == ["agency_id", "kind"]
    assert changes["kind"].to_list() == sorted(changes["kind"].to_list())  # reports first

    # Last year's roll-ups recomputed (a late correction of 2023): 2024's rows follow them.
    _publish_reports(out, 2023, dict.fromkeys(MEMBERS, 10) | {"d1-x": 5})
    publish_rollups(out, warehouse, REGISTRY, Period.of_year(2023), "final", "r2023b", ["d1-x"])

    changes = pl.read_parquet(tmp_path / "out" / changes_key(2024))
    assert _website(changes, "d1", "rollup") == (45, 25, 20)
    assert _website(changes, "city", "rollup") == (75, 55, 20)
    earlier = pl.read_parquet(tmp_path / "out" / changes_key(2023))
    assert _website(earlier, "d2", "rollup") == (20, None, None)
