"""report.pdf: the report typeset on A4 by Typst, from the document model.

Typst (the ``typst`` wheel: the Typst compiler, in Rust) lays out one report in about 10 ms
where printing report.html with WeasyPrint took 400 ms (the first engine, dropped), and every
compile renders hundreds.
The layout follows report.html's print CSS: GB/T 9704-2012 margins, title, the six parts, the
tables with their row and column spans, borders and repeated header rows, placeholders boxed
and marked 【待补充】.

No text of the document is ever Typst markup: the template below is fixed, and the document
reaches it as one JSON string (``sys.inputs``) whose strings are set as plain text, so ``#``,
``$``, ``*``, ``]`` or ``\\`` in an agency name or narrative print as themselves. The template
reads no file and imports no package; the compiler sees only the two fonts.

Chinese text is set in Noto Serif SC / Noto Sans SC (SIL OFL), shipped by the
``pylopdf-fonts-zh-cn`` wheel, so the PDF does not depend on what fonts a machine has: the
glyphs are embedded (subset) with their Unicode mapping, so the text can be selected, searched
and extracted. Without those files no PDF is written at all: a report of empty boxes is worse
than none.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from pathlib import Path
from typing import Any

from transforms.document import Document, Heading, Paragraph, Table, cells_by_row, head_rows

log = logging.getLogger(__name__)


class CJKFontMissing(RuntimeError):
    """The Chinese fonts the PDF is set in are not installed."""


def cjk_font_files() -> dict[str, Path]:
    """The Chinese fonts report.pdf embeds, by the family name the page's font stacks use."""
    try:
        import pylopdf_fonts_zh_cn as fonts
    except ImportError:
        raise CJKFontMissing(
            "report.pdf needs the Chinese fonts of the pylopdf-fonts-zh-cn package "
            "(a project dependency): run `uv sync`"
        ) from None
    files = {"Noto Serif SC": fonts.serif_path(), "Noto Sans SC": fonts.sans_path()}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise CJKFontMissing(
            f"report.pdf needs the Chinese fonts {', '.join(missing)}: reinstall the "
            "pylopdf-fonts-zh-cn package (`uv sync --reinstall-package pylopdf-fonts-zh-cn`)"
        )
    return files


def to_pdf(doc: Document) -> bytes:
    """The report as an A4 PDF with its Chinese text embedded and selectable.

    Raises ``CJKFontMissing`` when the fonts are not installed, ``ValueError`` for a table
    whose cells overlap or leave its grid.
    """
    fonts = cjk_font_files()
    data = json.dumps(_typst_model(doc), ensure_ascii=False)
    compiler = _compiler(tuple(str(path) for path in fonts.values()))
    pdf, warnings = compiler.compile_with_warnings(
        input=_TEMPLATE, format="pdf", sys_inputs={"doc": data}, timestamp=_CREATED
    )
    for warning in warnings:
        log.warning("report.pdf: %s", warning.message)
    return pdf


# The creation date written into the PDF: fixed, so the same Document gives the same bytes.
_CREATED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

_compilers = threading.local()


def _compiler(font_files: tuple[str, ...]) -> Any:
    """A Typst compiler with the fonts loaded, one per thread (a compiler is not shared
    between threads) and per font set; loading the fonts is most of a first compile."""
    import typst

    cached = getattr(_compilers, "by_fonts", None)
    if cached is None:
        cached = _compilers.by_fonts = {}
    if font_files not in cached:
        # Typst takes font folders, not files: the folders of these fonts, and no system or
        # built-in font (the same PDF on every machine, and no font a report cannot embed).
        folders = sorted({str(Path(path).parent) for path in font_files})
        fonts = typst.Fonts(
            include_system_fonts=False, include_embedded_fonts=False, font_paths=folders
        )
        missing = set(_FAMILIES) - set(fonts.families())
        if missing:
            raise CJKFontMissing(
                f"report.pdf needs the fonts {', '.join(sorted(missing))}, which Typst did not "
                f"find in {', '.join(folders)}: reinstall the pylopdf-fonts-zh-cn package"
            )
        # Typst reads files only below its root, here the fonts' folder; the template reads
        # none there either.
        cached[font_files] = typst.Compiler(
            font_paths=fonts, ignore_system_fonts=True, root=folders[0]
        )
    return cached[font_files]


_FAMILIES = ("Noto Serif SC", "Noto Sans SC")


