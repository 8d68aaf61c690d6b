"""The command line's one error path: what the user must fix is one line and exit 2; a bug is not."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.cli import run as run_commands
from transforms.errors import InputError


def _compile_raising(error: Exception):
    def run(*args, **kwargs):
        raise error

    return run


def test_an_input_error_is_one_line_and_exit_2(monkeypatch) -> None:
    monkeypatch.setattr(run_commands, "_run_compile", _compile_raising(InputError("year 24 ?")))

    result = CliRunner().invoke(app, ["compile", "--year", "2024"])

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: year 24 ?"


@pytest.mark.parametrize("bug", [ValueError("a bug"), KeyError("column"), TypeError("none")])
def test_a_bug_keeps_its_exception_and_is_not_a_usage_error(monkeypatch, bug) -> None:
    monkeypatch.setattr(run_commands, "_run_compile", _compile_raising(bug))

    result = CliRunner().invoke(app, ["compile", "--year", "2024"])

    assert result.exit_code == 1
    assert result.exception is bug  # the traceback is kept, not turned into "error: …" exit 2
