"""Rendering untrusted text (LLM output, imported prompts) inert.

Markdown is parsed with raw HTML switched off, so any `<script>` in the text becomes literal text; the HTML
the parser produces is then cleaned by nh3 against an allow-list (tags, attributes, URL schemes), so a
`javascript:` link or an event handler cannot come through either path. Images are never loaded: a remote
image in model output would report the annotator's visit to whoever wrote the URL, so it becomes a link.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "span",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}


def _render_image_as_link(self, tokens, idx, options, env) -> str:  # type: ignore[no-untyped-def]
    token = tokens[idx]
    alt = escape(self.renderInline(token.children or [], options, env)) or "image"
    src = escape(token.attrGet("src") or "")
    return f'<a href="{src}">[image: {alt}]</a>'


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    parser.enable("strikethrough")
    parser.add_render_rule("image", _render_image_as_link)
    return parser


@lru_cache(maxsize=1024)
def render_markdown(text: str) -> SafeString:
    """Markdown to sanitised HTML: code blocks, lists, tables, links (http, https, mailto only). Pure, so cached:
    each prompt and response is shown to `overlap` annotators and again on every reload."""
    html = _parser().render(text or "")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return mark_safe(cleaned)  # noqa: S308 - nh3 output against the allow-list above
