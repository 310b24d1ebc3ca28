"""Who may email attendees when calsync writes to a CalDAV server that schedules (RFC 6638).

A server with implicit scheduling (iCloud, Fastmail, Nextcloud, SOGo...) sends invitations, updates and
cancellations itself when its user stores a meeting they organise, and replies when they store one they
attend. calsync writes copies: of meetings someone else organised, and on a first sync of everything the
calsync calendar already held. Those must email nobody, so every ORGANIZER and ATTENDEE in them carries
SCHEDULE-AGENT=CLIENT, which tells the server that the client takes care of scheduling and the server must
send nothing (https://www.rfc-editor.org/rfc/rfc6638#section-7.1). Only a meeting the account's owner
organises, written after the first sync (so created or changed in calsync), is left to the server.

Reading needs nothing: events.ical keeps only the ORGANIZER and ATTENDEE parameters calsync models, so
SCHEDULE-AGENT (and the server's SCHEDULE-STATUS) never reach calsync's items.
"""

from __future__ import annotations

from collections.abc import Iterable

import icalendar

from events.ical import Item
from integrations.meetings import owners_meeting

_PEOPLE = ("ORGANIZER", "ATTENDEE")


def server_may_schedule(item: Item, own_addresses: Iterable[str]) -> bool:
    """The account's owner organises this meeting (integrations.meetings), so the server sends what it would for
    them. A meeting made in calsync has no ORGANIZER, which no server schedules (RFC 6638 3.1): it sends nothing."""
    return owners_meeting(item.master, own_addresses)


def without_server_scheduling(calendar: icalendar.Calendar) -> icalendar.Calendar:
    """Every ORGANIZER and ATTENDEE marked SCHEDULE-AGENT=CLIENT, in every component (RFC 6638 7.1)."""
    for component in calendar.walk():
        for name in _PEOPLE:
            values = component.get(name)
            for value in values if isinstance(values, list) else [values] if values is not None else []:
                value.params["SCHEDULE-AGENT"] = "CLIENT"
    return calendar
