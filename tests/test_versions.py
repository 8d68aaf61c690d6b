"""Every published version is one object, and the versions older runs kept as folders still read."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from flows.handfilled import agency_for, report_template
from flows.io.store import LocalStore, parquet_bytes
from flows.outputs.layout import (
    RENDERED,
    cells_key,
    history_prefix,
    report_key,
    validation_key,
    version_key,
)
from flows.outputs.publish import (
    Release,
    begin_publishing,
    publish_report,
    restore_interrupted,
    revisions,
)
from flows.outputs.versions import ABOUT, CELLS, read_version
from transforms.balance import VIOLATION_SCHEMA
from transforms.period import Period

PERIOD = Period.of_year(2024, as_of=dt.date(2024, 12, 31))
AGENCY = {"agency_id": "ag-a", "name": "甲局", "fee_decimals": 2}
NO_VIOLATIONS = pl.DataFrame(schema=VIOLATION_SCHEMA)
# A plausibility doubt: the report is published, its validation result differs.
A_WARNING = pl.DataFrame(
    [
        {
            "agency_id": "ag-a",
            "rule": "W1",
            "severity": "warning",
            "cells": "channels/website/items",
            "expected": "at least one item",
            "actual": "0",
        }
    ],
    schema=VIOLATION_SCHEMA,
)


def _cells(issued: int = 0) -> pl.DataFrame:
    """A nil return, with ``issued`` rules issued (二 (一) 规章 本年制发件数)."""
    template = report_template(agency_for("ag-a", None), 2024).drop("year", "agency_id")
    first_value = pl.int_range(pl.len()) == 0
    return template.with_columns(
        value=pl.when(first_value).then(issued).otherwise(0).cast(pl.Decimal(18, 4))
    )


def _publish(
    out: LocalStore,
    run_id: str,
    cells: pl.DataFrame,
    violations: pl.DataFrame = NO_VIOLATIONS,
    status: str = "final",
) -> list[str]:
    return publish_report(out, AGENCY, cells, violations, Release(PERIOD, status, run_id, []))


def _current_files(out: LocalStore) -> dict[str, bytes]:
    return {name: out.read_bytes(report_key(2024, "ag-a", name)) for name in RENDERED}


def test_a_published_version_is_one_object_holding_its_cells_files_and_result(
    tmp_path: Path,
) -> None:
    out = LocalStore(tmp_path)
    _publish(out, "r1", _cells())
    assert out.keys(history_prefix(2024, "ag-a")) == [version_key(2024, "ag-a", "r1")]
    version = read_version(out, version_key(2024, "ag-a", "r1"))
    assert version.about["run_id"] == "r1" and version.about["status"] == "final"
    assert version.cells == out.read_bytes(cells_key(2024, "ag-a"))
    assert {name: version.files[name] for name in RENDERED} == _current_files(out)
    assert version.files["result.json"] == out.read_bytes(validation_key(2024, "ag-a"))


def test_a_cut_off_publish_after_an_unchanged_version_puts_back_the_files_it_names(
    tmp_path: Path,
) -> None:
    out = LocalStore(tmp_path)
    _publish(out, "r1", _cells())
    first = _current_files(out)
    _publish(out, "r2", _cells(), A_WARNING)  # the same files: r2's version names r1's
    assert read_version(out, version_key(2024, "ag-a", "r2")).files_of == "r1"
    # r3 changes a cell and is cut off after its rendered files, before its cells.
    begin_publishing(out, 2024, ["ag-a"], "r3")
    changed = _cells(issued=7)
    real_write = out.write_bytes

    def cut_off_at_the_cells(key, data, durable=True):
        if key == cells_key(2024, "ag-a"):
            raise OSError("cut off")
        return real_write(key, data, durable)

    out.write_bytes = cut_off_at_the_cells
    with pytest.raises(OSError, match="cut off"):
        _publish(out, "r3", changed)
    out.write_bytes = real_write
    assert _current_files(out) != first  # r3's files, beside r2's cells

    assert restore_interrupted(out) == ["ag-a"]
    assert _current_files(out) == first
    assert json.loads(out.read_bytes(validation_key(2024, "ag-a")))["run_id"] == "r2"


def test_versions_kept_as_folders_by_an_older_nianbao_are_listed_and_restored(
    tmp_path: Path,
) -> None:
    out = LocalStore(tmp_path)
    _publish(out, "r1", _cells())
    # r1 as an older nianbao kept it: a folder of files, not one zip.
    kept = read_version(out, version_key(2024, "ag-a", "r1"))
    folder = version_key(2024, "ag-a", "r1").removesuffix(".zip")
    out.write_bytes(f"{folder}/{ABOUT}", json.dumps(kept.about).encode())
    out.write_bytes(f"{folder}/{CELLS}", kept.cells)
    for name, data in kept.files.items():
        out.write_bytes(f"{folder}/{name}", data)
    out.remove(version_key(2024, "ag-a", "r1"))
    first = _current_files(out)

    _publish(out, "r2", _cells(issued=3))
    listed = revisions(out, 2024, "ag-a")
    assert [(v["run_id"], v["current"]) for v in listed] == [("r1", False), ("r2", True)]
    assert [(c["old"], c["new"]) for c in listed[1]["changed"]] == [(0, 3)]

    # A cut-off r3 is put back to r2, then r2 itself (say its cells were lost) to the folder r1.
    out.write_bytes(cells_key(2024, "ag-a"), parquet_bytes(pl.read_parquet(kept.cells)))
    begin_publishing(out, 2024, ["ag-a"], "r2")
    assert restore_interrupted(out) == ["ag-a"]
    assert _current_files(out) == first


def test_a_version_keeps_what_it_changed_so_revisions_read_no_earlier_cells(
    tmp_path: Path,
) -> None:
    from decimal import Decimal

    from flows.outputs.versions import Version, write_version

    out = LocalStore(tmp_path)
    _publish(out, "r1", _cells())
    _publish(out, "r2", _cells(issued=3))
    _publish(out, "r3", _cells(issued=3), A_WARNING)  # no cell changed, its result did

    about = read_version(out, version_key(2024, "ag-a", "r2")).about
    assert about["changed_from"] == "r1"
    assert [(c["old"], c["new"]) for c in about["changed"]] == [("0.0000", "3.0000")]
    # r1's and r2's cells made unreadable: listing the revisions does not need them.
    for run in ("r1", "r2"):
        kept = read_version(out, version_key(2024, "ag-a", run))
        write_version(
            out, version_key(2024, "ag-a", run), Version(kept.about, b"not parquet", kept.files)
        )

    listed = revisions(out, 2024, "ag-a")

    assert [(v["run_id"], v["current"]) for v in listed] == [
        ("r1", False),
        ("r2", False),
        ("r3", True),
    ]
    assert [(c["old"], c["new"]) for c in listed[1]["changed"]] == [(Decimal(0), Decimal(3))]
    assert listed[2]["changed"] == [] and listed[2]["changed_from"] == "r2"


def _stamps(out: LocalStore) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in out.root.rglob("*") if p.is_file()}


def test_a_report_identical_to_its_current_version_is_not_published_again(
    tmp_path: Path,
) -> None:
    out = LocalStore(tmp_path)
    _publish(out, "r1", _cells(issued=2))
    before = _stamps(out)

    assert _publish(out, "r2", _cells(issued=2)) == []

    assert _stamps(out) == before  # not a file written, not even touched
    assert [(v["run_id"], v["current"]) for v in revisions(out, 2024, "ag-a")] == [("r1", True)]
    assert pl.read_parquet(tmp_path / cells_key(2024, "ag-a"))["run_id"][0] == "r1"


@pytest.mark.parametrize(
    "what_differs", ["a cell", "a warning", "the status", "a file removed by hand"]
)
def test_a_report_that_differs_from_its_current_version_in_anything_is_a_new_version(
    tmp_path: Path, what_differs: str
) -> None:
    out = LocalStore(tmp_path)
    _publish(out, "r1", _cells(issued=2))
    first = _current_files(out)
    cells, violations, status = _cells(issued=2), NO_VIOLATIONS, "final"
    if what_differs == "a cell":
        cells = _cells(issued=3)
    elif what_differs == "a warning":
        violations = A_WARNING
    elif what_differs == "the status":
        status = "provisional"
    else:
        out.remove(report_key(2024, "ag-a", "report.pdf"))

    assert _publish(out, "r2", cells, violations, status)

    assert [(v["run_id"], v["current"]) for v in revisions(out, 2024, "ag-a")] == [
        ("r1", False),
        ("r2", True),
    ]
    assert json.loads(out.read_bytes(validation_key(2024, "ag-a")))["run_id"] == "r2"
    if what_differs in ("a warning", "a file removed by hand"):
        assert _current_files(out) == first  # the same files, put back where one was removed
