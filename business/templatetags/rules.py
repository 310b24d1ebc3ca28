"""On an event's page: which assignment rule set its client, project or activity."""

from __future__ import annotations

from typing import Any

from django import template

from business.rules import selectors
from events.models import Event

register = template.Library()


@register.inclusion_tag("business/rules/_matches.html")
def rule_matches(event: Event) -> dict[str, Any]:
    """`event` is one the page already reached through the user's scope."""
    return {"matches": selectors.matches_of(event=event)}
