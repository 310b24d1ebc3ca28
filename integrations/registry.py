"""Which code talks to which provider: a lazy registry of dotted paths, one per provider package.

A provider's module offers `build_side(integration) -> sync.adapter.CalendarSide`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .providers import Provider

if TYPE_CHECKING:
    from sync.adapter import CalendarSide

    from .models import Integration

SIDES: dict[str, str] = {}


def register(provider: str, dotted_path: str) -> None:
    SIDES[provider] = dotted_path


def build_side(integration: Integration) -> CalendarSide:
    try:
        module = import_module(SIDES[integration.provider])
    except KeyError:
        raise LookupError(f"No adapter for {Provider(integration.provider).label} yet.") from None
    return module.build_side(integration)  # type: ignore[no-any-return]


def reset_cursor(integration: Integration) -> str:
    """The remote cursor for a run that compares everything (controls changed, the window moved, another
    calendar): "" unless the provider's module keeps what a cursor holds beyond a position in a change log (an ICS
    feed's stable identities, `reset_cursor(cursor) -> str`)."""
    path = SIDES.get(integration.provider)
    hook = getattr(import_module(path), "reset_cursor", None) if path else None
    if hook is None:
        return ""
    # The stored cursor, not this copy of the integration's: a run may have saved a newer one since it was read.
    stored = type(integration).objects.filter(pk=integration.pk).values_list("remote_cursor", flat=True).first()
    return hook(stored or "")  # type: ignore[no-any-return]


def before_disconnect(integration: Integration) -> None:
    """The provider's own farewell (stop push, revoke a grant), if its module has one; then calsync forgets."""
    _call_hook(integration, "before_disconnect")


def confirmed(integration: Integration) -> None:
    """The provider's push set up for an integration whose first sync the user has just confirmed (Google's watch
    channel), if its module has one: nothing is written at the provider before (sync.previews). Graph subscribes
    after the first sync, and EWS's listener takes only confirmed integrations, so they need none."""
    _call_hook(integration, "confirmed")


def after_sync(integration: Integration) -> None:
    """The provider's sync of what belongs to the calendar itself rather than its items (the CalDAV colour),
    if its module has one; called after each successful item sync, outside any transaction."""
    _call_hook(integration, "after_sync")


def _call_hook(integration: Integration, name: str) -> None:
    path = SIDES.get(integration.provider)
    hook = getattr(import_module(path), name, None) if path else None
    if hook is not None:
        hook(integration)
