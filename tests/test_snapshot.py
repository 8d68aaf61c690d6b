"""The compacted snapshot of a year holds exactly the current report_cells of every agency."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.handfilled import agency_for, report_template
from flows.io.store import LocalStore, Store, parquet_bytes, read_parquet_bytes
from flows.outputs.layout import (
    SNAPSHOT_PARTS,
    cells_key,
    snapshot_manifest_key,
    snapshot_part,
    snapshot_part_key,
    snapshot_prefix,
)
from flows.outputs.publish import (
    PUBLISHED_COLUMNS,
    Release,
    begin_publishing,
    newly_published,
    restore_interrupted,
)
from flows.outputs.snapshot import publish_snapshot
from tests.test_rollup_flow import _landing as rollup_landing
from transforms.period import Period

PERIOD = Period.of_year(2024, as_of=dt.date(2024, 12, 31))
KEY = ["agency_id", "section", "row", "column"]


def _counted(agency_ids: list[str], issued: int) -> pl.DataFrame:
    """Each agency's cells as a run counts them: a nil return with ``issued`` 规章 issued."""
    frames = []
    for agency_id in agency_ids:
        template = report_template(agency_for(agency_id, None), 2024).drop("year")
        first = pl.int_range(pl.len()) == 0
        frames.append(
            template.with_columns(
                value=pl.when(first).then(issued).otherwise(0).cast(pl.Decimal(18, 4))
            )
        )
    return pl.concat(frames)


def _publish_cells(out: Store, cells: pl.DataFrame, release: Release) -> list[str]:
    """report_cells of these agencies as publish_report writes them (the commit point)."""
    written = []
    for (agency_id,), mine in cells.partition_by("agency_id", as_dict=True).items():
        published = mine.with_columns(
            status=pl.lit(release.status),
            as_of=pl.lit(release.period.end),
            run_id=pl.lit(release.run_id),
        ).select(PUBLISHED_COLUMNS)
        written.append(out.write_bytes(cells_key(2024, agency_id), parquet_bytes(published)))
    return written


def _run(out: Store, agency_ids: list[str], issued: int, refused: tuple[str, ...] = ()) -> str:
    """One run of these agencies: cells published (but not the refused ones'), then snapshot."""
    run_id = f"r-{uuid.uuid4().hex[:8]}"
    release = Release(PERIOD, "final", run_id, [])
    cells = _counted(agency_ids, issued)
    passed = cells.filter(~pl.col("agency_id").is_in(refused))
    written = _publish_cells(out, passed, release)
    publish_snapshot(out, release, newly_published(out, 2024, agency_ids, written), cells)
    return run_id


def _report_cells(out: Store, year: int = 2024) -> pl.DataFrame:
    """Every agency's current report_cells of the year, with its id from the path."""
    frames = [
        read_parquet_bytes(out.read_bytes(key)).with_columns(
            agency_id=pl.lit(key.split("agency_id=")[1].split("/")[0])
        )
        for key in out.keys(f"report_cells/year={year}/")
    ]
    return pl.concat(frames).select("agency_id", *PUBLISHED_COLUMNS).sort(KEY)


def _snapshot(out: Store, year: int = 2024) -> pl.DataFrame:
    parts = [k for k in out.keys(snapshot_prefix(year)) if k.endswith(".parquet")]
    frame = pl.concat([read_parquet_bytes(out.read_bytes(k)) for k in parts])
    assert frame["year"].unique().to_list() == [year]
    return frame.drop("year").sort(KEY)


def _assert_snapshot_is_report_cells(out: Store) -> None:
    assert_frame_equal(_snapshot(out), _report_cells(out))


