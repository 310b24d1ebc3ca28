"""The Graph emulator's change notifications keep Microsoft's documented promises: the validation handshake,
the Outlook event subscription's maximum lifetime, change and lifecycle notifications, renewal and deletion.
https://learn.microsoft.com/graph/change-notifications-delivery-webhooks
https://learn.microsoft.com/graph/change-notifications-lifecycle-events"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import wait_until

PLANNING = {"subject": "Planning", "start": {"dateTime": "2026-11-23T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-23T10:00:00", "timeZone": "UTC"}}  # fmt: skip


class Receiver:
    """A webhook endpoint on loopback: echoes validation tokens (or refuses to, when `echo` is off) and keeps
    every notification document it gets."""

    def __init__(self) -> None:
        self.echo, self.documents, self.tokens = True, [], []  # type: ignore[var-annotated]
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = parse_qs(urlsplit(self.path).query).get("validationToken")
                if token:
                    receiver.tokens.append(token[0])
                    answer, kind = (token[0] if receiver.echo else "no").encode(), "text/plain"
                else:
                    receiver.documents.append(json.loads(body))
                    answer, kind = b"", "text/plain"
                self.send_response(200 if token else 202)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    found = Receiver()
    yield found
    found.server.shutdown()


@pytest.fixture
def mailbox(graph, microsoft, microsoft_mailbox):  # type: ignore[no-untyped-def]
    """(session, Graph base URL, the default calendar's id, the mailbox)."""
    box = microsoft.state.mailboxes[microsoft_mailbox[0]]
    return graph[0], f"{microsoft.base_url}/v1.0", box.calendars[0], box


def _when(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _subscribe(session, base: str, calendar: str, url: str, minutes: float = 60, **more: str):  # type: ignore[no-untyped-def]
    body = {"changeType": "created,updated,deleted", "notificationUrl": url, "lifecycleNotificationUrl": url,
            "resource": f"me/calendars/{calendar}/events", "expirationDateTime": _when(minutes),
            "clientState": "secret-state", **more}  # fmt: skip
    return session.post(f"{base}/subscriptions", json=body, timeout=15)


def test_creation_needs_the_endpoint_to_echo_the_validation_token(mailbox, receiver) -> None:  # type: ignore[no-untyped-def]
    session, base, calendar, _box = mailbox
    receiver.echo = False
    refused = _subscribe(session, base, calendar, receiver.url)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "ValidationError"
    assert receiver.tokens  # it was asked
    receiver.echo = True
    made = _subscribe(session, base, calendar, receiver.url)
    assert made.status_code == 201, made.text
    assert made.json()["clientState"] == "secret-state" and made.json()["resource"].endswith("/events")
    public = _subscribe(session, base, calendar, "http://calsync.example/hook")  # plain http off loopback
    assert public.status_code == 400


def test_an_event_subscription_lives_at_most_10080_minutes_and_patch_renews_it(mailbox, receiver) -> None:  # type: ignore[no-untyped-def]
    session, base, calendar, _box = mailbox
    assert _subscribe(session, base, calendar, receiver.url, minutes=10081).status_code == 400
    assert _subscribe(session, base, calendar, receiver.url, minutes=-1).status_code == 400
    made = _subscribe(session, base, calendar, receiver.url, minutes=10079).json()
    renewed = session.patch(f"{base}/subscriptions/{made['id']}", json={"expirationDateTime": _when(10000)},
                            timeout=10)  # fmt: skip
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"] < made["expirationDateTime"]
    assert session.post(f"{base}/subscriptions/{made['id']}/reauthorize", timeout=10).status_code == 200
    assert session.delete(f"{base}/subscriptions/{made['id']}", timeout=10).status_code == 204
    assert session.get(f"{base}/subscriptions/{made['id']}", timeout=10).status_code == 404


def test_a_change_is_notified_with_the_documented_shape(mailbox, receiver, microsoft) -> None:  # type: ignore[no-untyped-def]
    session, base, calendar, box = mailbox
    made = _subscribe(session, base, calendar, receiver.url).json()
    other = box.calendars[1]  # a change elsewhere in the mailbox is not this subscription's
    session.post(f"{base}/me/calendars/{other}/events", json=PLANNING, timeout=10)
    event = session.post(f"{base}/me/calendars/{calendar}/events", json=PLANNING, timeout=10).json()
    wait_until(lambda: len(receiver.documents) >= 1, None, "a notification")
    session.delete(f"{base}/me/events/{event['id']}", timeout=10)
    wait_until(lambda: len(receiver.documents) >= 2, None, "the deletion's notification")
    first, second = (d["value"][0] for d in receiver.documents)
    assert first["subscriptionId"] == made["id"] and first["changeType"] == "created"
    assert first["clientState"] == "secret-state" and first["tenantId"] == box.tenant
    assert first["resourceData"]["id"] == event["id"] and first["resource"].endswith(f"/Events/{event['id']}")
    assert second["changeType"] == "deleted"


def test_an_expired_subscription_notifies_nothing_and_is_gone(mailbox, receiver, microsoft) -> None:  # type: ignore[no-untyped-def]
    session, base, calendar, _box = mailbox
    made = _subscribe(session, base, calendar, receiver.url).json()
    session.post(f"{microsoft.base_url}/_emulator/subscriptions/{made['id']}/expire", timeout=10)
    session.post(f"{base}/me/calendars/{calendar}/events", json=PLANNING, timeout=10)
    assert session.get(f"{base}/subscriptions/{made['id']}", timeout=10).status_code == 404
    assert receiver.documents == []


def test_lifecycle_notifications_and_a_removed_subscription(mailbox, receiver, microsoft) -> None:  # type: ignore[no-untyped-def]
    session, base, calendar, box = mailbox
    made = _subscribe(session, base, calendar, receiver.url).json()
    control = f"{microsoft.base_url}/_emulator/subscriptions/{made['id']}/lifecycle"
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        assert session.post(control, json={"lifecycleEvent": event, "event": event}, timeout=10).status_code == 202
    wait_until(lambda: len(receiver.documents) == 3, None, "three lifecycle notifications")
    events = sorted(d["value"][0]["lifecycleEvent"] for d in receiver.documents)
    assert events == ["missed", "reauthorizationRequired", "subscriptionRemoved"]
    assert all(d["value"][0]["tenantId"] == box.tenant for d in receiver.documents)
    assert session.get(f"{base}/subscriptions/{made['id']}", timeout=10).status_code == 404


def test_another_app_cannot_read_or_delete_the_subscription(mailbox, receiver, microsoft, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    session, base, calendar, box = mailbox
    made = _subscribe(session, base, calendar, receiver.url).json()
    microsoft.state.apps["other-app"] = "other-secret"
    stranger = microsoft.state.authorize(box.upn, "other-app")["access_token"]
    headers = {"Authorization": f"Bearer {stranger}"}
    assert session.delete(f"{base}/subscriptions/{made['id']}", headers=headers, timeout=10).status_code == 404
    assert session.get(f"{base}/subscriptions/{made['id']}", timeout=10).status_code == 200


def test_the_sandbox_page_lists_subscriptions_and_sends_lifecycle_events(mailbox, receiver, microsoft) -> None:  # type: ignore[no-untyped-def]
    session, base, calendar, box = mailbox
    made = _subscribe(session, base, calendar, receiver.url).json()
    page = session.get(f"{microsoft.base_url}/sandbox", params={"mailbox": box.upn}, timeout=10).text
    assert made["id"] in page and "subscriptionRemoved" in page
    form = {"mailbox": box.upn, "calendar": calendar, "subscription": made["id"], "event": "missed"}
    sent = session.post(f"{microsoft.base_url}/sandbox/subscriptions/lifecycle", data=form, allow_redirects=False,
                        timeout=10)  # fmt: skip
    assert sent.status_code == 302
    wait_until(lambda: len(receiver.documents) == 1, None, "the lifecycle notification")
    assert receiver.documents[0]["value"][0]["lifecycleEvent"] == "missed"


def test_an_expiry_under_45_minutes_is_raised_to_45(mailbox, receiver) -> None:  # type: ignore[no-untyped-def]
    session, base, calendar, _box = mailbox
    made = _subscribe(session, base, calendar, receiver.url, minutes=5)
    assert made.status_code == 201 and made.json()["expirationDateTime"] >= _when(44.9)
    renewed = session.patch(f"{base}/subscriptions/{made.json()['id']}", json={"expirationDateTime": _when(1)},
                            timeout=10)  # fmt: skip
    assert renewed.json()["expirationDateTime"] >= _when(44.9)


def test_a_lost_change_is_followed_by_missed(mailbox, receiver, microsoft) -> None:  # type: ignore[no-untyped-def]
    session, base, calendar, _box = mailbox
    made = _subscribe(session, base, calendar, receiver.url).json()
    microsoft.state.subscriptions.drop = 1
    session.post(f"{base}/me/calendars/{calendar}/events", json=PLANNING, timeout=10)
    wait_until(lambda: len(receiver.documents) == 1, None, "the missed notification")
    item = receiver.documents[0]["value"][0]
    assert item["lifecycleEvent"] == "missed" and item["subscriptionId"] == made["id"] and "changeType" not in item


def test_a_subscription_needing_reauthorization_is_silent_until_reauthorized(mailbox, receiver, microsoft) -> None:  # type: ignore[no-untyped-def]
    session, base, calendar, _box = mailbox
    made = _subscribe(session, base, calendar, receiver.url).json()
    control = f"{microsoft.base_url}/_emulator/subscriptions/{made['id']}/lifecycle"
    session.post(control, json={"event": "reauthorizationRequired"}, timeout=10)
    wait_until(lambda: len(receiver.documents) == 1, None, "the reauthorizationRequired notification")
    session.post(f"{base}/me/calendars/{calendar}/events", json=PLANNING, timeout=10)  # not notified
    assert session.post(f"{base}/subscriptions/{made['id']}/reauthorize", timeout=10).status_code == 200
    after = session.post(f"{base}/me/calendars/{calendar}/events", json={**PLANNING, "subject": "After"}, timeout=10)
    wait_until(lambda: len(receiver.documents) >= 2, None, "the change after reauthorizing")
    notified = [d["value"][0].get("resourceData", {}).get("id") for d in receiver.documents[1:]]
    assert notified == [after.json()["id"]]  # the change made while it needed reauthorization never came
