"""GetUserAvailability as Exchange answers it: each asked mailbox's calendar events in a time window.

https://learn.microsoft.com/exchange/client-developer/web-service-reference/getuseravailability-operation
- The request names a TimeZone (Bias and its StandardTime/DaylightTime), MailboxDataArray and
  FreeBusyViewOptions (TimeWindow in that zone's local time, RequestedView); the response is a
  FreeBusyResponseArray, one FreeBusyResponse per mailbox in the order asked, each with its own
  ResponseMessage (an unknown address is an error there, not a SOAP fault).
https://learn.microsoft.com/exchange/client-developer/web-service-reference/calendarevent
- CalendarEvent: StartTime and EndTime (local to the request's zone), BusyType (Free, Tentative, Busy, OOF,
  WorkingElsewhere, NoData) and, in the Detailed views to someone allowed details (the owner or a delegate;
  others get free/busy only, Exchange's default permission), CalendarEventDetails; a private event's subject is
  never given.
The emulator reads the zone's Bias and StandardTime Bias only (no daylight rule): calsync asks in UTC.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element

from .state import Login, State, _when, occurrences

M = "{http://schemas.microsoft.com/exchange/services/2006/messages}"
T = "{http://schemas.microsoft.com/exchange/services/2006/types}"
_DETAILED = ("Detailed", "DetailedMerged")


def answer(state: State, op: Element, login: Login) -> str:
    offset = _offset(op.find(f"{T}TimeZone"))
    options = op.find(f"{T}FreeBusyViewOptions")
    window = options.find(f"{T}TimeWindow") if options is not None else None
    if window is None:
        raise ValueError("FreeBusyViewOptions/TimeWindow is required.")
    start = _utc(window.findtext(f"{T}StartTime", ""), offset)
    end = _utc(window.findtext(f"{T}EndTime", ""), offset)
    view = options.findtext(f"{T}RequestedView", "DetailedMerged")  # type: ignore[union-attr]
    addresses = [e.findtext(f"{T}Email/{T}Address", "") for e in op.iter(f"{T}MailboxData")]
    with state.lock:
        parts = [_one(state, login, a.lower(), start, end, offset, view) for a in addresses]
    return ("<m:GetUserAvailabilityResponse><m:FreeBusyResponseArray>" + "".join(parts)
            + "</m:FreeBusyResponseArray></m:GetUserAvailabilityResponse>")  # fmt: skip


def _offset(zone: Element | None) -> timedelta:
    """UTC = local + Bias (minutes), per the TimeZone element."""
    if zone is None:
        return timedelta(0)
    bias = int(zone.findtext(f"{T}Bias", "0")) + int(zone.findtext(f"{T}StandardTime/{T}Bias", "0"))
    return timedelta(minutes=bias)


def _utc(text: str, offset: timedelta) -> datetime:
    return (datetime.fromisoformat(text[:19]) + offset).replace(tzinfo=UTC)


def _one(state: State, login: Login, address: str, start: datetime, end: datetime, offset: timedelta,
         view: str) -> str:  # fmt: skip
    box = state.mailboxes.get(address)
    calendar = next((f for f in box.folders.values() if f.distinguished == "calendar"), None) if box else None
    if box is None or calendar is None:
        return ('<m:FreeBusyResponse><m:ResponseMessage ResponseClass="Error"><m:MessageText>No mailbox with '
                f"this address: {html.escape(address)}.</m:MessageText><m:ResponseCode>ErrorMailRecipientNotFound"
                "</m:ResponseCode></m:ResponseMessage></m:FreeBusyResponse>")  # fmt: skip
    details = view in _DETAILED and (login.address == address or login.username in box.delegates
                                     or login.impersonation)  # fmt: skip
    shown = view if details else "FreeBusy"
    events = "".join(_event(e, offset, details) for e in _events(calendar.items.values(), start, end))
    return ('<m:FreeBusyResponse><m:ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
            f"</m:ResponseMessage><m:FreeBusyView><t:FreeBusyViewType>{shown}</t:FreeBusyViewType>"
            f"<t:CalendarEventArray>{events}</t:CalendarEventArray></m:FreeBusyView></m:FreeBusyResponse>")  # fmt: skip


def _events(items: Any, start: datetime, end: datetime) -> list[dict[str, Any]]:
    found = []
    for item in items:
        if not item.get("recurrence"):
            found.append(item)
            continue
        length = item["end"] - item["start"]
        graph_like = {"recurrence": item["recurrence"], "start": _when(item["start"], item["start_tz"]),
                      "end": _when(item["end"], item["start_tz"])}  # fmt: skip
        for moment in occurrences(graph_like, start - timedelta(days=7), end):
            key = moment.astimezone(UTC).isoformat()  # how the state keys exceptions and deletions
            if key in item["deleted"]:
                continue
            found.append(item["exceptions"].get(key) or {**item, "start": moment, "end": moment + length,
                                                           "recurring": True})  # fmt: skip
    return sorted((e for e in found if e["start"] < end and e["end"] > start), key=lambda e: e["start"])


def _event(item: dict[str, Any], offset: timedelta, details: bool) -> str:
    local = lambda moment: (moment.astimezone(UTC) - offset).strftime("%Y-%m-%dT%H:%M:%S")  # noqa: E731
    text = (f"<t:CalendarEvent><t:StartTime>{local(item['start'])}</t:StartTime>"
            f"<t:EndTime>{local(item['end'])}</t:EndTime><t:BusyType>{item['free_busy']}</t:BusyType>")  # fmt: skip
    if details:
        private = item.get("sensitivity") in ("Private", "Confidential")
        subject = "" if private else f"<t:Subject>{html.escape(item.get('subject', ''))}</t:Subject>"
        recurring = str(bool(item.get("recurring"))).lower()
        text += (f"<t:CalendarEventDetails>{subject}<t:IsRecurring>{recurring}</t:IsRecurring>"
                 f"<t:IsPrivate>{str(private).lower()}</t:IsPrivate></t:CalendarEventDetails>")  # fmt: skip
    return text + "</t:CalendarEvent>"
