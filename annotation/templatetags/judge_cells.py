"""`{% interval_cell c %}`: one number of the judge tables as a table cell (value, interval, n; or a dash with the
reason on hover). A tag rather than an included template: the Judges page renders a thousand of them."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def interval_cell(c: dict[str, Any]) -> SafeString:
    if c.get("undefined"):
        return format_html('<td class="num undefined" title="{}">–</td>', c.get("reason", ""))
    value = format_html('<a href="{}">{}</a>', c["link"], c["text"]) if c.get("link") else c["text"]
    interval = format_html('<span class="ci">{}</span>', c["interval"]) if c.get("interval") else ""
    n = format_html('<span class="n">n {}</span>', c["n"]) if c.get("n") is not None else ""
    return format_html('<td class="num"><span class="value">{}</span>{}{}</td>', value, interval, n)
