"""``nianbao audit`` never drops a bad entry silently: a link out of the folder, a broken link, a
fifo (also one named on the command line) is an F0 finding with its reason, and is never opened
(a fifo would block the audit for ever).

The audit runs in a subprocess with a timeout: that is only a guard so a regression fails
instead of hanging the suite, not a measure of speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from tests.test_audit_command import render, report_cells

# The reasons F0 gives, as flows/audit/read.py words them.
OUTSIDE = "链接指向所查文件夹之外，未读取"
BROKEN = "链接无法解析"
FIFO = "命名管道（FIFO），不是普通文件，未读取"
LINK_TO_FIFO = "链接指向命名管道（FIFO），不是普通文件，未读取"


def audit_in_subprocess(*args: Path | str) -> subprocess.CompletedProcess:
    code = "import sys\nfrom flows.cli import app\napp(sys.argv[1:], prog_name='nianbao')\n"
    return subprocess.run(
        [sys.executable, "-c", code, "audit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,  # a guard against a fifo being opened, not a timing
    )


def f0_reasons(out: Path) -> dict[str, str]:
    findings = pl.read_parquet(out / "findings.parquet")
    f0 = findings.filter(pl.col("rule") == "F0")
    assert f0["level"].unique().to_list() == ["error"]
    return dict(zip(f0["source_file"], f0["actual"], strict=True))


def test_links_out_broken_links_and_fifos_in_a_folder_are_f0_and_the_good_report_is_audited(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.html").write_text("<p>not for the audit</p>", encoding="utf-8")
    folder = tmp_path / "reports"
    good = render(report_cells(1), folder, "好局")
    link_out = folder / "link-out.html"
    link_out.symlink_to(outside / "secret.html")
    broken = folder / "gone.docx"
    broken.symlink_to(folder / "never-written.docx")
    pipe = folder / "pipe.html"
    os.mkfifo(pipe)
    to_pipe = folder / "to-pipe.txt"
    to_pipe.symlink_to(pipe)
    (folder / ".hidden.html").write_text("x", encoding="utf-8")  # no report: left out
    (folder / "~$lock.docx").write_text("x", encoding="utf-8")  # an Office lock: left out
    out = tmp_path / "out"

    run = audit_in_subprocess(folder, "--out", out)

    assert run.returncode == 1, run.stdout + run.stderr
    assert "5 reports, 4 with errors, 0 with warnings" in run.stdout
    reasons = f0_reasons(out)
    assert set(reasons) == {str(link_out), str(broken), str(pipe), str(to_pipe)}
    assert (
        reasons[str(link_out)]
        == f"{link_out}：{OUTSIDE}（symbolic link out of the folder: not read）"
    )
    assert reasons[str(broken)].startswith(f"{broken}：{BROKEN}")
    assert reasons[str(pipe)].startswith(f"{pipe}：{FIFO}")
    assert reasons[str(to_pipe)].startswith(f"{to_pipe}：{LINK_TO_FIFO}")
    # The good report is read and checked as ever: its cells are out, it has no finding.
    findings = pl.read_parquet(out / "findings.parquet")
    assert findings.filter(pl.col("source_file") == str(good)).is_empty()
    cells = pl.read_parquet(out / "cells.parquet")
    assert cells["source_file"].unique().to_list() == [str(good)]
    assert "secret" not in " ".join(cells["source_file"])
    # The page lists each refused entry with its reason, as any unreadable file.
    page = (out / "index.html").read_text(encoding="utf-8")
    for entry, reason in ((link_out, OUTSIDE), (broken, BROKEN), (pipe, FIFO)):
        assert str(entry) in page and reason in page


def test_a_fifo_named_on_the_command_line_is_f0_not_a_hang(tmp_path: Path) -> None:
    pipe = tmp_path / "named.html"
    os.mkfifo(pipe)
    out = tmp_path / "out"

    run = audit_in_subprocess(pipe, "--out", out)

    assert run.returncode == 2, run.stdout + run.stderr  # nothing readable
    assert "1 reports, 1 with errors, 0 with warnings" in run.stdout
    assert f0_reasons(out)[str(pipe)].startswith(f"{pipe}：{FIFO}")


def test_a_path_named_on_the_command_line_that_does_not_exist_is_f0(tmp_path: Path) -> None:
    missing = tmp_path / "missing.html"
    good = render(report_cells(1), tmp_path / "reports", "好局")
    out = tmp_path / "out"

    run = audit_in_subprocess(missing, good, "--out", out)

    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 reports, 1 with errors, 0 with warnings" in run.stdout
    assert f0_reasons(out) == {
        str(missing): f"{missing}：找不到该文件（No such file or directory）（not found）"
    }
