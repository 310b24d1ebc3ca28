"""Who gets email when calsync writes to Exchange.

Exchange emails attendees only when a write asks it to: SendMeetingInvitations on CreateItem,
SendMeetingInvitationsOrCancellations on UpdateItem, SendMeetingCancellations on DeleteItem (each required for
calendar items). calsync asks for mail only for a meeting the mailbox's owner organises; a copy of a meeting
someone else organises is written with SendToNone, so attendees never hear from it and the user is never made
to re-send a meeting they were only invited to.
https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem
https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem
https://learn.microsoft.com/exchange/client-developer/web-service-reference/deleteitem
"""

from __future__ import annotations

from typing import Any

from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY, SEND_TO_CHANGED_AND_SAVE_COPY, SEND_TO_NONE

from events.ical import Component
from integrations import meetings


def owners_meeting(component: Component, mailbox: str) -> bool:
    """A meeting the mailbox organises, by the rule every provider follows (integrations.meetings)."""
    return meetings.owners_meeting(component, [mailbox])


# A first sync copies what exists: nobody hears of it (integrations.meetings).
ON_FIRST_SYNC = SEND_TO_NONE


def on_create(component: Component, mailbox: str) -> str:
    return SEND_TO_ALL_AND_SAVE_COPY if owners_meeting(component, mailbox) else SEND_TO_NONE


def on_update(component: Component, current: Any, mailbox: str) -> str:
    """Updates go to the attendees the change concerns; never for an item Exchange says someone else organises."""
    theirs = current.organizer is not None and (current.organizer.email_address or "").lower() != mailbox.lower()
    return SEND_TO_CHANGED_AND_SAVE_COPY if owners_meeting(component, mailbox) and not theirs else SEND_TO_NONE


def on_delete(current: Any, mailbox: str) -> str:
    """A cancellation only for a meeting whose requests went out (MeetingRequestWasSent): a silent copy's
    attendees never heard of it."""
    organizer = (current.organizer.email_address or "").lower() if current.organizer else ""
    sent = bool(current.meeting_request_was_sent) and organizer == mailbox.lower()
    return SEND_TO_ALL_AND_SAVE_COPY if sent else SEND_TO_NONE


# What the adapter reads before a delete to decide.
DELETE_FIELDS = ["changekey", "organizer", "meeting_request_was_sent"]
