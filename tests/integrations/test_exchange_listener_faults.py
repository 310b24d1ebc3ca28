"""The EWS listener's failure paths (review 4): a long pull queue ends, every change of one stream message is heard,
background threads outlive an unexpected error, one unreadable row does not block the others, and the emulator
hands a subscription's events to the connection that carries it now."""

from __future__ import annotations

import datetime as dt
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from exchangelib.folders import Calendar, Root

from integrations.exchange import listener as L
from integrations.exchange.client import account
from integrations.exchange.subscriptions import Target, pulled, streamed, subscribe_pull, subscribe_streaming

START = dt.datetime(2026, 12, 10, 9, tzinfo=dt.UTC)


@pytest.fixture
def target(exchange, exchange_mailbox):  # type: ignore[no-untyped-def]
    address, server = exchange_mailbox
    folder = Calendar.get_distinguished(root=Root(account=account(server, address, gated=False)))
    exchange.state.notifications.configure({"minute_seconds": 60, "heartbeat_seconds": 3})
    yield Target(0, "login", folder)
    exchange.state.notifications.configure({"minute_seconds": 60, "heartbeat_seconds": 45})


def _create(exchange: Any, target: Target, subject: str) -> None:
    address = str(target.folder.account.primary_smtp_address).lower()
    exchange.state.create(address, None, {"subject": subject, "start": START, "end": START + dt.timedelta(hours=1)})


def test_a_reconnected_stream_gets_every_event_not_the_abandoned_connection(exchange, target) -> None:  # type: ignore[no-untyped-def]
    sub = subscribe_streaming(target)
    lost = 0
    for attempt in range(5):
        old = streamed(target, [sub], 1)
        next(old)  # a heartbeat
        old.close()  # the listener reconnects (its set of subscriptions changed)
        got: list[list[str]] = []

        def read(got: list[list[str]] = got) -> None:
            for message in streamed(target, [sub], 1):
                if message:
                    got.append(message)
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(0.3)
        _create(exchange, target, f"x{attempt}")
        reader.join(5)
        lost += not got
    assert lost == 0, f"{lost}/5 events never reached the open connection"


