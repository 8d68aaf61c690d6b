"""report.pdf: the report page (``to_html``) printed on A4 by WeasyPrint.

Chinese text is set in Noto Serif SC / Noto Sans SC (SIL OFL), shipped by the
``pylopdf-fonts-zh-cn`` wheel, so the PDF does not depend on what fonts a machine has: the
glyphs are embedded (subset) with their Unicode mapping, so the text can be selected, searched
and extracted. Without those files no PDF is written at all: a report of empty boxes is worse
than none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


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


def _fetcher_of(allowed: frozenset[str]) -> Any:
    """A URL fetcher that loads the fonts and nothing else: a page's markup can neither reach
    the network nor pull a local file into the PDF."""
    from weasyprint.urls import URLFetcher

    class _FontsOnly(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url not in allowed:
                raise ValueError(f"report.pdf loads nothing but its fonts, not {url[:200]}")
            return super().fetch(url, headers)

    return _FontsOnly(allowed_protocols=("file",))


def to_pdf(html: str) -> bytes:
    """The page as an A4 PDF with its Chinese text embedded and selectable.

    Raises ``CJKFontMissing`` when the fonts are not installed.
    """
    fonts = cjk_font_files()
    # Imported here: WeasyPrint loads Pango and its CSS machinery, which only this step needs.
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    uris = {family: path.resolve().as_uri() for family, path in fonts.items()}
    fetcher = _fetcher_of(frozenset(uris.values()))
    font_config = FontConfiguration()
    faces = "\n".join(
        f'@font-face {{ font-family: "{family}"; src: url("{uri}"); }}'
        for family, uri in uris.items()
    )
    # The PDF is set in these fonts wherever it is made (the same file from every machine, and
    # fonts whose licence allows embedding): body and tables in the serif, title and part
    # headings in the sans, as 仿宋 and 黑体/小标宋 stand in an office's Word file.
    fallback = (
        'body, p, td, th, h2 { font-family: "Noto Serif SC", serif !important; }\n'
        'header.doc-title p, h1 { font-family: "Noto Sans SC", sans-serif !important; }\n'
        '@page { @bottom-center { font-family: "Noto Serif SC", serif !important; } }\n'
    )
    stylesheet = CSS(string=faces + "\n" + fallback, font_config=font_config, url_fetcher=fetcher)
    document = HTML(string=html, url_fetcher=fetcher)
    return document.write_pdf(stylesheets=[stylesheet], font_config=font_config)
