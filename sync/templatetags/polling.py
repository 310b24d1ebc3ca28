from __future__ import annotations

from django import template

from integrations.models import Integration
from sync.polling import describe

register = template.Library()


@register.simple_tag
def check_interval(integration: Integration) -> str:
    """How often the integration's calendar is checked, and why (sync.polling.describe)."""
    return describe(integration)
