"""The meeting part of an event's page: the owner sees every answer, an attendee answers."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.tenancy import Scope
from events.models import Event

register = template.Library()

LABELS = {"ACCEPTED": "accepted", "TENTATIVE": "tentative", "DECLINED": "declined", "NEEDS-ACTION": "no answer yet"}


@register.inclusion_tag("meetings/_panel.html", takes_context=True)
def meeting_panel(context: Any, event: Event) -> dict[str, Any]:
    user = context["request"].user
    meeting = Scope(user).meeting_of(event)
    if meeting is None:
        return {}
    attendees = [
        {**a, "label": LABELS.get(a.get("partstat", ""), a.get("partstat", "").lower())} for a in event.attendees
    ]
    mine = next((a for a in attendees if a.get("email", "").lower() == user.email.lower()), None)
    return {
        "meeting": meeting,
        "event": event,
        "is_owner": meeting.calendar_id == event.calendar_id,
        "attendees": attendees,
        "mine": mine,
        "csrf_token": context.get("csrf_token"),
    }
