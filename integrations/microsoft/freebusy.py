"""A connected Microsoft 365 mailbox's busy time, live, with calendar: getSchedule.

https://learn.microsoft.com/graph/api/calendar-getschedule: the availability of the mailbox (its default
calendar), item by item with Outlook's own statuses, which calsync keeps apart (busy, tentative, out of office,
working elsewhere; free is left out). An address Graph cannot read comes back with `error`, which must not
read as "free". https://learn.microsoft.com/graph/api/resources/scheduleitem
"""

from __future__ import annotations

from datetime import UTC, datetime

from integrations.models import Integration
from scheduling.freebusy import BUSY, ELSEWHERE, OOF, TENTATIVE, Block
from sync.errors import PermanentError

from .provider import client_for

_KINDS = {"busy": BUSY, "tentative": TENTATIVE, "oof": OOF, "workingElsewhere": ELSEWHERE, "unknown": BUSY}


def busy(integration: Integration, start: datetime, end: datetime) -> list[Block]:
    client = client_for(integration)
    address = integration.config.get("account", "")
    body = {"schedules": [address], "startTime": _when(start), "endTime": _when(end), "availabilityViewInterval": 30}
    answer = client.call("POST", f"{client.prefix}/calendar/getSchedule", json=body)
    [schedule] = answer.get("value") or [{}]
    if schedule.get("error") or "scheduleItems" not in schedule:
        message = (schedule.get("error") or {}).get("responseCode", "no answer")
        raise PermanentError(f"Microsoft 365 could not give this mailbox's free/busy time ({message}).")
    return [
        Block(start=_instant(item["start"]), end=_instant(item["end"]), kind=_KINDS[item["status"]])
        for item in schedule["scheduleItems"]
        if item.get("status") in _KINDS
    ]


def _when(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _instant(value: dict[str, str]) -> datetime:
    # Asked in UTC, Graph answers in UTC ("2026-11-24T09:00:00.0000000").
    if value.get("timeZone", "UTC") != "UTC":
        raise PermanentError("Microsoft 365 answered free/busy in another time zone than asked.")
    return datetime.fromisoformat(value["dateTime"][:19]).replace(tzinfo=UTC)
