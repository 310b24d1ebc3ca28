"""Whose meeting an item is: the one rule every provider's writes follow before anyone is emailed.

README "Invitations: who gets email when calsync writes". A write may email a meeting's attendees only when
the account's owner organises it, and only when it is news: made or changed in calsync after the integration's
first sync. A first sync (and a full re-listing after an expired cursor) copies what exists already, through
the side's create_many, and emails nobody, whoever organises.

The owner organises a meeting when its organiser is one of the account's own addresses, or when it has none:
calsync's event form makes meetings without an organiser, so such a meeting was made in calsync by its user,
and the provider makes the account's owner its organiser. Each provider says which addresses are its own
(the sign-in address, the mailbox, the calendar's id, the CalDAV login) and adds its own view where it has
one (Google's organizer.self, Exchange's Organizer of the stored item); the rule itself lives here.
"""

from __future__ import annotations

from collections.abc import Iterable

from events.ical import Component


def owners_meeting(component: Component, own_addresses: Iterable[str]) -> bool:
    """A meeting (it has attendees) that the account's owner organises."""
    if not component.attendees:
        return False
    organizer = component.organizer
    return organizer is None or organizer.email.lower() in {a.lower() for a in own_addresses if a}


def organised_elsewhere(component: Component, own_addresses: Iterable[str]) -> bool:
    """A copy of someone else's meeting: it has attendees and another organiser. Never sent by calsync, and
    never written so that the user becomes its organiser."""
    return bool(component.attendees) and not owners_meeting(component, own_addresses)
