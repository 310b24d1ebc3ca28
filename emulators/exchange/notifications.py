"""EWS notifications in the Exchange emulator: Subscribe (streaming, pull), GetStreamingEvents, GetEvents, Unsubscribe.

As the EWS notification documents describe them:
- a subscription watches folders for the event types it names; its id is opaque;
- streaming: GetStreamingEvents names up to 200 subscriptions and a ConnectionTimeout (1 to 30 minutes); the
  answer stays open that long, each notification written as its own SOAP envelope as it happens, a heartbeat
  (ConnectionStatus OK, no notification) when nothing happened for a while, and a last message with
  ConnectionStatus Closed. A streaming subscription nobody listens to expires after 30 minutes;
- pull: GetEvents returns what happened since a watermark (a StatusEvent when nothing did), and the
  subscription expires when it is not read for its Timeout minutes;
- an expired or forgotten subscription is ErrorSubscriptionNotFound;
- a subscription is carried by one connection: a new GetStreamingEvents naming it takes it over, and the older
  connection ends (its last message ConnectionStatus Closed), so a client's reconnect never loses events to the
  connection it walked away from.
https://learn.microsoft.com/exchange/client-developer/exchange-web-services/notification-subscriptions-mailbox-events-and-ews-in-exchange
https://learn.microsoft.com/exchange/client-developer/web-service-reference/getstreamingevents-operation

Test switches (POST /_emulator/notifications): `refuse_streaming` (Subscribe refuses streaming, so clients pull),
`refuse_pull`, `minute_seconds` (how long a "minute" of ConnectionTimeout and expiry lasts), `heartbeat_seconds`,
`forget` (the server lost every subscription, as when a mailbox moves: open streams drop).
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element

from .items import NS, VERSION, esc, m, t
from .state import EwsError

MAX_STREAMED = 200  # subscriptions one GetStreamingEvents connection may carry
STREAMING_EXPIRY_MINUTES = 30  # a streaming subscription without a connection lives this long
EVENT_TYPES = ("CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent", "NewMailEvent",
               "FreeBusyChangedEvent")  # fmt: skip


@dataclass
class Subscription:
    id: str
    streaming: bool
    login: str
    folders: set[str]
    event_types: set[str]
    timeout_minutes: int  # pull: expires unless read within this; streaming: 30 without a connection
    seen: float = field(default_factory=time.monotonic)
    events: list[tuple[int, str]] = field(default_factory=list)  # (sequence, event XML)
    seq: int = 0
    connected: int = 0  # open streams carrying it
    owner: int = 0  # the connection that carries it now (the newest): only it is given the events


class Notifications:
    def __init__(self, lock: threading.RLock) -> None:
        self.lock = lock
        self.changed = threading.Condition(lock)
        self.subscriptions: dict[str, Subscription] = {}
        self.switches: dict[str, float] = {"refuse_streaming": 0, "refuse_pull": 0, "minute_seconds": 60,
                                           "heartbeat_seconds": 45}  # fmt: skip
        self.generation = 0  # moves on when the server forgets every subscription
        self.streams = 0  # GetStreamingEvents connections open now
        self.connections = 0  # GetStreamingEvents connections ever opened: each one's number

    def configure(self, data: dict[str, Any]) -> dict[str, float]:
        with self.lock:
            self.switches.update({k: float(v) for k, v in data.items() if k in self.switches})
            if data.get("forget"):
                self.subscriptions.clear()
                self.generation += 1
                self.changed.notify_all()
            return {**self.switches, "subscriptions": len(self.subscriptions), "streams": self.streams}

    # --- what happened ----------------------------------------------------------------------------------

    def record(self, folder_id: str, kind: str, item_id: str, old_folder_id: str = "") -> None:
        """An item changed in a folder: queue the event for every subscription watching that folder."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.lock:
            for sub in self.subscriptions.values():
                watched = folder_id in sub.folders or old_folder_id in sub.folders
                if not watched or kind not in sub.event_types:
                    continue
                sub.seq += 1
                sub.events.append((sub.seq, _event_xml(sub, kind, stamp, item_id, folder_id, old_folder_id)))
            self.changed.notify_all()

    # --- operations ---------------------------------------------------------------------------------------

    def subscribe(self, request: Element, login: str, folders: list[str]) -> str:
        streaming = request.tag == m("StreamingSubscriptionRequest")
        refused = self.switches["refuse_streaming" if streaming else "refuse_pull"]
        if refused or request.get("SubscribeToAllFolders") == "true":
            raise EwsError("ErrorInvalidSubscriptionRequest", "This subscription request is not supported here.")
        types = {e.text or "" for e in request.iter(t("EventType"))}
        if not types or types - set(EVENT_TYPES):
            raise EwsError("ErrorSchemaValidation", "EventTypes must name one or more event types.", fault=True)
        timeout = STREAMING_EXPIRY_MINUTES
        if not streaming:
            text = (request.findtext(t("Timeout")) or "").strip()
            if not text.isdigit() or not 1 <= int(text) <= 1440:  # Timeout: 1 to 1440 minutes
                raise EwsError("ErrorInvalidSubscriptionRequest", "Timeout must be between 1 and 1440 minutes.")
            timeout = int(text)
        sub_id = _sub_id()
        with self.lock:
            self.subscriptions[sub_id] = Subscription(sub_id, streaming, login, set(folders), types, timeout)
        answer = f"<m:SubscriptionId>{sub_id}</m:SubscriptionId>"
        if not streaming:
            answer += f"<m:Watermark>{_watermark(sub_id, 0)}</m:Watermark>"
        return answer

    def unsubscribe(self, sub_id: str, login: str) -> None:
        with self.lock:
            self._known(sub_id, login)
            del self.subscriptions[sub_id]

    def get_events(self, sub_id: str, watermark: str, login: str) -> str:
        """Pull: events after the watermark; those up to it are acknowledged and forgotten."""
        with self.lock:
            sub = self._known(sub_id, login)
            if sub.streaming:
                raise EwsError("ErrorInvalidSubscription", "This is a streaming subscription.")
            since = _read_watermark(watermark, sub_id)
            sub.events = [e for e in sub.events if e[0] > since]
            sub.seen = time.monotonic()
            page = sub.events[:50]
            body = "".join(xml for _, xml in page)
            if not page:
                body = f"<t:StatusEvent><t:Watermark>{_watermark(sub_id, since)}</t:Watermark></t:StatusEvent>"
            return (
                f"<m:Notification><t:SubscriptionId>{sub_id}</t:SubscriptionId><t:PreviousWatermark>"
                f"{_watermark(sub_id, since)}</t:PreviousWatermark><t:MoreEvents>"
                f"{str(len(sub.events) > len(page)).lower()}</t:MoreEvents>{body}</m:Notification>"
            )

    def stream(self, sub_ids: list[str], minutes: int, login: str) -> Iterator[bytes]:
        """GetStreamingEvents: the checks first (an error is one message), then the open stream."""
        if not 1 <= minutes <= 30:
            yield _streamed_error("ErrorInvalidRequest", "ConnectionTimeout must be between 1 and 30 minutes.")
            return
        if not 1 <= len(sub_ids) <= MAX_STREAMED:
            yield _streamed_error("ErrorInvalidRequest", f"Name 1 to {MAX_STREAMED} subscriptions.")
            return
        with self.lock:
            missing = [s for s in sub_ids if self._find(s, login) is None]
            if missing:
                yield _streamed_error("ErrorSubscriptionNotFound", "The specified subscription was not found.",
                                      missing)  # fmt: skip
                return
            generation = self.generation
            self.connections += 1
            number = self.connections
            for sub_id in sub_ids:
                self.subscriptions[sub_id].connected += 1
                self.subscriptions[sub_id].owner = number
            self.streams += 1
            self.changed.notify_all()  # an older connection carrying one of these ends now
        try:
            yield from self._stream(sub_ids, minutes, generation, number)
        finally:
            with self.lock:
                self.streams -= 1
                for sub_id in sub_ids:
                    if sub_id in self.subscriptions:
                        sub = self.subscriptions[sub_id]
                        sub.connected, sub.seen = sub.connected - 1, time.monotonic()

    def _stream(self, sub_ids: list[str], minutes: int, generation: int, number: int) -> Iterator[bytes]:
        deadline = time.monotonic() + minutes * self.switches["minute_seconds"]
        quiet_since = time.monotonic()
        while True:
            with self.lock:
                wait = min(deadline, quiet_since + self.switches["heartbeat_seconds"]) - time.monotonic()
                if wait > 0 and not self._pending(sub_ids) and not self._taken_over(sub_ids, number):
                    self.changed.wait(wait)
                if self.generation != generation:
                    return  # the server forgot the subscriptions: the connection drops
                taken_over = self._taken_over(sub_ids, number)
                notes = "" if taken_over else self._drain(sub_ids)
            now = time.monotonic()
            if notes:
                yield _streamed(f"<m:Notifications>{notes}</m:Notifications>")
                quiet_since = now
            elif taken_over or now >= deadline:
                yield _streamed("<m:ConnectionStatus>Closed</m:ConnectionStatus>")
                return
            elif now >= quiet_since + self.switches["heartbeat_seconds"]:
                yield _streamed("<m:ConnectionStatus>OK</m:ConnectionStatus>")
                quiet_since = now

    def _taken_over(self, sub_ids: list[str], number: int) -> bool:
        return any(self.subscriptions[s].owner != number for s in sub_ids if s in self.subscriptions)

    def _pending(self, sub_ids: list[str]) -> bool:
        return any(self.subscriptions[s].events for s in sub_ids if s in self.subscriptions)

    def _drain(self, sub_ids: list[str]) -> str:
        notes = []
        for sub_id in sub_ids:
            sub = self.subscriptions.get(sub_id)
            if sub is None or not sub.events:
                continue
            body = "".join(xml for _, xml in sub.events)
            sub.events = []
            notes.append(f"<m:Notification><t:SubscriptionId>{sub_id}</t:SubscriptionId>{body}</m:Notification>")
        return "".join(notes)

    def _find(self, sub_id: str, login: str) -> Subscription | None:
        sub = self.subscriptions.get(sub_id)
        if sub is None or sub.login != login:
            return None
        lifetime = sub.timeout_minutes * self.switches["minute_seconds"]
        if not sub.connected and time.monotonic() - sub.seen > lifetime:
            del self.subscriptions[sub_id]  # expired
            return None
        return sub

    def _known(self, sub_id: str, login: str) -> Subscription:
        sub = self._find(sub_id, login)
        if sub is None:
            raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
        return sub


