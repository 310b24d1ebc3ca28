"""WebDAV-Push on calsync's CalDAV server (draft-bitfire-webdav-push): advertised on calendars, registrations with
location and expiry, one encrypted push message per burst of changes to a real local push resource, deletion,
expiry and pruning, and the outbound address guard in front of every push resource."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from defusedxml.ElementTree import fromstring
from django.core.cache import cache
from django.utils import timezone
from django.utils.http import http_date

from dav import push, webpush
from dav.models import PushRegistration
from dav.resources import calendar_href, sync_token
from dav.services import app_password_create
from dav.tasks import prune_push_registrations
from dav.webpush import b64url
from events import services as events
from events.models import Calendar
from integrations.models import Integration
from sync import services as sync
from tests.factories import CalendarFactory, UserFactory
from tests.sync.items import event

from .conftest import Dav, vevent
from .push_receiver import EndlessAnswer, PushReceiver

pytestmark = pytest.mark.django_db
P = "{https://bitfire.at/webdav-push}"


@pytest.fixture
def receiver(settings):  # type: ignore[no-untyped-def]
    settings.DAV_PUSH_ALLOW_PRIVATE_ADDRESSES = True  # the receiver listens on loopback
    with PushReceiver() as running:
        yield running


def register(dav: Dav, calendar: Calendar, receiver: PushReceiver, **kw: object):  # type: ignore[no-untyped-def]
    return dav.request("POST", calendar_href(calendar.owner, calendar), receiver.register_body(**kw))  # type: ignore[arg-type]


def subscription(receiver: PushReceiver, *, url: str = "", key: str = "") -> push.Subscription:
    return push.Subscription(url or receiver.url, key or b64url(receiver.public), b64url(receiver.secret))


def pushed(receiver: PushReceiver) -> list[tuple[str, str]]:
    """(topic, sync-token) of every message received, decrypted."""
    found = []
    for message in receiver.received:
        root = fromstring(receiver.decrypt(message.body))
        assert root.tag == f"{P}push-message"
        found.append((root.findtext(f"{P}topic"), root.findtext(f"{P}content-update/{{DAV:}}sync-token")))
    return found


def settle(calendar: Calendar) -> None:
    """The coalescing window over: the next change sends a message of its own."""
    cache.delete(f"dav:push-due:{calendar.pk}")


def test_calendars_advertise_webdav_push(dav, member, calendar) -> None:  # type: ignore[no-untyped-def]
    assert "webdav-push" in dav.request("OPTIONS", "/caldav/")["DAV"]
    body = ('<propfind xmlns="DAV:" xmlns:P="https://bitfire.at/webdav-push"><prop><P:transports/><P:topic/>'
            "<P:supported-triggers/></prop></propfind>")  # fmt: skip
    root = fromstring(dav.body(dav.propfind(calendar_href(member, calendar), body)))
    prop = root.find("{DAV:}response/{DAV:}propstat/{DAV:}prop")
    assert prop.find(f"{P}transports/{P}web-push") is not None
    assert prop.findtext(f"{P}topic") == push.topic(calendar.pk) and len(push.topic(calendar.pk)) == 22
    assert prop.findtext(f"{P}supported-triggers/{P}content-update/{{DAV:}}sync-level") == "1"


def test_a_registration_answers_with_its_location_and_expiry_and_renews_in_place(  # type: ignore[no-untyped-def]
    dav, calendar, receiver
) -> None:
    answer = register(dav, calendar, receiver)
    assert answer.status_code == 204, dav.body(answer)
    registration = PushRegistration.objects.get()
    assert answer["Location"] == f"/caldav/push-registrations/{registration.key}"
    assert answer["Expires"] == http_date(registration.expires_at.timestamp())
    assert timedelta(days=6, hours=23) < registration.expires_at - timezone.now() <= timedelta(days=7)
    sooner = http_date((timezone.now() + timedelta(days=3)).timestamp())
    again = register(dav, calendar, receiver, expires=sooner)
    assert again["Location"] == answer["Location"] and again["Expires"] == sooner
    assert PushRegistration.objects.count() == 1


@pytest.mark.parametrize(
    ("kw", "condition"),
    [({"key": "bm90IGEga2V5"}, "invalid-subscription"), ({"trigger": False}, "no-supported-trigger"),
     ({"url": "ftp://127.0.0.1/x"}, "invalid-subscription")],
)  # fmt: skip
def test_unusable_registrations_are_refused_with_the_drafts_conditions(dav, calendar, receiver, kw, condition) -> None:  # type: ignore[no-untyped-def]
    answer = register(dav, calendar, receiver, **kw)
    assert answer.status_code == 403 and f"P:{condition}" in dav.body(answer)
    assert not PushRegistration.objects.exists()


def test_a_change_sends_one_encrypted_message_with_the_topic_and_new_sync_token(  # type: ignore[no-untyped-def]
    dav, member, calendar, receiver, run_on_commit
) -> None:
    register(dav, calendar, receiver)
    with run_on_commit():
        dav.put(calendar_href(member, calendar) + "a.ics", vevent("a@x"))
    calendar.refresh_from_db()
    assert pushed(receiver) == [(push.topic(calendar.pk), sync_token(calendar))]
    headers = receiver.received[0].headers
    assert headers["content-encoding"] == "aes128gcm" and int(headers["ttl"]) > 0
    assert headers["topic"] == push.topic(calendar.pk)


def test_a_burst_of_changes_and_a_large_sync_each_send_one_message(  # type: ignore[no-untyped-def]
    dav, member, calendar, receiver, run_on_commit, settings
) -> None:
    settings.DAV_PUSH_DELAY_SECONDS = 600  # the burst is inside one window however slow this machine is
    register(dav, calendar, receiver)
    for i in range(20):
        with run_on_commit():
            events.item_save(calendar=calendar, item=event(f"burst{i}@x", f"Burst {i}"))
    assert len(receiver.received) == 1
    settle(calendar)
    source = CalendarFactory(owner=member, name="Source")
    for i in range(60):
        events.item_save(calendar=source, item=event(f"sync{i}@x", f"Synced {i}"))
    settle(calendar)  # the writes to the source calendar are not this calendar's
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="calsync", calendar=calendar,
                                             remote_calendar_id=str(source.pk))  # fmt: skip
    with run_on_commit():
        sync.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    assert calendar.events.filter(uid__startswith="sync").count() == 60
    calendar.refresh_from_db()
    assert len(receiver.received) == 2 and pushed(receiver)[-1][1] == sync_token(calendar)


def test_a_deleted_registration_is_not_pushed_and_cannot_be_deleted_twice(  # type: ignore[no-untyped-def]
    dav, member, calendar, receiver, client, run_on_commit
) -> None:
    location = register(dav, calendar, receiver)["Location"]
    someone = UserFactory(tenant=member.tenant, email="else@acme.test")
    other = Dav(client, someone.email, app_password_create(user=someone, label="x").secret)
    assert other.request("DELETE", location).status_code == 404  # not theirs
    assert dav.request("GET", location).status_code == 405
    assert dav.request("DELETE", location).status_code == 204
    assert dav.request("DELETE", location).status_code == 404
    with run_on_commit():
        events.item_save(calendar=calendar, item=event("after@x"))
    assert receiver.received == []


def test_expired_registrations_are_not_pushed_and_are_pruned(  # type: ignore[no-untyped-def]
    dav, calendar, receiver, run_on_commit, settings
) -> None:
    register(dav, calendar, receiver)
    PushRegistration.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with run_on_commit():
        events.item_save(calendar=calendar, item=event("late@x"))
    assert receiver.received == []
    assert push.registrations_prune() == 1 and not PushRegistration.objects.exists()
    assert settings.CELERY_BEAT_SCHEDULE["prune-push-registrations"]["task"] == prune_push_registrations.name


def test_a_push_service_saying_gone_ends_the_registration(dav, calendar, receiver, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    register(dav, calendar, receiver)
    receiver.status = 410
    with run_on_commit():
        events.item_save(calendar=calendar, item=event("gone@x"))
    assert len(receiver.received) == 1 and not PushRegistration.objects.exists()


def test_push_resources_inside_calsyncs_network_are_refused_and_never_posted_to(  # type: ignore[no-untyped-def]
    dav, calendar, receiver, settings, run_on_commit
) -> None:
    register(dav, calendar, receiver)  # allowed while private addresses are (development)
    settings.DAV_PUSH_ALLOW_PRIVATE_ADDRESSES, settings.OUTBOUND_ALLOWED_NETWORKS = False, []
    answer = register(dav, calendar, receiver, url="http://169.254.169.254/latest/")
    assert answer.status_code == 403 and "P:invalid-subscription" in dav.body(answer)
    with run_on_commit():
        events.item_save(calendar=calendar, item=event("guarded@x"))
    assert receiver.received == []  # the guard refused the loopback address at connect time
    assert PushRegistration.objects.count() == 1  # refused by us, not gone: kept for when it is allowed again


def test_pruning_tells_an_emptied_cache_which_calendars_have_registrations(  # type: ignore[no-untyped-def]
    dav, calendar, receiver, run_on_commit
) -> None:
    register(dav, calendar, receiver)
    cache.clear()  # a restarted cache: changes are not pushed until it knows again
    with run_on_commit():
        events.item_save(calendar=calendar, item=event("lost@x"))
    assert receiver.received == []
    assert push.registrations_prune() == 0
    with run_on_commit():
        events.item_save(calendar=calendar, item=event("found@x"))
    assert len(receiver.received) == 1


def test_caldav_servers_on_private_addresses_do_not_open_push_to_them(  # type: ignore[no-untyped-def]
    dav, calendar, receiver, settings, run_on_commit
) -> None:
    register(dav, calendar, receiver)
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES, settings.DAV_PUSH_ALLOW_PRIVATE_ADDRESSES = True, False
    answer = register(dav, calendar, receiver, url="http://127.0.0.1:9/push")
    assert answer.status_code == 403 and "P:invalid-subscription" in dav.body(answer)
    with run_on_commit():
        events.item_save(calendar=calendar, item=event("private@x"))
    assert receiver.received == []


@pytest.mark.parametrize(
    "url",
    ["https://[::1", "https://example.com:99999/x", "https://user:secret@example.com/x",
     "https://example.com/" + "a" * 2100],
)  # fmt: skip
def test_a_malformed_or_overlong_push_resource_is_a_bad_request(dav, calendar, receiver, url) -> None:  # type: ignore[no-untyped-def]
    answer = register(dav, calendar, receiver, url=url)
    assert answer.status_code == 400 and "P:invalid-subscription" in dav.body(answer)
    assert not PushRegistration.objects.exists()


@pytest.mark.parametrize("field", ["key", "auth"])
@pytest.mark.parametrize("spoil", [lambda v: v + "=" * 50, lambda v: v[:10] + "!*" + v[10:], lambda v: "é" * 87])
def test_keys_with_other_characters_or_lengths_are_refused(dav, calendar, receiver, field, spoil) -> None:  # type: ignore[no-untyped-def]
    good = b64url(receiver.public) if field == "key" else b64url(receiver.secret)
    answer = register(dav, calendar, receiver, **{field: spoil(good)})
    assert answer.status_code == 403 and "P:invalid-subscription" in dav.body(answer)
    assert not PushRegistration.objects.exists()


def test_keys_are_stored_in_their_canonical_form(dav, calendar, receiver) -> None:  # type: ignore[no-untyped-def]
    padded = base64.urlsafe_b64encode(receiver.public).decode()  # with its "=": accepted, stored without
    assert register(dav, calendar, receiver, key=padded, auth=f" {b64url(receiver.secret)}==").status_code == 204
    registration = PushRegistration.objects.get()
    assert registration.client_public_key == b64url(receiver.public)
    assert registration.auth_secret == b64url(receiver.secret)


def test_another_users_registration_of_the_same_resource_is_never_changed(calendar, receiver) -> None:  # type: ignore[no-untyped-def]
    mine = push.registration_save(user=calendar.owner, calendar=calendar, subscription=subscription(receiver))
    other = UserFactory(tenant=calendar.tenant)
    theirs = ec.generate_private_key(ec.SECP256R1()).public_key()
    key = b64url(theirs.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
    with pytest.raises(push.Refused):
        push.registration_save(user=other, calendar=calendar, subscription=subscription(receiver, key=key))
    assert PushRegistration.objects.get() == mine
    assert PushRegistration.objects.get().client_public_key == b64url(receiver.public)


def test_a_push_service_answer_is_not_read(dav, calendar, receiver, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DAV_PUSH_TIMEOUT_SECONDS = 1.0
    with EndlessAnswer() as url:
        push.registration_save(user=calendar.owner, calendar=calendar,
                               subscription=subscription(receiver, url=url))  # fmt: skip
        assert push.push_send(calendar_id=calendar.pk) == 1  # accepted by its status; the body never read


def test_a_push_message_is_bounded_so_the_whole_body_fits_in_4096_bytes(receiver) -> None:  # type: ignore[no-untyped-def]
    body = webpush.encrypt(b"x" * 3993, client_public=receiver.public, secret=receiver.secret)
    assert len(body) == 4096 and receiver.decrypt(body) == b"x" * 3993
    with pytest.raises(ValueError, match="3993"):
        webpush.encrypt(b"x" * 3994, client_public=receiver.public, secret=receiver.secret)
