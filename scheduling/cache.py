"""A short-lived cache of each person's busy time, per range, dropped as soon as one of their calendars changes.

Entries are keyed by a per-person generation: a change (a page, a CalDAV client, a sync run that wrote
anything) moves the generation on, so every range cached for that person is missed at once without
having to find and delete it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache

from events.models import Calendar


def _generation_key(user_id: int) -> str:
    return f"scheduling:gen:{user_id}"


def _generations(user_ids: list[int]) -> dict[int, str]:
    found = cache.get_many([_generation_key(u) for u in user_ids])
    return {u: found.get(_generation_key(u), "0") for u in user_ids}


def _key(user_id: int, generation: str, start: datetime, end: datetime) -> str:
    return f"scheduling:busy:{user_id}:{generation}:{start.isoformat()}:{end.isoformat()}"


def get_many(user_ids: list[int], start: datetime, end: datetime) -> tuple[dict[int, Any], dict[int, str]]:
    """What is cached for these people over [start, end), and the key each one's fresh answer goes under."""
    keys = {u: _key(u, g, start, end) for u, g in _generations(user_ids).items()}
    found = cache.get_many(list(keys.values()))
    return {u: found[k] for u, k in keys.items() if k in found}, keys


def put_many(entries: dict[str, Any]) -> None:
    cache.set_many(entries, timeout=settings.SCHEDULING_FREE_BUSY_SECONDS)


def forget_person(user_id: int) -> None:
    cache.set(_generation_key(user_id), uuid.uuid4().hex, timeout=None)


def forget_calendar(calendar_id: int) -> None:
    owner_id = Calendar.objects.filter(pk=calendar_id).values_list("owner_id", flat=True).first()
    if owner_id is not None:
        forget_person(owner_id)
