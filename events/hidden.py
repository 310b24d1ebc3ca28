"""Fields calendar apps show no control for, kept when an app writes an event back without them.

Client, project and activity travel as X-CALSYNC- properties, the finer busy status as
X-MICROSOFT-CDO-BUSYSTATUS and the event type as X-CALSYNC-EVENT-TYPE. An iPhone keeps every X- property it
read when it saves an event; other apps write back only what they show and drop the rest. Users can only
clear these fields in calsync, so a write that carries none of them is an app that forgot them, not a user
who cleared them: the stored values stay. A write that carries any business property comes from an app that
keeps them, so a business property it left out was removed on purpose.

The busy status stays only while it agrees with TRANSP (RFC 5545 3.8.2.7): out of office, tentative, busy
and working elsewhere are busy time, so an app that marks the time free has changed it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from .ical import Component, Item, as_utc

_BUSINESS = ("client", "project", "activity_type")


def hidden_fields_kept(*, stored: Item | None, incoming: Item) -> Item:
    """`incoming` with the hidden fields of the `stored` version where `incoming` leaves them out."""
    if stored is None:
        return incoming
    before = {_key(c): c for c in (stored.master, *stored.overrides)}
    return Item(
        master=_kept(before.get(_key(incoming.master)), incoming.master),
        overrides=tuple(_kept(before.get(_key(o)), o) for o in incoming.overrides),
    )


def _key(component: Component) -> object:
    return None if component.recurrence_id is None else as_utc(component.recurrence_id)


def _kept(stored: Component | None, incoming: Component) -> Component:
    if stored is None:
        return incoming
    kept: dict[str, str] = {}
    if not any(getattr(incoming, name) for name in _BUSINESS):
        kept.update({name: getattr(stored, name) for name in _BUSINESS})
    if not incoming.busy_status and _is_free(stored.busy_status, stored.transparency) == _is_free(
        "", incoming.transparency
    ):
        kept["busy_status"] = stored.busy_status
    if not incoming.event_type:
        kept["event_type"] = stored.event_type
    return replace(incoming, **kept) if kept else incoming


def _is_free(busy_status: str, transparency: str) -> bool:
    return busy_status == "FREE" if busy_status else transparency == "TRANSPARENT"


# --- unmodelled properties, for providers that can carry them only as one text --------------------------------

UNMODELLED_MAX = 16_000  # characters; beyond this they stay in calsync only (README "Known limitations")


def unmodelled_text(component: Component) -> str | None:
    """The iCalendar properties and sub-components calsync keeps but a provider has no field for, as JSON (Exchange
    and Graph carry it in one extended property); None when there are none or they are too large."""
    if not component.extra_properties and not component.extra_components:
        return None
    text = json.dumps({"properties": component.extra_properties, "components": component.extra_components})
    return text if len(text) <= UNMODELLED_MAX else None


def unmodelled_fields(text: str | None) -> dict[str, Any]:
    """The Component fields from unmodelled_text; nothing from a value another program mangled."""
    try:
        data = json.loads(text or "{}")
        properties = tuple((str(n), tuple((str(k), str(v)) for k, v in params), str(value))
                           for n, params, value in data.get("properties", ()))  # fmt: skip
        components = tuple(str(c) for c in data.get("components", ()))
    except (ValueError, TypeError, AttributeError):
        return {}
    return {"extra_properties": properties, "extra_components": components}