class CountingStore(LocalStore):
    """A local store that remembers every key read (or asked about) and written."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.read: set[str] = set()
        self.written: set[str] = set()

    def read_bytes(self, key: str) -> bytes:
        self.read.add(key)
        return super().read_bytes(key)

    def exists(self, key: str) -> bool:
        self.read.add(key)
        return super().exists(key)

    def keys(self, prefix: str) -> list[str]:
        self.read.add(prefix + "*")
        return super().keys(prefix)

    def write_bytes(self, key: str, data: bytes, durable: bool = True) -> str:
        self.written.add(key)
        return super().write_bytes(key, data, durable)


AGENCIES = [f"ag-{i:03d}" for i in range(40)]


def test_a_dataset_without_a_snapshot_gets_every_part_built_from_report_cells(
    tmp_path: Path,
) -> None:
    out = LocalStore(tmp_path)
    release = Release(PERIOD, "final", "old-run", [])
    _publish_cells(out, _counted(AGENCIES, 1), release)  # published before snapshots existed

    _run(out, ["ag-007"], issued=5)

    parts = [k for k in out.keys(snapshot_prefix(2024)) if k.endswith(".parquet")]
    assert parts == [snapshot_part_key(2024, p) for p in range(SNAPSHOT_PARTS)]
    _assert_snapshot_is_report_cells(out)
    assert _snapshot(out).filter(agency_id="ag-007")["value"].max() == 5


def test_a_first_run_builds_the_snapshot_without_reading_back_the_cells_it_just_wrote(
    tmp_path: Path,
) -> None:
    out = CountingStore(tmp_path)

    _run(out, AGENCIES, issued=1)

    assert not {k for k in out.read if k.startswith("report_cells/") and k.endswith(".parquet")}
    _assert_snapshot_is_report_cells(out)


def test_a_one_agency_run_reads_and_rewrites_only_the_part_holding_it(tmp_path: Path) -> None:
    out = CountingStore(tmp_path)
    _run(out, AGENCIES, issued=1)
    out.read.clear()
    out.written.clear()

    run_id = _run(out, ["ag-011"], issued=9)

    part = snapshot_part_key(2024, snapshot_part("ag-011"))
    snapshot_reads = {k for k in out.read if k.startswith("snapshots/")}
    assert snapshot_reads == {part, snapshot_manifest_key(2024)}
    # No agency's report_cells read: the run's own cells came from memory.
    assert not {k for k in out.read if k.startswith("report_cells/")}
    assert out.written == {cells_key(2024, "ag-011"), part, snapshot_manifest_key(2024)}
    _assert_snapshot_is_report_cells(out)
    manifest = json.loads(out.read_bytes(snapshot_manifest_key(2024)))
    assert manifest["snapshot_of"][part.rsplit("/", 1)[1].removesuffix(".parquet")]["run_id"] == (
        run_id
    )


def test_a_refused_report_keeps_its_previous_cells_in_the_snapshot(tmp_path: Path) -> None:
    out = LocalStore(tmp_path)
    _run(out, AGENCIES, issued=1)

    _run(out, ["ag-001", "ag-002"], issued=4, refused=("ag-002",))

    _assert_snapshot_is_report_cells(out)
    values = _snapshot(out).group_by("agency_id").agg(pl.col("value").max())
    assert dict(values.iter_rows())["ag-002"] == 1  # the previous version, still current
    assert dict(values.iter_rows())["ag-001"] == 4


def test_a_run_cut_off_before_its_snapshot_is_repaired_from_report_cells_at_the_next_start(
    tmp_path: Path,
) -> None:
    out = LocalStore(tmp_path)
    _run(out, AGENCIES, issued=1)
    # A run publishes the cells of two agencies and is killed before its snapshot parts.
    begin_publishing(out, 2024, ["ag-003", "ag-020"], "killed")
    _publish_cells(out, _counted(["ag-003", "ag-020"], 6), Release(PERIOD, "final", "killed", []))
    assert not _snapshot(out).equals(_report_cells(out))  # stale until repaired

    restore_interrupted(out)  # as the next run's start does

    _assert_snapshot_is_report_cells(out)
    manifest = json.loads(out.read_bytes(snapshot_manifest_key(2024)))
    part = f"part-{snapshot_part('ag-020'):02d}"
    assert manifest["snapshot_of"][part]["run_id"] == "killed"


def test_the_snapshot_is_kept_on_s3_reading_only_the_parts_of_the_run(s3_env) -> None:
    from flows.settings import load_settings

    s3_env.client().create_bucket(Bucket="snap")
    out = load_settings().store("s3://snap/pub")
    _run(out, AGENCIES[:12], issued=1)
    _run(out, ["ag-004"], issued=3, refused=())
    _run(out, ["ag-005", "ag-006"], issued=2, refused=("ag-006",))

    _assert_snapshot_is_report_cells(out)
    objects = s3_env.client().list_objects_v2(Bucket="snap", Prefix="pub/snapshots/")
    keys = {o["Key"] for o in objects["Contents"]}
    assert f"pub/{snapshot_manifest_key(2024)}" in keys
    assert len(keys) == SNAPSHOT_PARTS + 1


def test_the_snapshot_equals_report_cells_after_refused_cut_off_and_rollup_runs(
    compile_landing, tmp_path: Path, monkeypatch
) -> None:
    landing, out = rollup_landing(tmp_path), LocalStore(tmp_path / "published")
    compile_landing(landing, 2024, agencies=["ag-a", "ag-b", "ag-c"])  # and roll-ups of ag-a, ag-c
    _assert_snapshot_is_report_cells(out)
    # ag-b has no rule-making power (否) yet reports a 规章 made this year: B9 refuses it.
    documents = landing / "ag-b" / "documents" / "documents.csv"
    documents.parent.mkdir(parents=True)
    documents.write_text(
        "文号,标题,文件类别,公布日期,废止日期\n令1号,新规章,规章,2024-03-01,\n", encoding="utf-8"
    )
    refused = compile_landing(landing, 2024, agencies=["ag-a", "ag-b"])
    assert refused.failed_agencies == ["ag-b"]
    _assert_snapshot_is_report_cells(out)

    # A run whose disk fills up after the cells, at its first snapshot part.
    real_write = LocalStore.write_bytes
    failed = []

    def full_at_the_snapshot(self, key, data, durable=True):
        if key.startswith("snapshots/") and not failed:
            failed.append(key)
            raise OSError(28, "No space left on device")
        return real_write(self, key, data, durable)

    monkeypatch.setattr(LocalStore, "write_bytes", full_at_the_snapshot)
    with pytest.raises(Exception, match="No space left"):
        compile_landing(landing, 2024, agencies=["ag-c", "ag-d"], allow_empty=True)
    assert failed
    monkeypatch.setattr(LocalStore, "write_bytes", real_write)
    _assert_snapshot_is_report_cells(out)  # repaired as the run failed

    compile_landing(landing, 2024, agencies=["ag-d"], allow_empty=True)
    _assert_snapshot_is_report_cells(out)
    assert set(_snapshot(out)["agency_id"]) == {"ag-a", "ag-b", "ag-c", "ag-d"}
