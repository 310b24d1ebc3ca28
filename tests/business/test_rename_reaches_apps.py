"""A renamed client reaches every copy of its events: calendar apps reading calsync's CalDAV server fetch the new
name (the item's ETag changed), and a provider's copy receives it at the next sync."""

from __future__ import annotations

import base64

import pytest

from business.services import entry_rename
from dav.resources import calendar_href
from dav.services import app_password_create
from events import services as events
from events.models import Event
from tests.integrations.test_google import connect, sync_now
from tests.integrations.test_google_fidelity import _google_event
from tests.sync.items import event

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_backoff_sleep(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda seconds: None)


def _caldav_get(client, member, calendar, master: Event):  # type: ignore[no-untyped-def]
    password = app_password_create(user=member, label="iPhone")
    token = base64.b64encode(f"{password.username}:{password.secret}".encode()).decode()
    return client.get(calendar_href(member, calendar) + master.name, HTTP_AUTHORIZATION=f"Basic {token}")


def test_a_calendar_app_fetches_the_new_name_under_a_new_etag(client, member, calendar, run_on_commit):
    master = events.item_save(calendar=calendar, item=event("visit@x", "Site visit", client="Initech")).event
    before = _caldav_get(client, member, calendar, master)
    assert before.status_code == 200 and "X-CALSYNC-CLIENT:Initech\r\n" in before.content.decode()

    with run_on_commit():
        entry_rename(entry=master.client_ref, name="Initech Ltd")

    after = _caldav_get(client, member, calendar, master)
    assert "X-CALSYNC-CLIENT:Initech Ltd\r\n" in after.content.decode()
    assert after["ETag"] != before["ETag"]
    # A client holding the old ETag is told the item changed.
    stale = client.get(
        calendar_href(member, calendar) + master.name,
        HTTP_AUTHORIZATION=before.request["HTTP_AUTHORIZATION"],
        HTTP_IF_NONE_MATCH=before["ETag"],
    )
    assert stale.status_code == 200


def test_the_google_copy_receives_the_new_name_at_the_next_sync(member_client, calendar, google, run_on_commit):
    email = "rename@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    tagged = event("audit@x", "Audit", client="Initech", project="Books", activity_type="Review")
    master = events.item_save(calendar=calendar, item=tagged).event
    assert sync_now(integration, run_on_commit).status == "success"
    assert _google_event(google, email, "audit@x")["extendedProperties"]["private"]["calsyncClient"] == "Initech"

    with run_on_commit():
        entry_rename(entry=master.project_ref, name="Annual books")
        entry_rename(entry=master.client_ref, name="Initech Ltd")
    assert sync_now(integration, run_on_commit).status == "success"

    private = _google_event(google, email, "audit@x")["extendedProperties"]["private"]
    assert (private["calsyncClient"], private["calsyncProject"], private["calsyncActivity"]) == (
        "Initech Ltd", "Annual books", "Review")  # fmt: skip
    # The sync back leaves it as it is, still linked to the same entries.
    assert sync_now(integration, run_on_commit).status == "success"
    row = Event.objects.get(pk=master.pk)
    assert (row.client, row.project, row.client_ref_id, row.project_ref_id) == (
        "Initech Ltd", "Annual books", master.client_ref_id, master.project_ref_id)  # fmt: skip
