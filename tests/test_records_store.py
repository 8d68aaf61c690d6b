"""The warehouse's records: a run writes one segment and the index, never other agencies' rows."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.io import records
from flows.io.records import (
    MAX_SEGMENTS,
    read_index,
    record_schema,
    scan_records,
    write_records,
)
from flows.io.store import LocalStore, open_store, parquet_bytes
from flows.outputs.layout import records_index_key, records_key, records_prefix

SOURCE = "fees"


def _fees(agency_id: str, rows: int, fen: int = 100) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "agency_id": [agency_id] * rows,
            "file": [f"{agency_id}/fees/fees.csv"] * rows,
            "row": list(range(2, rows + 2)),
            "delivered_at": [dt.datetime(2025, 1, 5, tzinfo=dt.UTC)] * rows,
            "receipt_no": [f"{agency_id}-{i}" for i in range(rows)],
            "fee_item": ["城市道路占用费"] * rows,
            "paid_on": [dt.date(2024, 6, 1)] * rows,
            "amount_fen": [fen] * rows,
        },
        schema=record_schema(SOURCE),
    )


def _current(store, agency_ids=None) -> pl.DataFrame:
    return scan_records(store, SOURCE, agency_ids).collect().sort("agency_id", "row")


def _segments(store) -> list[str]:
    return [k for k in store.keys(records_prefix(SOURCE)) if k != records_index_key(SOURCE)]


def _first_run(store, agencies: int = 20) -> list[str]:
    ids = [f"ag-{i:03d}" for i in range(agencies)]
    write_records(store, SOURCE, pl.concat([_fees(a, 3) for a in ids]), ids)
    return ids


def test_one_agency_recompiled_writes_one_segment_and_leaves_the_others_untouched(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "wh")
    ids = _first_run(store)
    (first,) = _segments(store)
    before = (store.root / first).stat()

    write_records(store, SOURCE, _fees("ag-007", 5, fen=999), ["ag-007"])

    segments = _segments(store)
    assert len(segments) == 2 and first in segments
    after = (store.root / first).stat()
    assert (after.st_mtime_ns, after.st_size, after.st_ino) == (
        before.st_mtime_ns,
        before.st_size,
        before.st_ino,
    )
    (new,) = set(segments) - {first}
    assert set(pl.read_parquet(store.root / new)["agency_id"]) == {"ag-007"}
    current = _current(store)
    assert current.filter(agency_id="ag-007")["amount_fen"].to_list() == [999] * 5
    expected = pl.concat([_fees(a, 3) for a in ids if a != "ag-007"] + [_fees("ag-007", 5, 999)])
    assert_frame_equal(current, expected.sort("agency_id", "row"))


def test_an_agency_recompiled_with_no_records_has_none_left(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "wh")
    _first_run(store, agencies=3)

    write_records(store, SOURCE, _fees("x", 0), ["ag-001"])

    assert "ag-001" not in set(_current(store)["agency_id"])
    assert _current(store, ["ag-001"]).is_empty()
    assert len(_segments(store)) == 1  # nothing new to write: no empty segment


def test_the_index_is_the_commit_point_a_run_cut_off_before_it_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path / "wh")
    _first_run(store, agencies=4)
    committed = _current(store)
    real_write = LocalStore.write_bytes

    def cut_off_at_the_index(self, key: str, data: bytes, durable: bool = True) -> str:
        if key == records_index_key(SOURCE):
            raise OSError(28, "No space left on device")
        return real_write(self, key, data, durable)

    monkeypatch.setattr(LocalStore, "write_bytes", cut_off_at_the_index)
    with pytest.raises(OSError, match="No space"):
        write_records(store, SOURCE, _fees("ag-002", 7, fen=5), ["ag-002"])
    monkeypatch.undo()

    assert len(_segments(store)) == 2  # the cut-off run's segment is there, but named by no index
    assert_frame_equal(_current(store), committed)
    # The next run removes the orphan once its own index is written.
    write_records(store, SOURCE, _fees("ag-003", 1, fen=7), ["ag-003"])
    assert len(_segments(store)) == 2
    assert set(read_index(store, SOURCE)["segment"]) == set(_segments(store))
    assert _current(store, ["ag-002"])["amount_fen"].to_list() == [100] * 3


def test_compaction_keeps_the_number_of_segments_bounded_and_the_records_exact(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "wh")
    ids = _first_run(store, agencies=30)
    expected = {a: _fees(a, 3) for a in ids}
    counts = []
    for night in range(3 * MAX_SEGMENTS):
        agency = ids[night % len(ids)]
        expected[agency] = _fees(agency, 1 + night % 4, fen=night)
        write_records(store, SOURCE, expected[agency], [agency])
        counts.append(len(_segments(store)))

    assert max(counts) <= MAX_SEGMENTS
    assert min(counts[MAX_SEGMENTS:]) < MAX_SEGMENTS  # folded, not merely capped
    assert set(read_index(store, SOURCE)["segment"]) == set(_segments(store))
    assert_frame_equal(_current(store), pl.concat(expected.values()).sort("agency_id", "row"))


def test_a_mostly_superseded_segment_is_folded_into_the_next_one(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "wh")
    ids = _first_run(store, agencies=10)
    (first,) = _segments(store)

    write_records(store, SOURCE, pl.concat([_fees(a, 2, 1) for a in ids[:5]]), ids[:5])
    assert first in _segments(store)  # half of it still live: left in place
    write_records(store, SOURCE, _fees("ag-009", 1, 2), ["ag-009"])

    assert first not in _segments(store)  # 4 of 10 agencies live: copied on and removed
    assert _current(store, ids[5:9])["amount_fen"].to_list() == [100] * 12


def test_records_stored_before_segments_are_read_and_then_replaced(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "wh")
    old = pl.concat([_fees("ag-a", 2), _fees("ag-b", 3)])
    store.write_bytes(records_key(SOURCE), parquet_bytes(old))
    assert_frame_equal(_current(store), old)

    write_records(store, SOURCE, _fees("ag-a", 1, fen=5), ["ag-a"])
    assert (store.root / records_key(SOURCE)).is_file()  # ag-b's rows are still only there
    write_records(store, SOURCE, _fees("ag-b", 1, fen=6), ["ag-b"])

    assert not (store.root / records_key(SOURCE)).exists()
    assert _current(store)["amount_fen"].to_list() == [5, 6]


def test_nothing_stored_reads_as_no_records_of_the_source_schema(tmp_path: Path) -> None:
    scanned = scan_records(LocalStore(tmp_path / "wh"), SOURCE, ["ag-a"])
    assert scanned.collect_schema() == record_schema(SOURCE)
    assert scanned.collect().is_empty()


def test_on_s3_a_one_agency_change_writes_one_segment_and_the_index_only(s3_env) -> None:
    bucket = f"wh-{uuid.uuid4().hex[:12]}"
    s3_env.client().create_bucket(Bucket=bucket)
    store = open_store(f"s3://{bucket}/warehouse", endpoint_url=s3_env.endpoint)
    ids = _first_run(store, agencies=5)
    before = {o["Key"]: (o["ETag"], o["LastModified"]) for o in store.objects("records/")}

    write_records(store, SOURCE, _fees("ag-002", 4, fen=42), ["ag-002"])

    after = {o["Key"]: (o["ETag"], o["LastModified"]) for o in store.objects("records/")}
    new = set(after) - set(before)
    assert len(new) == 1 and next(iter(new)).startswith(records_prefix(SOURCE) + "segment-")
    changed = {k for k in before if after.get(k) != before[k]}
    assert changed == {records_index_key(SOURCE)}
    expected = pl.concat([_fees(a, 3) for a in ids if a != "ag-002"] + [_fees("ag-002", 4, 42)])
    assert_frame_equal(_current(store), expected.sort("agency_id", "row"))
    assert _current(store, ["ag-002"])["amount_fen"].to_list() == [42] * 4


def test_segment_names_sort_oldest_first(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "wh")
    _first_run(store, agencies=2)
    write_records(store, SOURCE, _fees("ag-000", 1), ["ag-000"])
    index = read_index(store, SOURCE).sort("agency_id")
    assert index["segment"][0] > index["segment"][1]
    assert index.schema == records.INDEX_SCHEMA
