"""iTIP over email (iMIP): invitations, updates and cancellations out, replies in.

Outgoing messages follow RFC 5546 (METHOD REQUEST / CANCEL with ORGANIZER, ATTENDEE, UID, DTSTAMP, SEQUENCE) and
RFC 6047 (the iCalendar object in a text/calendar part whose `method` parameter matches METHOD), sent from the
organisation's chosen sender on the owner's behalf (SENT-BY, RFC 5545 3.2.18).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from email import message_from_bytes, policy
from email.message import EmailMessage as ParsedMessage
from email.mime.text import MIMEText
from email.utils import getaddresses, parseaddr

import icalendar

from events.ical import Attendee, ICalError, Item, items_to_calendar

METHODS = ("REQUEST", "CANCEL")
PARTSTATS = ("ACCEPTED", "TENTATIVE", "DECLINED")


def calendar_text(item: Item, method: str, sequence: int, sent_by: str) -> str:
    """The iCalendar object of one iTIP message (RFC 5546 3.2.2 REQUEST, 3.2.5 CANCEL)."""
    master = replace(item.master, sequence=sequence, alarms=())
    if method == "CANCEL":
        master = replace(master, status="CANCELLED")
    calendar = items_to_calendar([Item(master=master)])
    calendar.add("METHOD", method)
    for event in calendar.walk("VEVENT"):
        if "SEQUENCE" not in event:  # RFC 5546 3.2.2 and 3.2.5 want it, 0 included
            event.add("SEQUENCE", sequence)
        if sent_by:
            event["ORGANIZER"].params["SENT-BY"] = f"mailto:{sent_by}"
    return calendar.to_ical().decode()


def calendar_part(text: str, method: str) -> MIMEText:
    """text/calendar; method=...; charset=utf-8 (RFC 6047 2.4)."""
    part = MIMEText(text, "calendar", "utf-8")
    part.set_param("method", method)
    part.add_header("Content-Disposition", "attachment", filename="invite.ics")
    return part


@dataclass(frozen=True)
class Reply:
    """What an iMIP REPLY says: who answered what to which meeting, and who sent the email."""

    uid: str
    attendee: Attendee
    sender: str
    recipients: tuple[str, ...]


def _calendar_payload(message: ParsedMessage) -> bytes:
    for part in message.walk():
        if part.get_content_type() in ("text/calendar", "application/ics"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload
    raise ICalError("The message has no calendar part (text/calendar).")


def parse_reply(raw: bytes) -> Reply:
    """Read an RFC 822 message carrying an iTIP REPLY (RFC 5546 3.2.3): one ATTENDEE with its PARTSTAT."""
    message = message_from_bytes(raw, policy=policy.default)
    payload = _calendar_payload(message)  # type: ignore[arg-type]
    try:
        calendar = icalendar.Calendar.from_ical(payload)
    except ValueError as exc:
        raise ICalError("The calendar part cannot be read.") from exc
    method = str(calendar.get("METHOD", "")).upper()
    if method != "REPLY":
        raise ICalError(f"Only iTIP REPLY messages are accepted here, not {method or 'a message without METHOD'}.")
    # A REPLY need not repeat DTSTART or SUMMARY (RFC 5546 3.2.3), so it is read here, not as a stored event.
    events = calendar.walk("VEVENT")
    attendees = events[0].get("ATTENDEE") if len(events) == 1 else None
    if attendees is None or isinstance(attendees, list) or not events[0].get("UID"):
        raise ICalError("A REPLY names one meeting (UID) and one attendee (RFC 5546 3.2.3).")
    attendee = Attendee(
        email=str(attendees).removeprefix("mailto:").removeprefix("MAILTO:"),
        name=str(attendees.params.get("CN", "")),
        partstat=str(attendees.params.get("PARTSTAT", "")).upper(),
    )
    if attendee.partstat not in PARTSTATS:
        raise ICalError(f"The answer {attendee.partstat!r} is not accepted, tentative or declined.")
    headers = [message.get(h, "") for h in ("Delivered-To", "X-Original-To", "To", "Cc")]
    recipients = tuple(a.lower() for _, a in getaddresses([str(h) for h in headers if h]) if a)
    return Reply(
        uid=str(events[0]["UID"]),
        attendee=attendee,
        sender=parseaddr(str(message.get("From", "")))[1].lower(),
        recipients=recipients,
    )
