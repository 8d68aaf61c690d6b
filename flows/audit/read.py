"""STAND-IN, to be replaced at merge by the "audit-read" helper's reader.

Implements only the interface of WAVE12.md (``AuditedReport``, ``read_published_report``,
``find_report_files``) for nianbao's own report.html/.docx/.xlsx, so that ``nianbao audit``
(flows/audit/run.py) can be built and tested against it. No audit logic lives here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from transforms.cells import VALUE_DTYPE
from transforms.document import cells_from_read

_TITLE = re.compile(r"^(.*?)([0-9]{4})\s*年\s*(?:度\s*)?政府信息公开工作年度报告")
_SUFFIXES = (".html", ".htm", ".docx", ".xlsx")
_EMPTY = pl.DataFrame(
    schema={"section": pl.String, "row": pl.String, "column": pl.String, "value": VALUE_DTYPE}
)


@dataclass(frozen=True)
class AuditedReport:
    source_file: str
    agency_name: str | None
    year: int | None
    layout: str  # "2021" | "pre-2021" | "unreadable"
    cells: pl.DataFrame
    paragraphs: tuple[str, ...]
    problems: tuple[str, ...]


def read_published_report(path: Path) -> AuditedReport:
    """A published report as cells (stand-in: nianbao's own html/docx/xlsx only)."""
    from flows.outputs.formats.docx import read_docx
    from flows.outputs.formats.html import read_html
    from flows.outputs.formats.xlsx import read_xlsx

    readers = {".html": read_html, ".htm": read_html, ".docx": read_docx, ".xlsx": read_xlsx}
    source = str(path)
    try:
        read = readers[path.suffix.lower()](path.read_bytes(), source)
    except (OSError, ValueError, KeyError) as error:
        return AuditedReport(source, None, None, "unreadable", _EMPTY, (), (str(error),))
    text = "".join("".join(read.title).split())
    match = _TITLE.match(text)
    name, year = (match.group(1) or None, int(match.group(2))) if match else (None, None)
    joined = "".join(read.paragraphs)
    if "第二十条" in joined or "政府集中采购" in joined:
        return AuditedReport(source, name, year, "pre-2021", _EMPTY, read.paragraphs, ())
    try:
        cells, problems = cells_from_read(read)
    except ValueError as error:
        return AuditedReport(source, name, year, "unreadable", _EMPTY, (), (str(error),))
    return AuditedReport(source, name, year, "2021", cells, read.paragraphs, tuple(problems))


def find_report_files(paths: list[Path]) -> list[Path]:
    """Report files among ``paths`` (files as given; folders walked, symlinks not followed)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in _SUFFIXES and p.is_file() and not p.is_symlink()
            )
        elif path.is_file():
            found.append(path)
    return found
