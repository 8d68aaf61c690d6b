"""Counting streams the stored records: scanned lazily, each source read once, the same cells.

The compile counts from the warehouse's records (``scan_stored_records``), not from every record
held in memory; the transforms take LazyFrames and collect the counts once, by the streaming
engine. These tests pin that a scan counts exactly what the in-memory frames count.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import SimpleNamespace

import polars as pl
from polars.testing import assert_frame_equal

from flows.io.store import LocalStore
from flows.outputs.layout import records_index_key
from flows.results import SourceOutcome
from flows.steps import compile_cells, scan_stored_records, store_records
from tests.factories import agencies, records
from transforms.normalize import QUARANTINE_SCHEMA
from transforms.period import Period
from transforms.report import CountingRules, compile_report_cells, count_all
from transforms.sources import SOURCES

YEAR = 2024
PERIOD = Period.of_year(YEAR)
D = dt.date


def _golden_like(agency_id: str, scale: int = 1) -> dict[str, pl.DataFrame]:
    """A few records of every source, each touching a counting rule's edge (in, before, after
    the year; open; repealed; refused for several reasons; refunds)."""
    rows = {
        "website": [
            {"item_id": "w1", "published_on": D(2024, 3, 1), "disclosure": "proactive"}
            | {"state": "published"},
            {"item_id": "w2", "published_on": D(2023, 12, 31), "disclosure": "proactive"}
            | {"state": "published"},
            {"item_id": "w3", "published_on": D(2024, 5, 1), "disclosure": "on_request"}
            | {"state": "published"},
        ],
        "wechat": [
            {"article_key": "a1", "account": "号一", "published_on": D(2024, 2, 2)}
            | {"is_deleted": False},
            {"article_key": "a2", "account": "号一", "published_on": D(2024, 2, 3)}
            | {"is_deleted": True},
        ],
        "documents": [
            {"document_no": "d1", "category": "regulations", "published_on": D(2020, 1, 1)},
            {"document_no": "d2", "category": "normative_documents"}
            | {"published_on": D(2024, 4, 1), "repealed_on": D(2024, 9, 1)},
            {"document_no": "d3", "category": "normative_documents"}
            | {"published_on": D(2022, 4, 1), "repealed_on": D(2025, 1, 2)},
        ],
        "licensing": [
            {"decision_no": "l1", "decided_on": D(2024, 1, 1)},
            {"decision_no": "l2", "decided_on": D(2025, 1, 1)},
        ],
        "penalty": [{"decision_no": "p1", "decided_on": D(2024, 12, 31)}],
        "enforcement": [
            {"decision_no": "e1", "measure": "coercive_measure", "decided_on": D(2024, 6, 1)}
        ],
        "fees": [
            {"receipt_no": "f1", "paid_on": D(2024, 3, 3), "amount_fen": 1_234_567 * scale},
            {"receipt_no": "f2", "paid_on": D(2024, 3, 4), "amount_fen": -4_567},
        ],
        "requests": [
            {"request_id": "r1", "received_on": D(2024, 1, 5), "applicant_type": "natural_person"}
            | {"concluded_on": D(2024, 1, 20), "result": "disclosed"},
            {"request_id": "r2", "received_on": D(2023, 12, 20)}
            | {"applicant_type": "commercial_enterprise", "concluded_on": D(2024, 1, 10)}
            | {"result": "withheld", "reasons": ["withheld_state_secret", "other_other"]},
            {"request_id": "r3", "received_on": D(2024, 12, 20), "applicant_type": "other_org"},
            {"request_id": "r4", "received_on": D(2024, 6, 1), "applicant_type": "natural_person"}
            | {"concluded_on": D(2024, 6, 9), "result": "unavailable"}
            | {"reasons": ["disclosed_item", "unavailable_not_held"]},
            {"request_id": "r5", "received_on": D(2024, 7, 1), "applicant_type": "natural_person"}
            | {"concluded_on": D(2024, 7, 9), "result": "not_processed"}
            | {"reasons": ["not_processed_duplicate", "other_other", "other_other"]},
        ],
        "appeals": [
            {"case_no": "c1", "case_type": "review", "filed_on": D(2024, 2, 1)}
            | {"concluded_on": D(2024, 5, 1), "result": "upheld"},
            {"case_no": "c2", "case_type": "litigation", "route": "direct"}
            | {"filed_on": D(2024, 11, 1)},
        ],
    }
    return {name: records(name, r, agency_id).collect() for name, r in rows.items()}


def _frames() -> dict[str, pl.DataFrame]:
    a, b = _golden_like("ag-a"), _golden_like("ag-b", scale=3)
    return {name: pl.concat([a[name], b[name]]) for name in SOURCES}


def _registry() -> pl.DataFrame:
    return agencies("ag-a", "ag-b", channels=("政府网站", "号一"), rulemaking=True)


def test_counting_scanned_parquet_equals_counting_frames_in_memory(tmp_path: Path) -> None:
    frames = _frames()
    scans = {}
    for name, frame in frames.items():
        frame.write_parquet(tmp_path / f"{name}.parquet")
        scans[name] = pl.scan_parquet(tmp_path / f"{name}.parquet")

    in_memory = compile_report_cells(
        {n: f.lazy() for n, f in frames.items()}, _registry(), PERIOD
    ).collect()
    scanned = compile_report_cells(scans, _registry(), PERIOD).collect()

    assert_frame_equal(scanned, in_memory)
    assert in_memory["value"].sum() > 0  # the fixtures count something in every section
    assert set(in_memory.filter(pl.col("value") != 0)["section"]) == {
        "channels",
        "proactive",
        "requests",
        "appeals",
    }


def test_counting_reads_each_source_once(tmp_path: Path) -> None:
    scans = {}
    for name, frame in _frames().items():
        frame.write_parquet(tmp_path / f"{name}.parquet")
        scans[name] = pl.scan_parquet(tmp_path / f"{name}.parquet")

    plan = count_all(scans, _registry(), PERIOD, CountingRules()).explain(engine="streaming")

    scanned = re.findall(r"Parquet SCAN \[[^\]]*?(\w+)\.parquet\]", plan)
    assert sorted(scanned) == sorted(SOURCES)  # requests and documents once, not 4 and 3 times


class _ObjectStore:
    """A store that is not a local folder (as S3 is): bytes by key, nothing to scan in place."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def exists(self, key: str) -> bool:
        return key in self.objects

    def read_bytes(self, key: str) -> bytes:
        if key not in self.objects:
            raise FileNotFoundError(key)
        return self.objects[key]

    def write_bytes(self, key: str, data: bytes, durable: bool = True) -> str:
        self.objects[key] = data
        return f"mem://{key}"

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def remove(self, key: str) -> None:
        self.objects.pop(key, None)


