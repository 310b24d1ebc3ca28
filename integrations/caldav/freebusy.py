"""A connected CalDAV calendar's busy time, live: the free-busy-query REPORT (RFC 4791 §7.10), or, from a
server that does not answer it, a time-range calendar-query (RFC 4791 §7.8) read the way calsync reads its own.

https://www.rfc-editor.org/rfc/rfc4791#section-7.10: the answer is a VFREEBUSY whose FREEBUSY periods carry
FBTYPE BUSY, BUSY-TENTATIVE or BUSY-UNAVAILABLE; FREE periods and a missing FBTYPE (BUSY by default, RFC 5545
§3.2.9) are read as such.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar

from events import recurrence
from events.ical import ICalError, as_utc, parse_item
from integrations.models import Integration
from scheduling.freebusy import BUSY, OOF, TENTATIVE, Block, kind_of
from scheduling.selectors import policy_for
from sync.errors import PermanentError

from .client import _XMLNS, NS, CalDAVClient, _text
from .provider import client_for

_FBTYPES = {"BUSY": BUSY, "BUSY-TENTATIVE": TENTATIVE, "BUSY-UNAVAILABLE": OOF}
_ANSWERED = (200,)


def busy(integration: Integration, start: datetime, end: datetime) -> list[Block]:
    client, url = client_for(integration), integration.remote_calendar_id
    window = f'<c:time-range start="{_stamp(start)}" end="{_stamp(end)}"/>'
    response = client.report(url, f'<?xml version="1.0" encoding="utf-8"?><c:free-busy-query {_XMLNS}>{window}'
                                  "</c:free-busy-query>")  # fmt: skip
    if response.status in _ANSWERED and b"VFREEBUSY" in response.body:
        return _periods(response.body)
    return _from_events(client, url, window, integration, start, end)


def _periods(body: bytes) -> list[Block]:
    try:
        calendar = icalendar.Calendar.from_ical(body)
    except ValueError as exc:
        raise PermanentError("The CalDAV server's free/busy answer is not iCalendar.") from exc
    blocks = []
    for component in calendar.walk("VFREEBUSY"):
        for prop in _as_list(component.get("FREEBUSY")):
            kind = _FBTYPES.get(str(prop.params.get("FBTYPE", "BUSY")).upper())
            for period in prop.dts if hasattr(prop, "dts") else [prop]:
                begin, finish = period.dt
                finish = begin + finish if isinstance(finish, timedelta) else finish
                if kind is not None:
                    blocks.append(Block(start=as_utc(begin), end=as_utc(finish), kind=kind))
    return blocks


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _from_events(client: CalDAVClient, url: str, window: str, integration: Integration, start: datetime,
                 end: datetime) -> list[Block]:  # fmt: skip
    body = (f'<?xml version="1.0" encoding="utf-8"?><c:calendar-query {_XMLNS}><d:prop><c:calendar-data/></d:prop>'
            f'<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">{window}</c:comp-filter>'
            "</c:comp-filter></c:filter></c:calendar-query>")  # fmt: skip
    response = client.report(url, body)
    if response.status != 207:
        raise PermanentError(f"The CalDAV server answered {response.status} to a free/busy question.")
    policy, budget, blocks = policy_for(integration.tenant), recurrence.Budget.for_request(), []
    for node in response.xml().findall("d:response", NS):
        try:
            item = parse_item(_text(node, "d:propstat/d:prop/c:calendar-data"))
        except ICalError:
            continue  # an item calsync cannot read is listed on the integration's sync page, not here
        for found in recurrence.occurrences(item, start=start, end=end, budget=budget):
            kind = kind_of(found.component, not isinstance(found.start, datetime), policy)
            if kind is not None:
                blocks.append(Block(start=as_utc(found.start), end=as_utc(found.end), kind=kind))
    return blocks


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
