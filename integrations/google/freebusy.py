"""A connected Google calendar's busy time, live, with freebusy.query.

https://developers.google.com/calendar/api/v3/reference/freebusy/query: one request per calendar and range;
the answer carries busy periods only (no titles, no kinds), and a calendar Google cannot read comes back with
`errors` rather than an HTTP error, which must not read as "free".
"""

from __future__ import annotations

from datetime import UTC, datetime

from integrations.models import Integration
from scheduling.freebusy import BUSY, Block
from sync.errors import PermanentError

from .client import GoogleApi
from .provider import credentials_for


def busy(integration: Integration, start: datetime, end: datetime) -> list[Block]:
    api = GoogleApi(credentials_for(integration))
    body = {"timeMin": _rfc3339(start), "timeMax": _rfc3339(end), "items": [{"id": integration.remote_calendar_id}]}
    answer = api.execute(api.service.freebusy().query(body=body))
    found = answer.get("calendars", {}).get(integration.remote_calendar_id, {})
    if found.get("errors"):
        reasons = ", ".join(e.get("reason", "?") for e in found["errors"])
        raise PermanentError(f"Google could not give this calendar's free/busy time ({reasons}).")
    return [Block(start=_instant(p["start"]), end=_instant(p["end"]), kind=BUSY) for p in found.get("busy", [])]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
