"""How an event reads on a page: its repeat rule in words, and icons from the vendored icon set (lucide-static).

Icons are inlined from static/vendor/lucide/ (pinned in static/vendor/VENDORED.json), so they take the text's
colour and size and need no request; an icon that names something carries that name for screen readers.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from events.ical import Temporal
from events.rule_words import rule_in_words

register = template.Library()

_ICONS = Path(settings.BASE_DIR) / "static" / "vendor" / "lucide"
_NAME = re.compile(r"[a-z0-9-]+")
_OPENING = re.compile(r"<svg\b[^>]*>", re.S)

# What each state is shown with, and its words (the icon's accessible name).
SHOW_AS_ICONS = {"BUSY": "clock", "FREE": "coffee", "TENTATIVE": "circle-dashed", "OOF": "plane",
                 "WORKINGELSEWHERE": "building-2"}  # fmt: skip
ANSWER_ICONS = {
    "ACCEPTED": ("circle-check", "Accepted"), "DECLINED": ("circle-x", "Declined"),
    "TENTATIVE": ("circle-help", "Tentative"), "NEEDS-ACTION": ("circle-dashed", "Not answered yet"),
    "DELEGATED": ("forward", "Delegated"),
}  # fmt: skip


@lru_cache(maxsize=64)
def _svg_body(name: str) -> str:
    """The SVG's inner drawing (paths), read once; the vendored file's own <svg> tag is replaced below."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"bad icon name {name!r}")
    text = (_ICONS / f"{name}.svg").read_text()
    opening = _OPENING.search(text)
    if opening is None:
        raise ValueError(f"{name}.svg holds no <svg>")
    return text[opening.end() : text.rindex("</svg>")].strip()


@register.simple_tag
def icon(name: str, label: str = "", css: str = "") -> SafeString:
    """An inline lucide icon; with `label` it is announced as that, without it is decoration."""
    body = mark_safe(_svg_body(name))  # noqa: S308 (a pinned, vendored file, checked by scripts/vendor_static.py)
    accessible = format_html(' role="img" aria-label="{}"', label) if label else mark_safe(' aria-hidden="true"')
    title = format_html("<title>{}</title>", label) if label else ""
    return format_html(
        '<svg class="icon icon-{} {}" xmlns="http://www.w3.org/2000/svg" width="1em" height="1em" viewBox="0 0 24 24"'
        ' fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"'
        ' focusable="false"{}>{}{}</svg>',
        name, css, accessible, title, body,
    )  # fmt: skip


@register.simple_tag
def show_as_icon(show_as: str, label: str) -> SafeString:
    return icon(SHOW_AS_ICONS.get(show_as, "clock"), label)


@register.simple_tag
def answer_icon(partstat: str) -> SafeString:
    name, label = ANSWER_ICONS.get(partstat, ("circle-dashed", "Not answered yet"))
    return icon(name, label)


@register.filter
def answer_label(partstat: str) -> str:
    return ANSWER_ICONS.get(partstat, ("", "Not answered yet"))[1]


@register.simple_tag
def repeat_words(rule: str, start: Temporal | None) -> str:
    return rule_in_words(rule, start)
