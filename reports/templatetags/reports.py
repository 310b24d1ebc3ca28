from __future__ import annotations

from django import template

from reports import charts

register = template.Library()


@register.filter
def hours(minutes: int) -> str:
    """Minutes as hours, the way the charts label them."""
    return charts.hours(int(minutes or 0))