# Characters no page shows and Typst cannot take: C0 controls but tab and newline, lone
# surrogates (which cannot even be encoded for the compiler), U+FFFE/U+FFFF.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _plain(text: str) -> str:
    """Text as the template sets it: unprintable characters dropped, CR/CRLF as newlines."""
    return _UNPRINTABLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _typst_model(doc: Document) -> dict[str, Any]:
    """The Document as the template reads it: plain strings, numbers and lists only."""
    blocks: list[dict[str, Any]] = []
    for block in doc.blocks:
        if isinstance(block, Heading):
            blocks.append({"kind": "heading", "level": block.level, "text": _plain(block.text)})
        elif isinstance(block, Paragraph):
            blocks.append(
                {"kind": "paragraph", "placeholder": block.placeholder, "text": _plain(block.text)}
            )
        elif isinstance(block, Table):
            blocks.append(_typst_table(block))
        else:  # pragma: no cover - the Block union is closed
            raise TypeError(f"unknown block {type(block).__name__}")
    return {"title": [_plain(line) for line in doc.title], "blocks": blocks}


# The alignment of a cell, as report.html aligns it: numbers right, header rows and bands
# across the table centred, row labels from the left.
_RIGHT, _CENTRE, _LEFT = "right", "centre", "left"


def _typst_table(table: Table) -> dict[str, Any]:
    # Laid out and checked as report.html lays it out: a header row group grown over any
    # rowspan crossing into the body, a cell at every position no model cell covers.
    rows = cells_by_row(table)
    head = head_rows(table)
    widths = list(table.column_widths)
    if len(widths) != table.n_cols or sum(widths) <= 0 or any(w < 0 for w in widths):
        widths = [1.0] * table.n_cols
    cells = []
    head_cells = 0
    for r in range(table.n_rows):
        for cell in rows[r]:
            if cell.key is not None:
                align = _RIGHT
            elif r < head or cell.header:
                align = _CENTRE
            else:
                align = _LEFT
            cells.append([cell.col, cell.row, cell.rowspan, cell.colspan, align, _plain(cell.text)])
            head_cells += r < head
    return {
        "kind": "table",
        "widths": widths,
        "small": table.n_cols > _WIDE_TABLE_COLUMNS,
        "head": head_cells,
        "cells": cells,
    }


# Wide tables (table 四 has 15 value columns) get a smaller type, as in report.html.
_WIDE_TABLE_COLUMNS = 10

# The page, in Typst. Every string shown comes from the JSON in sys.inputs.doc.
_TEMPLATE = rb"""
#let doc = json(bytes(sys.inputs.doc))
#let serif = "Noto Serif SC"
#let sans = "Noto Sans SC"
#set document(title: doc.title.join(""), author: "nianbao")
#set page(
  paper: "a4",
  margin: (top: 37mm, bottom: 35mm, left: 28mm, right: 26mm),
  footer: context align(center, text(size: 14pt)[\u{2014} #counter(page).display() \u{2014}]),
)
#set text(font: serif, size: 16pt, lang: "zh", region: "cn")
#set par(justify: true, first-line-indent: (amount: 2em, all: true), leading: 0.8em, spacing: 0.8em)
#show heading: it => block(above: 1em, below: 0.8em, sticky: true,
  text(size: 16pt, weight: "regular", font: if it.level == 1 { sans } else { serif },
    h(2em) + it.body))
#let alignments = (right: right + horizon, centre: center + horizon, left: left + horizon)

#align(center, block(below: 1.5em, {
  set par(first-line-indent: 0em, justify: false, leading: 0.5em)
  for line in doc.title { par(text(font: sans, size: 22pt, line)) }
}))

#for b in doc.blocks {
  if b.kind == "heading" {
    heading(level: b.level, b.text)
  } else if b.kind == "paragraph" {
    if b.placeholder {
      block(width: 100%, inset: (x: 0.4em, y: 0.2em), above: 0.6em, below: 0.6em,
        fill: rgb("#fff3b0"), stroke: (paint: rgb("#c00000"), thickness: 1.5pt, dash: "dashed"),
        par[#text(fill: rgb("#c00000"), weight: "bold")[\u{3010}\u{5F85}\u{8865}\u{5145}\u{3011}]#b.text])
    } else {
      par(b.text)
    }
  } else {
    let cells = b.cells.map(c => table.cell(
      x: c.at(0), y: c.at(1), rowspan: c.at(2), colspan: c.at(3),
      align: alignments.at(c.at(4)), c.at(5)))
    block(above: 0.8em, below: 1.2em, {
      set text(size: if b.small { 9pt } else { 10.5pt })
      set par(justify: false, first-line-indent: 0em, leading: 0.45em)
      table(
        columns: b.widths.map(w => w * 1fr),
        stroke: 0.75pt,
        inset: (x: 1.2mm, y: 1mm),
        ..if b.head > 0 { (table.header(repeat: true, ..cells.slice(0, b.head)),) } else { () },
        ..cells.slice(b.head),
      )
    })
  }
}
"""
