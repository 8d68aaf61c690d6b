"""A Data Docs page view that prints every value as text.

Great Expectations escapes the parameters of its string templates, but its Jinja templates (``*.j2``)
are not autoescaped, and ``render_content_block`` hands plain values back raw: a table cell, a list
item or a header holding a string, a dict or a tuple is written into the page as it is. Unexpected
values and the violations of ``expect_report_rule_to_hold`` are such values, and they carry registry
names and hand-filled text (a WeChat account ``<img src=x onerror=…>`` ran in the browser). This
view escapes every value that is not itself a content block, where it reaches the page; the
validation results keep the raw values.

Both views here also load nianbao's templates (``gx/plugins/custom_data_docs/views/``) before Great
Expectations' own: they take the pages' styles and scripts from the site's ``static/vendor/``
folder instead of public CDNs, so the pages, and the index's tables, work offline.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from great_expectations.render import RenderedComponentContent
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import ChoiceLoader, FileSystemLoader, pass_context

CUSTOM_DATA_DOCS = Path(__file__).parent / "gx" / "plugins" / "custom_data_docs"
# Copied into every site's static/vendor/ (see its README.md for what and why).
STATIC_ASSETS = CUSTOM_DATA_DOCS / "static"


def _is_content_block(value: Any) -> bool:
    return isinstance(value, RenderedComponentContent) or (
        isinstance(value, dict) and "content_block_type" in value
    )


def _as_text(value: Any) -> Any:
    """A value Great Expectations would print raw, escaped; content blocks are left to render."""
    if value is None or isinstance(value, (bool, int, float)) or _is_content_block(value):
        return value
    if isinstance(value, list):
        # Great Expectations renders list items one by one (blocks) or as `<span>{item}</span>`.
        return [v if _is_content_block(v) else html.escape(str(v)) for v in value]
    return html.escape(str(value))


class _OfflineAssets:
    """Looks templates up in nianbao's views first (Great Expectations puts custom views last)."""

    env: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.loader = ChoiceLoader(
            [FileSystemLoader(CUSTOM_DATA_DOCS / "views"), self.env.loader]
        )


class OfflineIndexPageView(_OfflineAssets, DefaultJinjaIndexPageView):
    """The index page, with its styles and scripts from the site itself."""


class EscapingPageView(_OfflineAssets, DefaultJinjaPageView):
    """``DefaultJinjaPageView`` with every plain value escaped as it is rendered."""

    @pass_context
    def render_content_block(
        self,
        jinja_context: Any,
        content_block: Any,
        index: Any = None,
        content_block_id: Any = None,
        render_to_markdown: bool = False,
    ) -> Any:
        if not render_to_markdown:
            content_block = _as_text(content_block)
        return super().render_content_block(
            jinja_context, content_block, index, content_block_id, render_to_markdown
        )