def _sub_id() -> str:
    return base64.b64encode(secrets.token_bytes(30)).decode()


def _watermark(sub_id: str, seq: int) -> str:
    return base64.b64encode(f"{sub_id[:8]}:{seq}".encode()).decode()


def _read_watermark(watermark: str, sub_id: str) -> int:
    try:
        prefix, _, seq = base64.b64decode(watermark, validate=True).decode().partition(":")
        if prefix == sub_id[:8]:
            return int(seq)
    except ValueError:
        pass
    raise EwsError("ErrorInvalidWatermark", "The watermark is invalid.")


def _event_xml(sub: Subscription, kind: str, stamp: str, item_id: str, folder_id: str, old_folder_id: str) -> str:
    mark = "" if sub.streaming else f"<t:Watermark>{_watermark(sub.id, sub.seq)}</t:Watermark>"
    old = ""
    if old_folder_id:
        old = f'<t:OldItemId Id="{esc(item_id)}"/><t:OldParentFolderId Id="{esc(old_folder_id)}"/>'
    return (
        f'<t:{kind}>{mark}<t:TimeStamp>{stamp}</t:TimeStamp><t:ItemId Id="{esc(item_id)}"/>'
        f'<t:ParentFolderId Id="{esc(folder_id)}"/>{old}</t:{kind}>'
    )


def _streamed(content: str) -> bytes:
    message = (
        '<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
        f"{content}</m:GetStreamingEventsResponseMessage>"
    )
    return _envelope(message)


def _streamed_error(code: str, text: str, sub_ids: list[str] | None = None) -> bytes:
    ids = "".join(f"<t:SubscriptionId>{esc(s)}</t:SubscriptionId>" for s in sub_ids or ())
    message = (
        f'<m:GetStreamingEventsResponseMessage ResponseClass="Error"><m:MessageText>{esc(text)}</m:MessageText>'
        f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
        + (f"<m:ErrorSubscriptionIds>{ids}</m:ErrorSubscriptionIds>" if ids else "")
        + "<m:ConnectionStatus>Closed</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>"
    )
    return _envelope(message)


def _envelope(message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {NS}><s:Header>{VERSION}</s:Header><s:Body>'
        f"<m:GetStreamingEventsResponse><m:ResponseMessages>{message}</m:ResponseMessages>"
        "</m:GetStreamingEventsResponse></s:Body></s:Envelope>"
    ).encode()
