"""EWS notifications in the Exchange emulator, through exchangelib as calsync's listener uses it: streaming
subscriptions whose events arrive on an open connection with heartbeats until it closes, pull subscriptions read
by watermark, Unsubscribe, and subscriptions the server no longer knows."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from exchangelib import errors as ews
from exchangelib.folders import Calendar, Root

from integrations.exchange.client import account
from integrations.exchange.subscriptions import (
    Lost,
    Refused,
    Target,
    pulled,
    streamed,
    subscribe_pull,
    subscribe_streaming,
    unsubscribe,
)

START = dt.datetime(2026, 12, 10, 9, tzinfo=dt.UTC)


@pytest.fixture
def notifications(exchange):  # type: ignore[no-untyped-def]
    """Short minutes and heartbeats; the emulator's switches back to Exchange's after the test."""
    switches = exchange.state.notifications
    switches.configure({"minute_seconds": 1, "heartbeat_seconds": 0.3})
    yield switches
    switches.configure({"refuse_streaming": 0, "refuse_pull": 0, "minute_seconds": 60, "heartbeat_seconds": 45})


@pytest.fixture
def target(exchange_mailbox):  # type: ignore[no-untyped-def]
    address, server = exchange_mailbox
    ews_account = account(server, address, gated=False)
    folder = Calendar.get_distinguished(root=Root(account=ews_account))
    return Target(0, "login", folder)


def _create(exchange, target, subject: str) -> str:  # type: ignore[no-untyped-def]
    address = str(target.folder.account.primary_smtp_address)
    fields = {"subject": subject, "start": START, "end": START + dt.timedelta(hours=1)}
    return exchange.state.create(address.lower(), None, fields)["id"]  # type: ignore[no-any-return]


def test_a_streaming_subscription_delivers_changes_on_the_open_connection_with_heartbeats_until_closed(
    exchange, notifications, target
) -> None:  # type: ignore[no-untyped-def]
    sub_id = subscribe_streaming(target)
    created = threading.Timer(0.5, lambda: _create(exchange, target, "Streamed"))
    created.start()
    began = time.monotonic()
    messages = list(streamed(target, [sub_id], 1))  # ConnectionTimeout: 1 "minute" (a second here)
    assert time.monotonic() - began >= 1  # held open until the timeout, then Closed
    assert [sub_id] in messages  # the change arrived while the connection was open
    assert messages.count([]) >= 2  # heartbeats while nothing happened, and the closing message
    # Nothing queued twice: a second connection hears only what happens next.
    assert [m for m in streamed(target, [sub_id], 1) if m] == []


def test_events_made_while_no_connection_is_open_wait_for_the_next_one(exchange, notifications, target) -> None:  # type: ignore[no-untyped-def]
    sub_id = subscribe_streaming(target)
    _create(exchange, target, "While away")
    assert next(m for m in streamed(target, [sub_id], 1) if m) == [sub_id]


def test_a_pull_subscription_is_read_by_watermark(exchange, notifications, target) -> None:  # type: ignore[no-untyped-def]
    sub_id, watermark = subscribe_pull(target, 5)
    assert pulled(target, sub_id, watermark) == (False, watermark)  # a StatusEvent: nothing happened
    _create(exchange, target, "Pulled")
    changed, after = pulled(target, sub_id, watermark)
    assert changed and after != watermark
    assert pulled(target, sub_id, after) == (False, after)  # read once, acknowledged by the new watermark


def test_unknown_unsubscribed_and_expired_subscriptions_are_not_found(exchange, notifications, target) -> None:  # type: ignore[no-untyped-def]
    streaming = subscribe_streaming(target)
    unsubscribe(target, "ews-stream:" + streaming)
    with pytest.raises(Lost) as lost:
        list(streamed(target, [streaming], 1))
    assert lost.value.ids == [streaming]
    sub_id, watermark = subscribe_pull(target, 1)  # lapses after one unread "minute"
    time.sleep(1.2)
    with pytest.raises(Lost):
        pulled(target, sub_id, watermark)
    with pytest.raises(ews.ErrorSubscriptionNotFound):
        target.folder.unsubscribe(sub_id)


def test_a_server_that_refuses_streaming_still_offers_pull(exchange, notifications, target) -> None:  # type: ignore[no-untyped-def]
    notifications.configure({"refuse_streaming": 1})
    with pytest.raises(Refused):
        subscribe_streaming(target)
    sub_id, _ = subscribe_pull(target, 5)
    assert sub_id


def test_forgotten_subscriptions_drop_the_open_connection(exchange, notifications, target) -> None:  # type: ignore[no-untyped-def]
    notifications.configure({"minute_seconds": 60})  # the connection would stay open a minute
    sub_id = subscribe_streaming(target)
    threading.Timer(0.4, lambda: notifications.configure({"forget": 1})).start()
    began = time.monotonic()
    list(streamed(target, [sub_id], 1))
    assert time.monotonic() - began < 50  # dropped long before its timeout
    with pytest.raises(Lost):
        list(streamed(target, [sub_id], 1))