def test_every_notification_of_one_message_is_heard_though_the_stream_must_reconnect(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    listener = L.Listener(holder="h", capacity=10)
    stream = L.Stream(listener, "login")
    stream.subs = {"A": 1, "B": 2}
    heard: list[int] = []

    def fake_streamed(target: Any, ids: list[str], minutes: int) -> Any:
        yield ["A", "B"]  # one message, two Notification elements
        yield []  # the next message (a heartbeat)

    def changed(integration_id: int) -> None:
        heard.append(integration_id)
        stream.version += 1  # the tick joined another subscription meanwhile

    monkeypatch.setattr(L, "streamed", fake_streamed)
    monkeypatch.setattr(listener, "changed", changed)
    stream._listen(object(), dict(stream.subs), stream.version)  # type: ignore[arg-type]
    assert heard == [1, 2]


def test_the_pull_thread_survives_an_unexpected_error(monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EXCHANGE_PULL_SECONDS = 0.05
    listener = L.Listener(holder="h", capacity=10)
    listener.held[1] = L.Held(target=object(), channel="ews-pull:S", watermark="w")  # type: ignore[arg-type]
    calls: list[int] = []

    def broken(*args: Any) -> Any:
        calls.append(1)
        raise RuntimeError("DB down / unexpected parse error")

    monkeypatch.setattr(L, "pulled", broken)
    monkeypatch.setattr(L, "close_old_connections", lambda: None)
    monkeypatch.setattr(L, "connection", type("C", (), {"close": staticmethod(lambda: None)}))
    puller = threading.Thread(target=listener._pull_loop, daemon=True)
    puller.start()
    time.sleep(0.5)
    alive = puller.is_alive()
    listener.stop.set()
    assert alive and len(calls) > 1, f"pull thread alive={alive} after {len(calls)} pull(s)"


def test_a_stream_thread_that_fails_unexpectedly_leaves_and_is_restarted(monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    listener = L.Listener(holder="h", capacity=10)
    held = L.Held(target=SimpleNamespace(login="login"), channel="ews-stream:S")  # type: ignore[arg-type]
    listener.held[1] = held
    monkeypatch.setattr(L, "connection", type("C", (), {"close": staticmethod(lambda: None)}))
    monkeypatch.setattr(L, "close_old_connections", lambda: None)
    monkeypatch.setattr(L.Stream, "_listen", lambda *a: (_ for _ in ()).throw(RuntimeError("bug")))
    monkeypatch.setattr(L.Stream, "start", lambda self: None)  # run by hand below
    listener._join(1, held)
    dead = listener.streams["login"][0]
    dead.run()
    assert dead not in listener.streams.get(dead.login, []) and held.stream is not dead
    listener._restart_streams()
    assert held.stream is not None and held.stream is not dead and "S" in held.stream.subs


def test_a_pull_queue_longer_than_a_page_is_read_to_its_end(exchange, target) -> None:  # type: ignore[no-untyped-def]
    sub, watermark = subscribe_pull(target, 5)
    for i in range(60):
        _create(exchange, target, f"b{i}")
    result: list[tuple[bool, str]] = []
    reader = threading.Thread(target=lambda: result.append(pulled(target, sub, watermark)), daemon=True)
    reader.start()
    reader.join(10)
    assert result, "pulled() did not return within 10 s (GetEvents re-read with the same watermark)"
    changed, after = result[0]
    assert changed and pulled(target, sub, after) == (False, after)


def test_one_unreadable_row_does_not_stop_the_others(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from calsync.crypto import SecretUnreadable

    class Row:
        def __init__(self, pk: int) -> None:
            self.pk, self.push_channel = pk, ""

    rows = [Row(1), Row(2), Row(3)]

    class Rows:
        def filter(self, **kwargs: Any) -> Rows:
            return self

        def iterator(self) -> Any:
            return iter(rows)

    monkeypatch.setattr(L.leases, "leases_renew", lambda holder: ({1, 2, 3}, {1, 2, 3}))
    monkeypatch.setattr(L.leases, "leases_claim", lambda **k: [])
    monkeypatch.setattr(L.leases, "listened", lambda: Rows())
    monkeypatch.setattr(L, "close_old_connections", lambda: None)
    started: list[int] = []
    recorded: list[tuple[int, str]] = []

    def of(integration: Any, **kwargs: Any) -> Target:
        if integration.pk == 1:
            raise SecretUnreadable("old key")
        started.append(integration.pk)
        raise L.SyncError("stop here")

    monkeypatch.setattr(L.Target, "of", staticmethod(of))
    monkeypatch.setattr(L.Listener, "_record", lambda self, i, held, state: recorded.append((i, state)))
    listener = L.Listener(holder="h", capacity=10)
    listener.tick()
    assert started == [2, 3]
    assert (1, L.Push.FAILED) in recorded and listener.held[1].retry_at > time.monotonic()


def test_a_stream_subscription_taken_over_is_synced_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    listener = L.Listener(holder="h", capacity=10)
    row = SimpleNamespace(pk=7, push_channel="ews-stream:S")
    monkeypatch.setattr(L.Target, "of", staticmethod(lambda integration, **kw: Target(7, "login", None)))
    monkeypatch.setattr(L.Listener, "_record", lambda *a: None)
    monkeypatch.setattr(L.Stream, "start", lambda self: None)
    synced: list[int] = []
    monkeypatch.setattr(listener, "changed", synced.append)
    listener.start(row)  # type: ignore[arg-type]
    assert synced == [7] and "S" in listener.held[7].stream.subs  # type: ignore[union-attr]


def test_a_stopping_listener_does_not_fall_back_to_pull(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    listener = L.Listener(holder="h", capacity=10)
    listener.stop.set()  # SIGTERM came while Subscribe was on its way

    def refused(target: Any) -> str:
        raise L.Refused("no streaming here")

    pulls: list[Any] = []
    monkeypatch.setattr(L, "subscribe_streaming", refused)
    monkeypatch.setattr(L, "subscribe_pull", lambda *a: pulls.append(a) or ("P", "w"))
    monkeypatch.setattr(L.Listener, "_record", lambda *a: None)
    listener._subscribe(7, L.Held(target=Target(7, "login", None)))
    assert pulls == []


def test_the_listener_s_requests_pass_the_login_s_gate_but_its_stream_does_not(
    exchange, exchange_mailbox, monkeypatch, settings
) -> None:  # type: ignore[no-untyped-def]
    from integrations import quota
    from integrations.exchange import subscriptions
    from integrations.exchange.client import gate
    from sync.errors import SyncError

    address, server = exchange_mailbox
    folder = Calendar.get_distinguished(root=Root(account=account(server, address)))
    row = SimpleNamespace(pk=1, config={"account": address}, remote_calendar_id=folder.id)
    monkeypatch.setattr(subscriptions, "server_for", lambda integration: server)
    cap = folder.account.protocol.max_connections
    target = Target.of(row)  # type: ignore[arg-type]
    assert target.folder.account.protocol.max_connections == cap  # web and worker processes keep their cap
    sub = subscribe_streaming(target)
    _create(exchange, target, "before the pause")
    settings.QUOTA_MAX_WAIT_SECONDS = 0.1
    quota.pause(gate(server), 600)  # Exchange said busy to someone on this login
    try:
        with pytest.raises(SyncError):
            subscribe_streaming(target)
        stream = streamed(target, [sub], 1)
        assert next(stream) == [sub]
        stream.close()
    finally:
        quota.resume(gate(server))
    listening = Target.of(row, listening=True)  # type: ignore[arg-type]
    assert listening.folder.account.protocol.max_connections > cap


def test_a_stream_lost_or_failing_on_every_connect_backs_off(monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    from sync.errors import TransientError

    settings.EXCHANGE_LISTEN_TICK_SECONDS = 15
    listener = L.Listener(holder="h", capacity=10)
    stream = L.Stream(listener, "login")
    stream.subs = {"A": 1}
    failure: list[Exception] = [L.Lost(["A"])]

    def failing(target: Any, ids: list[str], minutes: int) -> Any:
        raise failure[0]
        yield []

    waits: list[float] = []
    resubscribed: list[list[int]] = []
    monkeypatch.setattr(L, "streamed", failing)
    monkeypatch.setattr(listener, "lost", resubscribed.append)
    monkeypatch.setattr(listener.stop, "wait", waits.append)
    for _ in range(4):
        stream._listen(object(), dict(stream.subs), stream.version)  # type: ignore[arg-type]
    assert resubscribed == [[1]] * 4 and waits == [0, 15, 30, 60]
    failure[0] = TransientError("Exchange: too many connections (ErrorExceededConnectionCount)")
    for _ in range(6):
        stream._listen(object(), dict(stream.subs), stream.version)  # type: ignore[arg-type]
    assert waits[4:] == [120, 240, 480, 600, 600, 600]
    monkeypatch.setattr(L, "streamed", lambda *a: iter([[]]))  # a heartbeat: the server is well again
    stream._listen(object(), dict(stream.subs), stream.version)  # type: ignore[arg-type]
    assert stream.failures == 0


def test_stream_slots_are_counted_per_login_across_listener_processes(monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    from integrations import quota

    settings.QUOTA_REDIS_URL = ""  # one process's store stands for Redis: both listeners here share it
    settings.EXCHANGE_STREAMS_PER_LOGIN = 1
    monkeypatch.setattr(quota, "store", lambda: store)
    store = quota.LocalStore()
    monkeypatch.setattr(L.Stream, "start", lambda self: None)
    first, second = L.Listener(holder="a", capacity=10), L.Listener(holder="b", capacity=10)
    held = L.Held(target=Target(1, "login", None), channel="ews-stream:S")
    assert first._room("login")
    first._join(1, held)
    assert not second._room("login")  # the login's one hanging connection is open in the other process
    other = L.Held(target=Target(2, "login", None), channel="ews-stream:T")
    first.held[1], second.held[2] = held, other
    second._join(2, other)
    assert other.stream is None  # left for a later tick
    first._renew_slots()
    first.stream_ended(held.stream)  # type: ignore[arg-type]
    assert second._room("login")
    second._restart_streams()
    assert other.stream is not None and other.stream.slot
