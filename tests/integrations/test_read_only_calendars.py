"""Calendars the user may only read at the provider: offered, synced one way into calsync, never written.

Through the Google emulator (accessRole "reader") and the real Google client library."""

from __future__ import annotations

import pytest
from django.urls import reverse

from events import services as events
from events.models import Event
from integrations.google.adapter import GoogleSide
from integrations.google.client import GoogleApi, user_credentials_from
from integrations.models import Integration
from sync.models import SyncRun
from tests.previews import confirm_first_sync
from tests.sync.items import event

from .test_google import sign_in, sync_now

pytestmark = pytest.mark.django_db

EMAIL = "ann.reader@example.com"
OWNER = "holidays.owner@example.com"


def holidays_of(google, email: str) -> str:  # type: ignore[no-untyped-def]
    """The emulator gives every account a "Holidays" calendar it may only read."""
    return next(c for c in google.state.accounts[email] if c.startswith("holidays-"))


def owners_side(google, calendar_id: str) -> GoogleSide:  # type: ignore[no-untyped-def]
    """The calendar as its owner (who may write it) sees it in Google Calendar."""
    google.state.add_calendar(OWNER, calendar_id, "Holidays", "UTC", role="owner")
    return GoogleSide(
        GoogleApi(user_credentials_from(google.state.authorize(OWNER, "calsync-test"))), calendar_id, "UTC"
    )


def test_a_read_only_google_calendar_syncs_into_calsync_only(member_client, member, calendar, google,
                                                             run_on_commit) -> None:  # fmt: skip
    choose = sign_in(member_client, google, EMAIL)
    holidays = holidays_of(google, EMAIL)
    owner = owners_side(google, holidays)
    owner.create(event("new-year@x", "New Year"))
    page = member_client.get(choose["Location"]).content.decode()
    assert "Holidays (read only: syncs into calsync only)" in page
    form = {"remote": holidays, "calendar": calendar.pk, "sync_enabled": "on", "direction": "both",
            "primary": "calsync", "automatic": "true", "error_email": member.email}  # fmt: skip
    with run_on_commit():
        done = member_client.post(reverse("integrations:google_choose"), form)
    assert done.status_code == 302, done.content.decode()[:2000]
    integration = Integration.objects.get(provider="google", remote_calendar_id=holidays)
    integration = confirm_first_sync(member_client, integration, run_on_commit)
    # Asked for both ways, it syncs into calsync only, and its page says so with the direction fixed.
    assert integration.remote_read_only and integration.direction == Integration.Direction.TO_CALSYNC
    assert integration.runs.get().status == SyncRun.Status.SUCCESS
    copy = Event.objects.get(calendar=calendar, uid="new-year@x")
    assert copy.title == "New Year"
    detail = member_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert 'data-testid="direction-fixed"' in detail and "read only: syncs into calsync only" in detail
    resaved = member_client.post(reverse("integrations:detail", args=[integration.pk]), {
        "calendar": calendar.pk, "sync_enabled": "on", "direction": "both", "primary": "calsync",
        "automatic": "true", "error_email": member.email})  # fmt: skip
    assert resaved.status_code == 302
    integration.refresh_from_db()
    assert integration.direction == Integration.Direction.TO_CALSYNC

    # Edits in calsync are not written to the read-only calendar: the copy is restored from it, and an event
    # made in calsync stays in calsync.
    events.item_save(calendar=calendar, item=event("new-year@x", "Edited in calsync"))
    events.item_save(calendar=calendar, item=event("mine@x", "Made in calsync"))
    run = sync_now(integration, run_on_commit)
    assert run.status == SyncRun.Status.SUCCESS, run.error
    assert run.to_remote == {"created": 0, "updated": 0, "deleted": 0}
    at_google = owner.changes(None).changed
    assert [(e.item.master.uid, e.item.master.summary) for e in at_google] == [("new-year@x", "New Year")]
    assert Event.objects.get(calendar=calendar, uid="new-year@x").title == "New Year"
    assert Event.objects.filter(calendar=calendar, uid="mine@x").exists()


def test_a_microsoft_calendar_without_edit_rights_connects_one_way(member_client, calendar, microsoft,
                                                                    run_on_commit) -> None:  # fmt: skip
    from .test_microsoft import connect

    integration = connect(member_client, microsoft, "reader@contoso.example", calendar, run_on_commit,
                          remote_name="Holidays")  # fmt: skip
    assert integration.remote_read_only and integration.direction == Integration.Direction.TO_CALSYNC
    run = integration.runs.get()
    assert run.status == SyncRun.Status.SUCCESS, run.error
    assert run.to_remote == {"created": 0, "updated": 0, "deleted": 0}


def test_a_writable_calendar_is_not_marked_read_only(member_client, calendar, microsoft, run_on_commit) -> None:
    from .test_microsoft import connect

    integration = connect(member_client, microsoft, "writer@contoso.example", calendar, run_on_commit)
    assert not integration.remote_read_only and integration.direction == Integration.Direction.BOTH
