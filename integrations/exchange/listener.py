"""The EWS notification listener (`manage.py ews_listen`): holds subscriptions for the Exchange integrations this
process leases, and asks for a sync of the one whose calendar changed.

- Ownership: leases on the integration rows (leases.py), claimed up to a capacity and renewed every tick.
- Streaming: one thread per GetStreamingEvents connection, each carrying up to 200 subscriptions of one login, at
  most EXCHANGE_STREAMS_PER_LOGIN connections per login across all listener processes (Exchange's
  HangingConnectionLimit; slots in the shared quota store, renewed every tick; past that, polled); a
  connection is reopened when Exchange closes it (after EXCHANGE_STREAM_MINUTES) and when the subscriptions it
  should carry changed (seen at its next message: a notification or a heartbeat). Exchange queues a
  subscription's events while no connection carries it.
- A subscription Exchange no longer knows (ErrorSubscriptionNotFound) is made again, and the calendar synced,
  since a change may have come and gone unheard.
- Streaming refused: a pull subscription read every EXCHANGE_PULL_SECONDS. Both refused: polling (push_state
  POLLING), asked again after EXCHANGE_PUSH_RETRY_SECONDS; other failures: FAILED, asked again sooner.
- Stopping (SIGTERM) gives the leases back but leaves the subscriptions: whoever takes a row over carries on with
  the same subscription, and the changes Exchange queued for it meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from integrations import quota
from integrations.models import Integration
from sync.errors import AuthRevoked, SyncError
from sync.services import sync_request_push

from . import leases
from .subscriptions import (
    PER_CONNECTION,
    PULL,
    STREAM,
    Lost,
    Refused,
    Target,
    pulled,
    streamed,
    subscribe_pull,
    subscribe_streaming,
    unsubscribe,
)

log = logging.getLogger(__name__)
FAILED_RETRY_SECONDS = 300  # a subscription that failed for another reason than a refusal: asked again this soon
BACK_OFF_MAX_SECONDS = 600  # a stream failing again and again (lost at once, too many connections) waits at most this
Push = Integration.PushState


@dataclass
class Held:
    target: Target | None = None
    channel: str = ""  # push_channel: "ews-stream:<id>", "ews-pull:<id>", or "" while polled
    watermark: str = ""  # a pull subscription's
    retry_at: float = 0.0  # without a subscription: when to ask again (time.monotonic())
    stream: Stream | None = None

    @property
    def sub_id(self) -> str:
        return self.channel.split(":", 1)[1]


class Stream(threading.Thread):
    """One GetStreamingEvents connection for up to 200 subscriptions of one login, reopened as long as it carries
    any."""

    def __init__(self, listener: Listener, login: str) -> None:
        super().__init__(daemon=True, name=f"ews-stream-{login[-20:]}")
        self.listener, self.login = listener, login
        self.subs: dict[str, int] = {}  # subscription id -> integration id
        self.version = 0  # moves on whenever `subs` changes
        self.failures = 0  # connections in a row that ended lost or failed before any message: the back-off
        self.slot = ""  # its holder of one of the login's stream slots, shared by every listener process

    def run(self) -> None:
        stop = self.listener.stop
        try:
            while not stop.is_set():
                with self.listener.lock:
                    subs, version = dict(self.subs), self.version
                    target = self.listener.target_of(next(iter(subs.values()))) if subs else None
                    if target is None:
                        self.listener.stream_ended(self)  # under the lock: nobody joins it after this
                        return
                try:
                    self._listen(target, subs, version)
                except Exception:  # a bug or the database: this connection ends, the next tick starts another
                    log.exception("ews stream thread failed", extra={"login_tail": self.login[-20:]})
                    return
                finally:
                    close_old_connections()
        finally:
            self.listener.stream_ended(self)
            connection.close()

    def _listen(self, target: Target, subs: dict[str, int], version: int) -> None:
        try:
            for changed in streamed(target, list(subs), settings.EXCHANGE_STREAM_MINUTES):
                self.failures = 0
                # One message may carry several notifications: all are heard before reconnecting.
                for sub_id in changed:
                    self.listener.changed(subs[sub_id])
                if self.version != version or self.listener.stop.is_set():
                    return  # carry the new set of subscriptions: reconnect
        except Lost as exc:
            # Subscribed again (and synced) at once the first time; a server that loses them on every connect (a
            # mailbox on another back-end server than the connection reaches) must not make that a storm.
            self._back_off(first=0)
            self.listener.lost([subs[s] for s in exc.ids if s in subs])
        except AuthRevoked as exc:  # not retried at once: a refused password tried again and again locks accounts
            for integration_id in subs.values():
                self.listener.refused(integration_id, exc)
        except SyncError as exc:  # the connection failed (network, server busy, too many connections): wait, reconnect
            log.warning("ews stream failed", extra={"login_tail": self.login[-20:], "error": str(exc)})
            self._back_off(first=settings.EXCHANGE_LISTEN_TICK_SECONDS)

    def _back_off(self, *, first: float) -> None:
        """Wait `first` after one failure, then twice as long after each further one (from a tick's length), up to
        BACK_OFF_MAX_SECONDS; a message heard resets it."""
        self.failures += 1
        wait = first
        if self.failures > 1:
            wait = settings.EXCHANGE_LISTEN_TICK_SECONDS * 2 ** (self.failures - 2)
        self.listener.stop.wait(min(wait, BACK_OFF_MAX_SECONDS))


class Listener:
    def __init__(self, *, holder: str, capacity: int) -> None:
        self.holder, self.capacity = holder, capacity
        self.stop = threading.Event()
        self.lock = threading.RLock()
        self.held: dict[int, Held] = {}
        self.streams: dict[str, list[Stream]] = {}
        self.spare: dict[tuple[str, int], str] = {}  # a stream slot _room took for the _join that follows (per thread)

    def run(self) -> None:
        """Until stop is set: renew and claim every tick; pull subscriptions on their own thread."""
        puller = threading.Thread(target=self._pull_loop, daemon=True, name="ews-pull")
        puller.start()
        while not self.stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("ews listener tick failed")
                close_old_connections()
            self.stop.wait(settings.EXCHANGE_LISTEN_TICK_SECONDS)
        leases.leases_release(holder=self.holder)
        log.info("ews listener stopped", extra={"holder": self.holder, "integrations": len(self.held)})

    def tick(self) -> None:
        close_old_connections()
        self._renew_slots()
        held, listened = leases.leases_renew(holder=self.holder)
        for integration_id in set(self.held) - held:  # taken over by another process, or disconnected
            self.forget(integration_id)
        for integration_id in held - listened:  # paused or made manual: no need to hear of changes
            self._end(integration_id)
        leases.leases_claim(holder=self.holder, limit=self.capacity - len(listened))
        _, listened = leases.leases_renew(holder=self.holder)
        due = [i for i in listened if i not in self.held or self._retry_due(self.held[i])]
        renewed = time.monotonic()
        self._restart_streams()
        for integration in leases.listened().filter(pk__in=due).iterator():
            if self.stop.is_set():
                return  # thousands to subscribe take minutes: SIGTERM is not kept waiting
            try:
                self.start(integration)
            except Exception as exc:  # one unreadable row (an old key, a bad config) must not stop the others
                self._broken(integration.pk, exc)
            if time.monotonic() - renewed > settings.EXCHANGE_LISTEN_TICK_SECONDS:
                leases.leases_renew(holder=self.holder)  # nor are the leases, or others would take them over
                self._renew_slots()
                renewed = time.monotonic()

    def _retry_due(self, held: Held) -> bool:
        return not held.channel and held.retry_at <= time.monotonic()

    # --- one integration --------------------------------------------------------------------------------

    def start(self, integration: Integration) -> None:
        """Listen for this integration: go on with its stream subscription if it has one, else subscribe afresh."""
        try:
            target = Target.of(integration, listening=True)
        except SyncError as exc:
            self._without(integration.pk, Held(), Push.FAILED, FAILED_RETRY_SECONDS, exc)
            return
        held = Held(target)
        with self.lock:
            self.held[integration.pk] = held
        if integration.push_channel.startswith(STREAM) and self._room(target.login):
            held.channel = integration.push_channel
            self._join(integration.pk, held)  # a lost subscription comes back through lost()
            self._record(integration.pk, held, Push.ACTIVE)
            # Taken over (or restarted): a change may have come while nobody held the row, and Exchange's queue
            # for the subscription may have lapsed with it; one sync catches up.
            self.changed(integration.pk)
            return
        if self.stop.is_set():
            return  # each request below may take EXCHANGE_TIMEOUT_SECONDS: SIGTERM is not kept waiting
        if integration.push_channel.startswith(PULL):  # its watermark was the last holder's: start again
            self._quietly_unsubscribe(target, integration.push_channel)
        self._subscribe(integration.pk, held)

    def _subscribe(self, integration_id: int, held: Held) -> None:
        assert held.target is not None
        try:
            if not self._room(held.target.login):
                # Pulling thousands every few seconds would cost more than the poll it replaces.
                raise Refused("every stream this login may open is full (EXCHANGE_STREAMS_PER_LOGIN)")
            try:
                held.channel = STREAM + subscribe_streaming(held.target)
            except Refused:
                if self.stop.is_set():
                    raise
                sub_id, held.watermark = subscribe_pull(held.target, settings.EXCHANGE_PULL_TIMEOUT_MINUTES)
                held.channel = PULL + sub_id
        except Refused as exc:
            self._without(integration_id, held, Push.POLLING, settings.EXCHANGE_PUSH_RETRY_SECONDS, exc)
            return
        except SyncError as exc:
            self._without(integration_id, held, Push.FAILED, FAILED_RETRY_SECONDS, exc)
            return
        if held.channel.startswith(STREAM):
            self._join(integration_id, held)
        self._record(integration_id, held, Push.ACTIVE)
        self.changed(integration_id)  # a change made before the subscription existed is caught up now

    def _without(self, integration_id: int, held: Held, state: str, retry: float, exc: Exception) -> None:
        held.channel, held.retry_at = "", time.monotonic() + retry
        with self.lock:
            self.held[integration_id] = held
        self._record(integration_id, held, state)
        log.info("ews push unavailable", extra={"integration": integration_id, "push_state": state,
                                                "error": str(exc)})  # fmt: skip

    def _broken(self, integration_id: int, exc: Exception) -> None:
        """Listening failed for a reason no SyncError names (an unreadable secret, a bad config, a bug): FAILED,
        asked again later. Only the exception's class is logged: its text may quote the row's secrets."""
        log.warning("ews listen failed", extra={"integration": integration_id, "error": type(exc).__name__})
        try:
            self.forget(integration_id)  # whatever start() got as far as joining
            self._without(integration_id, Held(), Push.FAILED, FAILED_RETRY_SECONDS, RuntimeError(type(exc).__name__))
        except Exception:  # the database itself: the next tick tries again
            log.exception("ews listen state not recorded", extra={"integration": integration_id})

    def _record(self, integration_id: int, held: Held, state: str) -> None:
        expires = None
        if held.channel.startswith(STREAM):
            expires = timezone.now() + leases.STREAMING_LIFETIME
        elif held.channel:
            expires = timezone.now() + timedelta(minutes=settings.EXCHANGE_PULL_TIMEOUT_MINUTES)
        leases.push_recorded(integration_id=integration_id, holder=self.holder, channel=held.channel, state=state,
                             expires_at=expires)  # fmt: skip

    def changed(self, integration_id: int) -> None:
        """Exchange said the folder changed: a sync on the push queue."""
        sync_request_push(integration=Integration(pk=integration_id))

    def lost(self, integration_ids: list[int]) -> None:
        """Exchange forgot these subscriptions: subscribe again (which syncs)."""
        for integration_id in integration_ids:
            with self.lock:
                held = self.held.get(integration_id)
                if held is None:
                    continue
                self._leave(held)
                held.channel = ""
            log.info("ews subscription lost", extra={"integration": integration_id})
            self._subscribe(integration_id, held)

    def refused(self, integration_id: int, exc: Exception) -> None:
        """Exchange refused the login: asked again later (from the row, with whatever credentials it has then), and
        a sync now, which tells the user what is wrong."""
        with self.lock:
            held = self.held.get(integration_id)
            if held is None:
                return
            self._leave(held)
        self._without(integration_id, Held(), Push.FAILED, FAILED_RETRY_SECONDS, exc)
        self.changed(integration_id)

    def forget(self, integration_id: int) -> None:
        """Stop listening for it here (its row and subscription stay as they are)."""
        with self.lock:
            held = self.held.pop(integration_id, None)
            if held is not None:
                self._leave(held)

    def _end(self, integration_id: int) -> None:
        held = self.held.get(integration_id)
        self.forget(integration_id)
        if held is not None and held.target is not None and held.channel:
            self._quietly_unsubscribe(held.target, held.channel)
        leases.push_forgotten(integration_id=integration_id)

    def _quietly_unsubscribe(self, target: Target, channel: str) -> None:
        try:
            unsubscribe(target, channel)
        except SyncError as exc:  # it lapses on its own (30 minutes without a connection)
            log.info("ews unsubscribe failed", extra={"integration": target.integration_id, "error": str(exc)})

    def target_of(self, integration_id: int) -> Target | None:
        held = self.held.get(integration_id)
        return held.target if held is not None else None

    # --- streams --------------------------------------------------------------------------------------------

    def _room(self, login: str) -> bool:
        """Whether a subscription of this login could be carried: a stream here has room, or one of the login's
        EXCHANGE_STREAMS_PER_LOGIN stream slots (counted for every listener process, in the quota store) is free;
        that slot is then kept for the _join that follows on this thread (unused, it lapses by itself). None at
        all (0): every calendar is polled (the quota store reads a size of 0 as "no limit", so it is not asked)."""
        if settings.EXCHANGE_STREAMS_PER_LOGIN <= 0:
            return False
        with self.lock:
            if any(len(stream.subs) < PER_CONNECTION for stream in self.streams.get(login, [])):
                return True
            key = (login, threading.get_ident())
            if key in self.spare:  # left by a Subscribe that failed: maybe lapsed since, taken afresh
                quota.leave(_stream_slots(login), [self.spare.pop(key)])
            slot = quota.hold(_stream_slots(login))
            if slot is None:
                return False
            self.spare[key] = slot
            return True

    def _join(self, integration_id: int, held: Held) -> None:
        """Carry the subscription on a stream of its login; without a free stream slot, it stays unattached and
        the next tick tries again (Exchange keeps its events meanwhile)."""
        assert held.target is not None
        login = held.target.login
        with self.lock:
            streams = self.streams.setdefault(login, [])
            stream = next((s for s in streams if len(s.subs) < PER_CONNECTION), None)
            if stream is None:
                slot = self.spare.pop((login, threading.get_ident()), None) or quota.hold(_stream_slots(login))
                if slot is None:
                    return
                stream = Stream(self, login)
                stream.slot = slot
                streams.append(stream)
                stream.start()
            stream.subs[held.sub_id] = integration_id
            stream.version += 1
            held.stream = stream

    def _renew_slots(self) -> None:
        with self.lock:
            slots = {login: [s.slot for s in streams if s.slot] for login, streams in self.streams.items()}
        for login, holders in slots.items():
            quota.renew(_stream_slots(login), holders)

    def stream_ended(self, stream: Stream) -> None:
        """A stream thread ends (nothing left to carry, or it failed): the subscriptions it still carried are
        joined to another one at the next tick."""
        with self.lock:
            streams = self.streams.get(stream.login, [])
            if stream in streams:
                streams.remove(stream)
            if stream.slot:
                quota.leave(_stream_slots(stream.login), [stream.slot])
                stream.slot = ""
            for integration_id in stream.subs.values():
                held = self.held.get(integration_id)
                if held is not None and held.stream is stream:
                    held.stream = None

    def _restart_streams(self) -> None:
        with self.lock:
            orphans = [(i, h) for i, h in self.held.items() if h.channel.startswith(STREAM) and h.stream is None]
            for integration_id, held in orphans:
                self._join(integration_id, held)

    def _leave(self, held: Held) -> None:
        if held.stream is not None:
            held.stream.subs.pop(held.sub_id, None)
            held.stream.version += 1
            held.stream = None

    # --- pull -----------------------------------------------------------------------------------------------

    def _pull_loop(self) -> None:
        try:
            while not self.stop.wait(settings.EXCHANGE_PULL_SECONDS):
                with self.lock:
                    pulls = [(i, h) for i, h in self.held.items() if h.channel.startswith(PULL)]
                for integration_id, held in pulls:
                    try:
                        self._pull(integration_id, held)
                    except Exception:  # a bug or the database: the others are pulled still, this one next round
                        log.exception("ews pull failed", extra={"integration": integration_id})
                close_old_connections()
        finally:
            connection.close()

    def _pull(self, integration_id: int, held: Held) -> None:
        assert held.target is not None
        try:
            changed, held.watermark = pulled(held.target, held.sub_id, held.watermark)
        except Lost:
            self.lost([integration_id])
        except SyncError as exc:
            log.warning("ews pull failed", extra={"integration": integration_id, "error": str(exc)})
        else:
            if changed:
                self.changed(integration_id)


def _stream_slots(login: str) -> quota.Gate:
    """The login's open GetStreamingEvents connections, counted across every listener process: Exchange refuses
    more than its throttling policy's HangingConnectionLimit (EXCHANGE_STREAMS_PER_LOGIN) with
    ErrorExceededConnectionCount."""
    slots = quota.Slots(quota.scope("ews", "streams", login), settings.EXCHANGE_STREAMS_PER_LOGIN)
    return quota.Gate((), slots, "Exchange")
