"""The pages around the CalDAV server: app passwords in settings, and each calendar's ICS subscription feed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from dav.models import AppPassword
from dav.services import app_password_create
from events.ical import parse_calendar, parse_item
from events.models import Calendar
from events.services import item_save
from tests.factories import UserFactory

from .conftest import Dav, vevent


def test_settings_page_offers_caldav(member_client, member) -> None:
    page = member_client.get(reverse("settings")).content.decode()
    assert f"/caldav/principals/{member.email}/" in page and reverse("dav:app_passwords") in page


def test_generate_shows_the_password_once_and_it_works(member_client, member, client) -> None:
    response = member_client.post(reverse("dav:app_passwords"), {"label": "iPhone"})
    page = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    stored = AppPassword.objects.get(user=member)
    secret = page.split('data-testid="password" class="secret">')[1].split("<")[0]
    assert stored.label == "iPhone" and secret.startswith(stored.hint)
    assert f'data-testid="server-url">http://127.0.0.1:8000/caldav/principals/{member.email}/<' in page
    # Shown once: the list afterwards names it but never shows it again.
    listing = member_client.get(reverse("dav:app_passwords")).content.decode()
    assert "iPhone" in listing and secret not in listing
    assert Dav(client, member.email, secret).propfind("/caldav/").status_code == 207


def test_generate_without_a_name_is_a_clear_error(member_client) -> None:
    response = member_client.post(reverse("dav:app_passwords"), {"label": "  "})
    assert response.status_code == 400 and "Give the password a name" in response.content.decode()
    assert not AppPassword.objects.exists()


def test_users_without_the_right_cannot_generate(client, tenant) -> None:
    limited = UserFactory(tenant=tenant, can_setup_integrations=False)
    client.force_login(limited)
    assert "do not have the right" in client.get(reverse("dav:app_passwords")).content.decode()
    response = client.post(reverse("dav:app_passwords"), {"label": "iPhone"})
    assert response.status_code == 400 and not AppPassword.objects.exists()


def test_revoke_own_only(member_client, member, admin_user, caplog) -> None:  # type: ignore[no-untyped-def]
    mine = app_password_create(user=member, label="Mac").app_password
    theirs = app_password_create(user=admin_user, label="Theirs").app_password
    assert member_client.post(reverse("dav:app_password_revoke", args=[theirs.pk])).status_code == 404
    mine_pk = mine.pk
    with caplog.at_level("INFO", logger="dav.services"):
        assert member_client.post(reverse("dav:app_password_revoke", args=[mine.pk])).status_code == 302
    assert list(AppPassword.objects.values_list("label", flat=True)) == ["Theirs"]
    # Operators can tell from the log whose password went, and which one.
    [revoked] = [r for r in caplog.records if r.getMessage() == "app password revoked"]
    assert (revoked.user, revoked.app_password) == (member.pk, mine_pk)  # type: ignore[attr-defined]


# --- feed ---------------------------------------------------------------------------------------


@pytest.fixture
def feed_calendar(calendar):  # type: ignore[no-untyped-def]
    item_save(calendar=calendar, item=parse_item(vevent("public", summary="Team lunch", start="20261102T120000Z",
                                                        end="20261102T130000Z")))  # fmt: skip
    private = vevent("private", "CLASS:PRIVATE", "DESCRIPTION:Doctor about the knee", "LOCATION:Clinic",
                     summary="Doctor", start="20261103T080000Z", end="20261103T090000Z")  # fmt: skip
    item_save(calendar=calendar, item=parse_item(private))
    return calendar


def test_feed_serves_the_calendar_with_private_events_as_busy(client, feed_calendar) -> None:
    response = client.get(reverse("dav:feed", args=[feed_calendar.feed_token]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    items = {item.uid: item.master for item in parse_calendar(response.content)}
    assert items["public"].summary == "Team lunch"
    assert items["private"].summary == "Busy" and not items["private"].description and not items["private"].location
    assert items["private"].start is not None  # the time stays: subscribers see you are busy
    assert "knee" not in response.content.decode() and "Clinic" not in response.content.decode()


def test_feed_conditional_get(client, feed_calendar) -> None:
    url = reverse("dav:feed", args=[feed_calendar.feed_token])
    first = client.get(url)
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    item_save(calendar=feed_calendar, item=parse_item(vevent("new", summary="New")))
    changed = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"] and b"SUMMARY:New" in changed.content
    # Same version, same bytes: DTSTAMP is when the calendar last changed, not when the feed was read.
    Calendar.objects.filter(pk=feed_calendar.pk).update(changed_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    again = client.get(url).content
    assert b"DTSTAMP:20260102T030405Z" in again and client.get(url).content == again


def test_rotating_the_link_revokes_the_old_one(member_client, feed_calendar, client) -> None:
    old = reverse("dav:feed", args=[feed_calendar.feed_token])
    edit = member_client.get(reverse("events:calendar_edit", args=[feed_calendar.pk])).content.decode()
    assert old in edit and "Copy subscription link" in edit
    member_client.post(reverse("events:calendar_feed_rotate", args=[feed_calendar.pk]))
    feed_calendar.refresh_from_db()
    assert client.get(old).status_code == 404
    assert client.get(reverse("dav:feed", args=[feed_calendar.feed_token])).status_code == 200


def test_only_the_owner_can_rotate(client, admin_user, feed_calendar) -> None:
    client.force_login(admin_user)
    token = feed_calendar.feed_token
    assert client.post(reverse("events:calendar_feed_rotate", args=[feed_calendar.pk])).status_code == 404
    feed_calendar.refresh_from_db()
    assert feed_calendar.feed_token == token