def _store_all(warehouse, frames: dict[str, pl.DataFrame], agency_ids: list[str]) -> None:
    outcomes = {
        name: SourceOutcome(name, frame, pl.DataFrame(schema=QUARANTINE_SCHEMA), frame.height, [])
        for name, frame in frames.items()
    }
    store_records.fn(warehouse, outcomes, agency_ids)


def test_stored_records_scanned_for_the_run_agencies_count_as_the_frames_do(
    tmp_path: Path,
) -> None:
    frames = _frames()
    for warehouse in (LocalStore(tmp_path / "wh"), _ObjectStore()):
        # An earlier run stored another agency's records: this run must not count them.
        other = {
            n: f.with_columns(agency_id=pl.lit("ag-z").cast(pl.Categorical))
            for n, f in frames.items()
        }
        _store_all(warehouse, other, ["ag-z"])
        _store_all(warehouse, frames, ["ag-a", "ag-b"])

        scanned = {n: scan_stored_records(warehouse, n, ["ag-a", "ag-b"]) for n in SOURCES}

        assert all(isinstance(frame, pl.LazyFrame) for frame in scanned.values())
        rules = CountingRules()
        assert_frame_equal(
            compile_cells.fn(scanned, _registry(), PERIOD, rules),
            compile_cells.fn(frames, _registry(), PERIOD, rules),
        )
    assert (tmp_path / "wh" / records_index_key("requests")).is_file()


def test_the_flow_counts_the_stored_records_not_the_ones_in_memory(
    prefect_api, tmp_path: Path
) -> None:
    from flows.recipe import count

    frames = _frames()
    warehouse = LocalStore(tmp_path / "wh")
    _store_all(warehouse, frames, ["ag-a", "ag-b"])
    # What ingest handed on is not what counting reads: the stored records are.
    emptied = {
        n: SourceOutcome(n, f.clear(), pl.DataFrame(schema=QUARANTINE_SCHEMA), 0, [])
        for n, f in frames.items()
    }
    job = SimpleNamespace(
        warehouse=warehouse,
        agency_ids=["ag-a", "ag-b"],
        selection=SimpleNamespace(agencies=_registry()),
        period=PERIOD,
        settings=SimpleNamespace(counting_rules=CountingRules()),
        status="provisional",
    )

    cells = count(job, emptied)

    expected = compile_cells.fn(frames, _registry(), PERIOD, CountingRules())
    assert_frame_equal(cells, expected)
