"""A connected Exchange mailbox's busy time, live, with GetUserAvailability.

https://learn.microsoft.com/exchange/client-developer/web-service-reference/getuseravailability-operation:
the mailbox's calendar events in a time window, each with its BusyType (Free, Tentative, Busy, OOF,
WorkingElsewhere, NoData), in the time zone the request gives. calsync asks in UTC (Bias 0, no daylight
rule) so no zone has to be matched against the server's list; a mailbox the server cannot read answers with
an error response for that mailbox, which must not read as "free".
"""

from __future__ import annotations

from datetime import datetime, time

from exchangelib import EWSTimeZone
from exchangelib.properties import DaylightTime, FreeBusyViewOptions, MailboxData, StandardTime, TimeWindow, TimeZone
from exchangelib.services import GetUserAvailability

from integrations.models import Integration
from scheduling.freebusy import BUSY, ELSEWHERE, OOF, TENTATIVE, Block
from sync.errors import PermanentError

from .client import account, translated
from .services import server_for

_KINDS = {"Busy": BUSY, "Tentative": TENTATIVE, "OOF": OOF, "WorkingElsewhere": ELSEWHERE, "NoData": BUSY}
_NO_DAYLIGHT = {"bias": 0, "time": time(0), "occurrence": 1, "iso_month": 1, "weekday": 7}
UTC_ZONE = TimeZone(bias=0, standard_time=StandardTime(**_NO_DAYLIGHT), daylight_time=DaylightTime(**_NO_DAYLIGHT))


def busy(integration: Integration, start: datetime, end: datetime) -> list[Block]:
    address = integration.config["account"]
    ews = account(server_for(integration), address)
    zone = EWSTimeZone("UTC")
    options = FreeBusyViewOptions(time_window=TimeWindow(start=start.astimezone(zone), end=end.astimezone(zone)),
                                  merged_free_busy_interval=30, requested_view="Detailed")  # fmt: skip
    with translated("Exchange"):
        [view] = list(GetUserAvailability(ews.protocol).call(
            tzinfo=zone, mailbox_data=[MailboxData(email=address, attendee_type="Required", exclude_conflicts=False)],
            timezone=UTC_ZONE, free_busy_view_options=options,
        ))  # fmt: skip
    if isinstance(view, Exception):
        raise PermanentError(f"Exchange could not give this mailbox's free/busy time ({view}).")
    return [
        Block(start=event.start, end=event.end, kind=_KINDS[event.busy_type])
        for event in view.calendar_events or []
        if event.busy_type in _KINDS
    ]
