"""EWS notification subscriptions on one integration's calendar folder, through exchangelib.

Streaming first (a change arrives on an open connection within a second); where the server refuses it, a pull
subscription read with GetEvents. A subscription belongs to the login that made it: only that login may read or
end it. push_channel holds "ews-stream:<id>" or "ews-pull:<id>".
https://learn.microsoft.com/exchange/client-developer/exchange-web-services/notification-subscriptions-mailbox-events-and-ews-in-exchange
"""

from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from exchangelib import errors as ews
from exchangelib.folders import Calendar, Root
from exchangelib.properties import StatusEvent
from exchangelib.services import GetEvents, GetStreamingEvents

from integrations.models import Integration
from sync.errors import SyncError

from .client import account, translated, ungated
from .services import server_for

STREAM, PULL = "ews-stream:", "ews-pull:"
# What a calendar folder's items go through; NewMail and FreeBusyChanged say nothing a sync would read.
EVENT_TYPES = ["CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent", "CopiedEvent"]
# The EWS notification limit: at most 200 subscriptions in one GetStreamingEvents (the connections open at once
# per account are EXCHANGE_STREAMS_PER_LOGIN, 10 in the default throttling policy's HangingConnectionLimit).
PER_CONNECTION = 200
CONNECTIONS_OUTSIDE_STREAMS = 4
# GetEvents answers at most 50 events a call (MoreEvents says more wait); past this many calls the rest wait for the
# next read, so that one busy folder does not hold the pull thread.
PULL_PAGES = 20


class Refused(Exception):
    """The server does not offer this kind of subscription (ErrorInvalidSubscriptionRequest)."""


class Lost(Exception):
    """Exchange no longer knows these subscriptions (ErrorSubscriptionNotFound: expired, or the server restarted)."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(f"{len(ids)} subscriptions lost")
        self.ids = ids


@dataclass
class Target:
    """An integration's folder as the listener reaches it; `login` groups the folders one connection may carry."""

    integration_id: int
    login: str
    folder: Any  # exchangelib Calendar

    @classmethod
    def of(cls, integration: Integration, *, listening: bool = False) -> Target:
        """Every request but GetStreamingEvents goes through the login's shared gate (its per-minute budget and
        slots, paused when Exchange says busy), as a sync's do. `listening`: in the listener process only."""
        server = server_for(integration)
        ews_account = account(server, integration.config["account"])
        if listening:
            # Each open stream holds one of the login's sessions for its whole life: room for all of them, and for
            # the Subscribe and GetEvents requests beside. exchangelib shares the protocol with every Account of
            # the login in this process, so web and worker processes (Unsubscribe on disconnect) keep their cap.
            ews_account.protocol.max_connections = settings.EXCHANGE_STREAMS_PER_LOGIN + CONNECTIONS_OUTSIDE_STREAMS
        folder = Calendar(root=Root(account=ews_account), id=integration.remote_calendar_id)
        return cls(integration.pk, f"{server.ews_url} {server.login}", folder)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    try:
        with translated():
            yield
    except SyncError as exc:
        if isinstance(exc.__cause__, ews.ErrorInvalidSubscriptionRequest | ews.ErrorInvalidServerVersion):
            raise Refused(str(exc.__cause__)) from exc
        raise


def subscribe_streaming(target: Target) -> str:
    with _refusals():
        return str(target.folder.subscribe_to_streaming(event_types=EVENT_TYPES))


def subscribe_pull(target: Target, minutes: int) -> tuple[str, str]:
    """A pull subscription and its first watermark; it lapses unless read within `minutes`."""
    with _refusals():
        sub_id, watermark = target.folder.subscribe_to_pull(event_types=EVENT_TYPES, timeout=minutes)
    return str(sub_id), str(watermark)


def unsubscribe(target: Target, channel: str) -> None:
    """End a subscription; one Exchange forgot already is as good as ended."""
    sub_id = channel.split(":", 1)[1] if ":" in channel else ""
    if not sub_id:
        return
    with contextlib.suppress(ews.ErrorSubscriptionNotFound), translated():
        target.folder.unsubscribe(sub_id)


def pulled(target: Target, sub_id: str, watermark: str) -> tuple[bool, str]:
    """GetEvents since `watermark`: whether anything happened, and the watermark to read from next. Each page is
    asked from the last event's watermark (exchangelib's Folder.get_events asks again from the same one while
    MoreEvents is true, so a queue over one page would be read for ever)."""
    changed = False
    service = GetEvents(account=target.folder.account)
    try:
        with translated():
            for _ in range(PULL_PAGES):
                notification = service.get(subscription_id=sub_id, watermark=watermark)
                changed = changed or _changed(notification.events)
                if notification.events:
                    watermark = notification.events[-1].watermark or watermark
                if not notification.more_events:
                    break
    except SyncError as exc:
        if isinstance(exc.__cause__, ews.ErrorSubscriptionNotFound | ews.ErrorInvalidWatermark):
            raise Lost([sub_id]) from exc
        raise
    return changed, watermark


class _Streaming(GetStreamingEvents):  # type: ignore[misc]
    """exchangelib's GetStreamingEvents yields notifications only; this one also yields None after each message (a
    notification, a heartbeat, the last "Closed"), so that a listener learns where a message ends and that the
    connection is alive, and can act between messages (never within one: it may carry several notifications). It
    alone of the listener's requests is sent outside the login's gate."""

    def _get_response(self, payload: Any, api_version: Any) -> Any:
        with ungated():
            return super()._get_response(payload, api_version)

    def _get_element_container(self, message: Any, name: Any = None) -> Any:
        found = super()._get_element_container(message=message, name=name)
        if isinstance(found, list):  # a message without notifications
            return [None]
        return found if isinstance(found, bool | Exception) else [*found, None]


def streamed(target: Target, sub_ids: list[str], minutes: int) -> Iterator[list[str]]:
    """One GetStreamingEvents connection for these subscriptions (all of `target`'s login): yields, for each
    message Exchange writes (notifications or a heartbeat), the subscriptions whose folder changed. Ends when
    Exchange closes the connection (after `minutes`)."""
    service = _Streaming(account=target.folder.account)
    changed: list[str] = []
    try:
        with translated():
            for notification in service.call(subscription_ids=sub_ids, connection_timeout=minutes):
                if notification is None:
                    yield changed
                    changed = []
                elif _changed(notification.events) and notification.subscription_id not in changed:
                    changed.append(notification.subscription_id)
    except SyncError as exc:
        if isinstance(exc.__cause__, ews.ErrorSubscriptionNotFound):
            raise Lost(_lost_ids(str(exc.__cause__), sub_ids)) from exc
        raise
    finally:
        with contextlib.suppress(Exception):
            service.stop_streaming()


def _changed(events: Iterable[Any]) -> bool:
    return any(not isinstance(event, StatusEvent) for event in events)


def _lost_ids(message: str, asked: list[str]) -> list[str]:
    """exchangelib appends the ErrorSubscriptionIds Exchange names to the message; without them, all are suspect."""
    found = re.search(r"\(subscription IDs: (\[.*\])\)\s*$", message)
    if found:
        with contextlib.suppress(ValueError, SyntaxError):
            ids = [str(i) for i in ast.literal_eval(found.group(1))]
            if ids:
                return ids
    return list(asked)
