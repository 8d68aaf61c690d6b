"""`nianbao history prune`: which old published versions go, and which always stay."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.io.store import LocalStore, parquet_bytes
from flows.outputs.layout import cells_key, rollup_cells_key, rollup_version_key, version_key
from flows.outputs.retention import RetentionRule, prune_history
from flows.outputs.versions import ABOUT, CELLS, Version, version_keys, write_version

RULE = RetentionRule(provisional_days=90, keep_provisional=2)
FINAL_AT = dt.datetime(2025, 1, 10, tzinfo=dt.UTC)


def _at(month: int, day: int = 1, year: int = 2024) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.UTC)


def _version(
    out: LocalStore,
    run_id: str,
    status: str,
    published_at: dt.datetime,
    files_of: str | None = None,
    agency_id: str = "ag-a",
    year: int = 2024,
    key_of=version_key,
) -> None:
    about = {"run_id": run_id, "status": status, "published_at": published_at.isoformat()}
    files = {"report.md": run_id.encode()}
    if files_of:
        about["files_of"], files = files_of, {}
    cells = parquet_bytes(pl.DataFrame({"value": [1], "run_id": [run_id]}))
    write_version(out, key_of(year, agency_id, run_id), Version(about, cells, files))


def _current(out: LocalStore, run_id: str, agency_id: str = "ag-a", key=cells_key) -> None:
    """The current cells name ``run_id`` (one cell is enough here)."""
    cell = {"section": "s", "row": "r", "column": "c", "value": 0, "row_label": "r"}
    cell |= {"column_label": "c", "status": "final", "as_of": dt.date(2024, 12, 31)}
    frame = pl.DataFrame([cell | {"run_id": run_id}]).cast({"value": pl.Decimal(18, 4)})
    out.write_bytes(key(2024, agency_id), parquet_bytes(frame))


def _kept(out: LocalStore, agency_id: str = "ag-a", prefix: str = "history/") -> list[str]:
    keys = version_keys(out, f"{prefix}year=2024/agency_id={agency_id}/")
    return [k.rsplit("run_id=", 1)[1].removesuffix(".zip") for k in keys]


def _nightly_year(out: LocalStore, agency_id: str = "ag-a") -> None:
    """Five month-end provisional versions of 2024, then the final one of January 2025."""
    for month in range(1, 6):
        _version(out, f"p{month}", "provisional", _at(month), agency_id=agency_id)
    _version(out, "f1", "final", FINAL_AT, agency_id=agency_id)
    _current(out, "f1", agency_id)


@pytest.mark.parametrize(
    ("days_after_final", "kept"),
    [
        pytest.param(89, ["f1", "p1", "p2", "p3", "p4", "p5"], id="within_the_days_all_kept"),
        pytest.param(91, ["f1", "p4", "p5"], id="after_the_days_the_last_two_kept"),
    ],
)
def test_provisional_versions_stay_until_the_days_after_the_final_then_only_the_last_ones(
    tmp_path: Path, days_after_final: int, kept: list[str]
) -> None:
    out = LocalStore(tmp_path)
    _nightly_year(out)
    now = FINAL_AT + dt.timedelta(days=days_after_final)

    removed, still = prune_history(out, RULE, now)

    assert _kept(out) == kept
    assert still == len(kept)
    assert sorted(r.run_id for r in removed) == sorted(
        {"f1", "p1", "p2", "p3", "p4", "p5"} - {*kept}
    )


def test_a_year_with_no_final_version_keeps_every_provisional_one(tmp_path: Path) -> None:
    out = LocalStore(tmp_path)
    for month in range(1, 10):
        _version(out, f"p{month}", "provisional", _at(month))
    _current(out, "p9")

    assert prune_history(out, RULE, _at(1, year=2030)) == ([], 9)


def test_final_versions_and_the_current_one_are_never_removed(tmp_path: Path) -> None:
    out = LocalStore(tmp_path)
    _version(out, "f1", "final", FINAL_AT)
    _version(out, "p-old", "provisional", _at(3))
    _version(out, "f2", "final", FINAL_AT + dt.timedelta(days=30))  # a correction
    for i in range(4):
        _version(out, f"p-late{i}", "provisional", _at(6, i + 1, year=2025))
    # A provisional current version (a run republished it provisional after the final: say a
    # re-run with the wrong date) is kept though it is not among the last two.
    _version(out, "p-current", "provisional", _at(5, year=2025))
    _current(out, "p-current")

    prune_history(out, RetentionRule(provisional_days=0, keep_provisional=2), _at(1, year=2030))

    assert _kept(out) == ["f1", "f2", "p-current", "p-late2", "p-late3"]


def test_the_version_holding_a_kept_versions_files_is_kept(tmp_path: Path) -> None:
    out = LocalStore(tmp_path)
    _version(out, "p1", "provisional", _at(1))  # holds the files
    _version(out, "p2", "provisional", _at(2), files_of="p1")  # a quiet night: names p1
    _version(out, "p3", "provisional", _at(3), files_of="p1")
    _version(out, "f1", "final", FINAL_AT)
    _current(out, "f1")

    prune_history(out, RetentionRule(provisional_days=90, keep_provisional=1), _at(1, year=2026))

    assert _kept(out) == ["f1", "p1", "p3"]


def test_rollup_versions_are_pruned_by_the_same_rule_against_their_current_rollup(
    tmp_path: Path,
) -> None:
    out = LocalStore(tmp_path)
    for month in range(1, 5):
        _version(out, f"p{month}", "provisional", _at(month), key_of=rollup_version_key)
    _version(out, "f1", "final", FINAL_AT, key_of=rollup_version_key)
    _current(out, "p1", key=rollup_cells_key)  # its current roll-up, whatever its age

    prune_history(out, RULE, _at(1, year=2026))

    assert _kept(out, prefix="rollup_history/") == ["f1", "p1", "p3", "p4"]


def test_a_version_kept_as_a_folder_by_an_older_nianbao_is_removed_whole(tmp_path: Path) -> None:
    out = LocalStore(tmp_path)
    folder = version_key(2024, "ag-a", "p0").removesuffix(".zip")
    about = {"run_id": "p0", "status": "provisional", "published_at": _at(1).isoformat()}
    out.write_bytes(f"{folder}/{ABOUT}", json.dumps(about).encode())
    out.write_bytes(f"{folder}/{CELLS}", b"cells")
    out.write_bytes(f"{folder}/report.html", b"<html>")
    _nightly_year(out)

    removed, _ = prune_history(out, RULE, _at(1, year=2026))

    assert "p0" in [r.run_id for r in removed]
    assert not (tmp_path / folder).exists() or not any((tmp_path / folder).iterdir())
    assert _kept(out) == ["f1", "p4", "p5"]


def test_prune_dry_run_lists_what_it_would_remove_and_removes_nothing_then_year_limits_it(
    tmp_path: Path, monkeypatch
) -> None:
    out = LocalStore(tmp_path / "published")
    _nightly_year(out)  # 2024
    for month in range(1, 6):
        _version(out, f"q{month}", "provisional", _at(month, year=2023), year=2023)
    _version(out, "g1", "final", _at(1, 10, year=2024), year=2023)
    monkeypatch.setenv("NIANBAO_HISTORY__KEEP_PROVISIONAL", "1")
    monkeypatch.setenv("NIANBAO_HISTORY__PROVISIONAL_DAYS", "30")
    args = ["history", "prune", "--out", str(tmp_path / "published")]

    dry = CliRunner().invoke(app, [*args, "--year", "2024", "--dry-run"])

    assert dry.exit_code == 0, dry.output
    would = [line for line in dry.output.splitlines() if line.startswith("would remove /")]
    assert [line.split("run_id=")[1].split(".zip")[0] for line in would] == [
        "p1",
        "p2",
        "p3",
        "p4",
    ]
    assert "year=2024/agency_id=ag-a" in would[0] and "provisional" in would[0]
    assert "would remove 4 version(s), kept 2" in dry.output
    assert _kept(out) == ["f1", "p1", "p2", "p3", "p4", "p5"]

    done = CliRunner().invoke(app, [*args, "--year", "2024"])

    assert done.exit_code == 0, done.output
    assert "removed 4 version(s), kept 2" in done.output
    assert _kept(out) == ["f1", "p5"]
    assert len(version_keys(out, "history/year=2023/")) == 6  # another year: untouched


def test_a_bad_retention_setting_is_one_line_naming_its_variable(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("NIANBAO_HISTORY__PROVISIONAL_DAYS", "-1")

    result = CliRunner().invoke(app, ["history", "prune", "--out", str(tmp_path), "--dry-run"])

    assert result.exit_code == 2
    assert "NIANBAO_HISTORY__PROVISIONAL_DAYS" in result.output


def test_prune_after_a_killed_run_repairs_what_it_left_as_the_next_run_would(
    tmp_path: Path,
) -> None:
    from flows.io.store import LOCK_FILE
    from flows.outputs.layout import JOURNAL_KEY
    from flows.outputs.publish import begin_publishing

    out = LocalStore(tmp_path)
    _nightly_year(out)
    # Killed holding the lock, mid-publish: a temporary file and an open journal left behind.
    (tmp_path / LOCK_FILE).write_text(json.dumps({"run_id": "killed", "state": "running"}))
    begin_publishing(out, 2024, ["ag-a"], "killed")
    partial = tmp_path / "history" / ".tmp-killed.part"
    partial.write_bytes(b"half")

    result = CliRunner().invoke(app, ["history", "prune", "--out", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert not partial.exists()
    assert json.loads(out.read_bytes(JOURNAL_KEY))["state"] == "restored"
