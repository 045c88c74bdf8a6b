"""Showing a letter written for paper (lines wrapped by hand) on a screen of any width."""

import re

from django import template

register = template.Library()

_CONTINUED = re.compile(r"\n {3}(?=\S)")


@register.filter
def reflowed(text: str) -> str:
    """Join each hand-wrapped continuation line (indented three spaces) to the line before, so
    the browser wraps the paragraph to the screen instead of leaving a stub on a line of its
    own. Paragraph breaks and numbered items stay as written."""
    return _CONTINUED.sub(" ", text)
