"""report.pdf: the report typeset on A4 by Typst, from the document model.

Typst (the ``typst`` wheel: the Typst compiler, in Rust) lays out one report in about 10 ms
where printing report.html with WeasyPrint took 400 ms (the first engine, dropped), and every
compile renders hundreds.
The layout follows report.html's print CSS: GB/T 9704-2012 margins, title, the six parts, the
tables with their row and column spans, borders and repeated header rows, placeholders boxed
and marked 【待补充】.

No text of the document is ever Typst markup: the template (report.typ beside this module)
is fixed, and the documents reach it as one JSON string (``sys.inputs``) whose strings are set
as plain text, so ``#``, ``$``, ``*``, ``]`` or ``\\`` in an agency name or narrative print as
themselves. The template reads no file and imports no package; the compiler sees only the two
fonts.

Many reports are typeset in one compile and cut apart (``to_pdfs``, with pikepdf): a compile
per report costs about twice as much CPU. The cut PDFs carry no tags (PDF/UA structure): a
structure tree cannot be cut apart with its pages, so the batch is compiled without one; the
text, its order and the bookmarks are those of the tagged PDF.

Chinese text is set in Noto Serif SC / Noto Sans SC (SIL OFL), shipped by the
``pylopdf-fonts-zh-cn`` wheel, so the PDF does not depend on what fonts a machine has: the
glyphs are embedded (subset) with their Unicode mapping, so the text can be selected, searched
and extracted. Without those files no PDF is written at all: a report of empty boxes is worse
than none.
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
import json
import logging
import re
import threading
from collections.abc import Sequence
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
    return to_pdfs([doc])[0]


def to_pdfs(docs: Sequence[Document]) -> list[bytes]:
    """``to_pdf`` of each document, in order, typeset in one Typst compile and then split.

    Typst lays out the tables' identical labels once for the whole batch (12.7 ms a report
    in a batch of 10 where one compile per report takes 35 ms). Each report starts on a new
    page with its page numbers from 1; a metadata element at its start gives its first page,
    and each is copied out into a PDF of its own with its own title, bookmarks and fonts.
    A report's fonts are subsets of the batch's glyphs (a few more glyphs than its own), so
    its bytes depend on the batch, deterministically: the same batch gives the same bytes.

    Raises as ``to_pdf`` does, for the whole batch: a table that cannot be drawn is named
    with its document's agency.
    """
    if not docs:
        return []
    models = []
    for doc in docs:
        try:
            models.append(_typst_model(doc))
        except ValueError as error:
            raise ValueError(f"report.pdf of {doc.agency_name!r}: {error}") from None
    fonts = cjk_font_files()
    compiler = _compiler(tuple(str(path) for path in fonts.values()))
    data = json.dumps(models, ensure_ascii=False)
    batch, warnings = compiler.compile_with_warnings(
        format="pdf", sys_inputs={"docs": data}, timestamp=_CREATED, pdf_tags=False
    )
    for warning in warnings:
        log.warning("report.pdf: %s", warning.message)
    # The first page of each report (1-based, in the batch), as the template marks it.
    marks = json.loads(compiler.query("<nianbao-report>", field="value"))
    if [index for index, _ in marks] != list(range(len(docs))):
        raise RuntimeError(f"report.pdf: the batch marks reports {marks}, not {len(docs)}")
    starts = [page for _, page in marks]
    return _split(batch, starts, ["".join(model["title"]) for model in models])


def _split(batch: bytes, starts: list[int], titles: list[str]) -> list[bytes]:
    """The batch PDF cut at ``starts`` into one standalone PDF per report."""
    import pikepdf

    source = pikepdf.open(io.BytesIO(batch))
    n_pages = len(source.pages)
    ends = [*starts[1:], n_pages + 1]
    if len(starts) != len(titles) or any(b <= a for a, b in zip(starts, ends, strict=True)):
        raise RuntimeError(f"report.pdf: the batch's report starts {starts} do not split it")
    # Bookmarks (the reports' headings), each under the report whose pages it points to.
    bookmarks: list[list[tuple[str, int, list[tuple[str, int]]]]] = [[] for _ in starts]
    with source.open_outline() as outline:
        for item in outline.root:
            page = _outline_page(source, item)
            report = bisect.bisect_right(starts, page + 1) - 1
            children = [(child.title, _outline_page(source, child)) for child in item.children]
            bookmarks[report].append((item.title, page, children))
    info = {key: source.docinfo[key] for key in ("/Author", "/Creator", "/CreationDate")}
    pdfs = []
    for first, end, title, marks in zip(starts, ends, titles, bookmarks, strict=True):
        report = pikepdf.new()
        report.pages.extend(source.pages[first - 1 : end - 1])
        report.Root.Lang = source.Root.Lang
        report.Root.ViewerPreferences = pikepdf.Dictionary(DisplayDocTitle=True)
        report.docinfo.update({**info, "/ModDate": info["/CreationDate"]})
        report.docinfo["/Title"] = title
        with report.open_outline() as outline:
            for text, page, children in marks:
                item = pikepdf.OutlineItem(text, page - first + 1)
                item.children.extend(
                    pikepdf.OutlineItem(child, child_page - first + 1)
                    for child, child_page in children
                )
                outline.root.append(item)
        out = io.BytesIO()
        # deterministic_id: the file identifier from the content, not from the clock.
        report.save(out, deterministic_id=True, min_version=source.pdf_version)
        pdfs.append(out.getvalue())
    return pdfs


def _outline_page(pdf: Any, item: Any) -> int:
    """The 0-based page a bookmark of Typst's points to (its /Dest is [page /XYZ x y zoom])."""
    destination = item.destination if item.destination is not None else item.action.D
    return pdf.pages.index(destination[0])


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
        # The template is the compiler's input file (``query`` reads the compiled document
        # only from there); the root is its folder, from which the template reads nothing.
        cached[font_files] = typst.Compiler(
            input=str(_template_file()),
            font_paths=fonts,
            ignore_system_fonts=True,
            root=str(_template_file().parent),
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


# The page, in Typst: report.typ beside this module. Every string shown comes from the JSON in
# sys.inputs.docs.
def _template_file() -> Path:
    return Path(__file__).with_name("report.typ")
