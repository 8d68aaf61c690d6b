"""A roll-up publish cut off part-way is put back at the next run's start, like a report's."""

from __future__ import annotations

from pathlib import Path

from flows.io.store import LocalStore
from flows.outputs.layout import RENDERED, rollup_report_key
from flows.outputs.publish import begin_publishing, restore_interrupted
from flows.outputs.rollups import publish_rollups
from tests.test_rollup_changes import MEMBERS, REGISTRY, _publish_reports
from transforms.period import Period


def _files(out: LocalStore, parent: str) -> dict[str, bytes | None]:
    return {
        name: out.read_bytes(key)
        if out.exists(key := rollup_report_key(2024, parent, name))
        else None
        for name in RENDERED
    }


def test_restore_interrupted_puts_back_every_rendered_file_of_a_cut_off_rollup(
    tmp_path: Path,
) -> None:
    out, warehouse = LocalStore(tmp_path / "out"), LocalStore(tmp_path / "wh")
    _publish_reports(out, 2024, dict.fromkeys(MEMBERS, 10))
    publish_rollups(out, warehouse, REGISTRY, Period.of_year(2024), "final", "r1", ["d1-x"])
    before = _files(out, "d1")
    assert before["report.md"] and before["report.pdf"]
    assert restore_interrupted(out) == []  # the roll-ups' journal was closed: nothing to do

    # r2 cut off after d1's rendered files (its cells not yet written), and after writing the
    # files of d2, a roll-up never published before.
    begin_publishing(out, 2024, [], "r2", rollup_ids=["d1", "d2"])
    for parent in ("d1", "d2"):
        for name in RENDERED:
            out.write_bytes(rollup_report_key(2024, parent, name), b"half-written by r2")

    assert restore_interrupted(out) == ["d1 (roll-up)", "d2 (roll-up)"]
    assert _files(out, "d1") == before
    assert set(_files(out, "d2").values()) == {None}
    assert restore_interrupted(out) == []  # repaired once
