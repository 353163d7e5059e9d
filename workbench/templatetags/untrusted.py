from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from workbench.untrusted import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """`{{ response.text|markdown }}`: untrusted Markdown rendered, then sanitised (workbench/untrusted.py)."""
    return render_markdown(text)
