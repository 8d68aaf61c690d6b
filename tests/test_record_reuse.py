"""A run takes an agency's stored records instead of normalizing again only when they were
normalized from the very inputs it has now (issue 14): same files, delivery order, channels and
code, nothing quarantined, and a run day no earlier. Anything else normalizes again."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.demo.landing import AGENCY, DEMO_YEAR, build_demo_landing
from flows.io import ingest
from flows.io.ingest import read_and_normalize
from flows.io.landing import LocalLanding, group_files
from flows.io.records import read_index, write_records
from flows.io.store import LocalStore
from flows.results import SourceOutcome
from flows.steps import store_records
from tests.helpers import RUN_DATE

FEE_HEADER = "票据号,收费项目,缴款日期,金额（元）"
CHANNELS = {"ag-a": ["政府网站"], "ag-b": ["政府网站"]}


def _write(path: Path, *rows: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([FEE_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _zone(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    _write(root / "ag-a/fees/2024.csv", "A1,复印费,2024-03-01,1.00", "A2,复印费,2024-06-01,2.50")
    _write(root / "ag-b/fees/2024.csv", "B1,复印费,2024-04-01,3.00")
    return root


def _run(
    root: Path,
    warehouse: LocalStore | None,
    run_date: dt.date = RUN_DATE,
    channels: dict[str, list[str]] = CHANNELS,
) -> SourceOutcome:
    """One run of the fee source: read (taking what it may from ``warehouse``), then stored."""
    zone = LocalLanding(root)
    files = group_files(zone.files())[0]["fees"]
    outcome = read_and_normalize(zone, "fees", files, channels, run_date, warehouse=warehouse)
    if warehouse is not None:
        store_records.fn(warehouse, {"fees": outcome}, sorted(channels))
    return outcome


def _sorted(records: pl.DataFrame) -> pl.DataFrame:
    return records.with_columns(pl.col("agency_id").cast(pl.String)).sort("agency_id", "row")


def _warehouse_files(store: LocalStore) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in store.root.rglob("*") if p.is_file()}


def test_a_rerun_on_unchanged_files_takes_every_agencys_stored_records_and_writes_nothing(
    tmp_path: Path,
) -> None:
    root, store = _zone(tmp_path), LocalStore(tmp_path / "warehouse")
    first = _run(root, store)
    stored = _warehouse_files(store)

    again = _run(root, store)

    assert first.reused == [] and again.reused == ["ag-a", "ag-b"]
    assert_frame_equal(_sorted(again.records), _sorted(first.records))
    assert again.inputs == first.inputs  # the manifest lists the same files, checksums, order
    assert again.rows_read == first.rows_read == 3
    assert again.quarantine.is_empty()
    assert _warehouse_files(store) == stored  # no segment, no index written again


def test_a_changed_file_normalizes_only_its_agency_again(tmp_path: Path) -> None:
    root, store = _zone(tmp_path), LocalStore(tmp_path / "warehouse")
    _run(root, store)
    _write(root / "ag-b/fees/2024.csv", "B1,复印费,2024-04-01,3.00", "B2,复印费,2024-05-01,4.00")

    again = _run(root, store)

    assert again.reused == ["ag-a"]
    fresh = _run(root, None)  # the same files read with nothing stored
    assert_frame_equal(_sorted(again.records), _sorted(fresh.records))
    assert [i.sha256 for i in again.inputs] == [i.sha256 for i in fresh.inputs]
    index = read_index(store, "fees")
    assert dict(zip(index["agency_id"], index["rows"], strict=True)) == {"ag-a": 2, "ag-b": 2}


def test_an_agency_with_a_quarantined_row_takes_its_records_and_tells_the_same_quarantine(
    tmp_path: Path,
) -> None:
    root, store = _zone(tmp_path), LocalStore(tmp_path / "warehouse")
    _write(root / "ag-b/fees/2024.csv", "B1,复印费,2024-04-01,3.00", "B2,复印费,某日,4.00")
    first = _run(root, store)

    again = _run(root, store)

    assert again.reused == ["ag-a", "ag-b"]
    assert_frame_equal(again.quarantine, first.quarantine)
    assert again.quarantine["row"].to_list() == [3]
    assert again.quarantine["reason"].str.starts_with("not a date").all()
    assert again.counts == first.counts  # rows read, quarantined, kept: as normalizing told them


def test_a_row_dated_after_the_run_day_is_refused_again_that_day_and_accepted_later(
    tmp_path: Path,
) -> None:
    root, store = _zone(tmp_path), LocalStore(tmp_path / "warehouse")
    _run(root, store, run_date=dt.date(2024, 5, 1))  # A2 was paid on 2024-06-01

    same_day = _run(root, store, run_date=dt.date(2024, 5, 1))
    later = _run(root, store, run_date=dt.date(2024, 12, 1))

    assert same_day.reused == ["ag-a", "ag-b"]
    assert same_day.quarantine["value"].to_list() == ["2024-06-01"]
    assert later.reused == ["ag-b"]  # ag-a normalized again: its A2 is no longer in the future
    assert later.quarantine.is_empty()
    assert sorted(later.records["receipt_no"]) == ["A1", "A2", "B1"]


def test_an_earlier_run_day_normalizes_again_and_refuses_the_dates_after_it(
    tmp_path: Path,
) -> None:
    root, store = _zone(tmp_path), LocalStore(tmp_path / "warehouse")
    _run(root, store, run_date=dt.date(2024, 12, 1))

    later = _run(root, store, run_date=dt.date(2025, 1, 31))
    earlier = _run(root, store, run_date=dt.date(2024, 5, 1))

    assert later.reused == ["ag-a", "ag-b"]
    assert earlier.reused == []
    assert earlier.quarantine["value"].to_list() == ["2024-06-01"]  # A2, paid after 2024-05-01
    assert sorted(earlier.records["receipt_no"]) == ["A1", "B1"]


def test_other_registry_channels_normalize_the_agency_again(tmp_path: Path) -> None:
    root, store = _zone(tmp_path), LocalStore(tmp_path / "warehouse")
    _run(root, store)

    again = _run(root, store, channels=CHANNELS | {"ag-a": ["政府网站", "某某发布"]})

    assert again.reused == ["ag-b"]


def test_a_new_delivery_order_normalizes_again_and_the_newest_delivery_wins(
    tmp_path: Path,
) -> None:
    root, store = _zone(tmp_path), LocalStore(tmp_path / "warehouse")
    old = _write(root / "ag-b/fees/old.csv", "B9,复印费,2024-04-01,1.00")
    new = _write(root / "ag-b/fees/new.csv", "B9,复印费,2024-04-01,9.00")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_700_000_100, 1_700_000_100))
    first = _run(root, store)
    # The same bytes, delivered the other way round: the other file is now the correction.
    os.utime(old, (1_700_000_200, 1_700_000_200))

    again = _run(root, store)

    assert again.reused == ["ag-a"]
    amount = pl.col("receipt_no") == "B9"
    assert first.records.filter(amount)["amount_fen"].to_list() == [900]
    assert again.records.filter(amount)["amount_fen"].to_list() == [100]


def test_records_normalized_by_other_code_are_normalized_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, store = _zone(tmp_path), LocalStore(tmp_path / "warehouse")
    _run(root, store)
    monkeypatch.setattr(ingest, "normalizing_code", lambda: "a later nianbao")

    assert _run(root, store).reused == []


def test_an_agency_whose_file_cannot_be_read_now_is_normalized_and_quarantined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, store = _zone(tmp_path), LocalStore(tmp_path / "warehouse")
    _run(root, store)
    read_bytes = LocalLanding.read_bytes

    def failing(zone: LocalLanding, path: str) -> bytes:
        if path.startswith("ag-b/"):
            raise OSError(5, "Input/output error")
        return read_bytes(zone, path)

    monkeypatch.setattr(LocalLanding, "read_bytes", failing)
    again = _run(root, store)

    assert again.reused == ["ag-a"]
    assert again.quarantine["file"].to_list() == ["ag-b/fees/2024.csv"]
    assert sorted(again.records["receipt_no"]) == ["A1", "A2"]  # ag-b's records are gone


def test_records_stored_without_their_provenance_are_never_taken(tmp_path: Path) -> None:
    root, store = _zone(tmp_path), LocalStore(tmp_path / "warehouse")
    first = _run(root, None)
    write_records(store, "fees", first.records, sorted(CHANNELS))  # as a warehouse of before

    again = _run(root, store)

    assert again.reused == []
    assert read_index(store, "fees")["inputs"].null_count() == 0  # known from now on
    assert _run(root, store).reused == ["ag-a", "ag-b"]


def test_a_compile_run_again_takes_the_stored_records_and_gives_the_same_report(
    compile_landing, tmp_path: Path
) -> None:
    root = build_demo_landing(tmp_path / "landing")
    first = compile_landing(root, DEMO_YEAR)
    segments = sorted((tmp_path / "warehouse/records").rglob("segment-*.parquet"))

    again = compile_landing(root, DEMO_YEAR)

    assert sorted((tmp_path / "warehouse/records").rglob("segment-*.parquet")) == segments
    assert_frame_equal(again.cells, first.cells)
    assert again.source_counts == first.source_counts
    assert_frame_equal(again.quarantine, first.quarantine)
    assert AGENCY in again.unchanged
    assert sorted(again.unchanged) == sorted(set(first.cells["agency_id"]))  # no new version
    manifests = [json.loads(Path(r.manifest_uri).read_text()) for r in (first, again)]
    assert manifests[0]["inputs"] == manifests[1]["inputs"]
