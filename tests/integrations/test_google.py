"""Google Calendar end to end against the project's Google emulator, through the real client libraries:
the OAuth flow, syncs through the Celery task, the organisation-wide service account, push notifications."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import niquests
import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from calsync import crypto
from events import services as events
from events.models import Event
from integrations.google import services as google_services
from integrations.google.adapter import GoogleSide
from integrations.google.client import GoogleApi, user_credentials_from
from integrations.models import GoogleWorkspace, Integration
from sync import services as sync_services
from sync.models import SyncRun
from tests.previews import confirm_first_sync
from tests.sync.items import event

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def _no_backoff_sleep(monkeypatch):  # type: ignore[no-untyped-def]
    """google-api-python-client sleeps between retries (random() * 2**n seconds); record instead of waiting."""
    slept: list[float] = []
    monkeypatch.setattr("googleapiclient.http.time.sleep", slept.append)
    return slept


def consent(google, location: str, email: str, decision: str = "allow") -> str:  # type: ignore[no-untyped-def]
    """What the user does on Google's consent page; returns where Google sends the browser back to."""
    query = {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}
    with niquests.Session() as session:
        session.trust_env = False
        answer = session.post(f"{google.base_url}/o/oauth2/approve", data={**query, "email": email,
                              "decision": decision}, allow_redirects=False, timeout=10)  # fmt: skip
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def sign_in(client, google, email: str) -> object:  # type: ignore[no-untyped-def]
    start = client.get(reverse("integrations:google_connect"))
    assert start.status_code == 302 and start["Location"].startswith(google.base_url + "/o/oauth2/auth")
    params = parse_qs(urlsplit(start["Location"]).query)
    assert params["access_type"] == ["offline"] and params["code_challenge_method"] == ["S256"]
    assert params["scope"] == ["https://www.googleapis.com/auth/calendar"]
    return client.get(consent(google, start["Location"], email))


def google_side(google, email: str) -> GoogleSide:  # type: ignore[no-untyped-def]
    """Another application writing to the same Google calendar (as the user would in Google Calendar)."""
    tokens = google.state.authorize(email, "calsync-test")
    return GoogleSide(GoogleApi(user_credentials_from(tokens)), email, "Europe/Berlin")


def connect(member_client, google, email, calendar, run_on_commit, **settings) -> Integration:  # type: ignore[no-untyped-def]
    choose = sign_in(member_client, google, email)
    assert choose.status_code == 302 and choose["Location"] == reverse("integrations:google_choose")
    form = {"remote": email, "calendar": calendar.pk, "sync_enabled": "on", "direction": "both",
            "primary": "calsync", "automatic": "true", "error_email": "alerts@acme.test", **settings}  # fmt: skip
    with run_on_commit():
        done = member_client.post(reverse("integrations:google_choose"), form)
    assert done.status_code == 302, done.content.decode()[:2000]
    integration = Integration.objects.get(provider="google", remote_calendar_id=form["remote"])
    return confirm_first_sync(member_client, integration, run_on_commit)


def sync_now(integration, run_on_commit) -> SyncRun:  # type: ignore[no-untyped-def]
    with run_on_commit():
        run = sync_services.sync_request(integration=integration, trigger="manual")
    run.refresh_from_db()
    return run


# --- connecting -------------------------------------------------------------------------------------


def test_sign_in_choose_and_first_sync(member_client, member, calendar, google, run_on_commit) -> None:
    email = "ann.google@example.com"
    events.item_save(calendar=calendar, item=event("from-calsync@x", "From calsync"))
    choose = sign_in(member_client, google, email)
    page = member_client.get(choose["Location"]).content.decode()
    # Every calendar to choose from; the read-only one is marked as syncing into calsync only.
    assert "Team" in page and "Holidays (read only: syncs into calsync only)" in page
    integration = connect(member_client, google, email, calendar, run_on_commit)
    stored = integration.credentials
    assert (
        stored["refresh_token"].startswith("1//") and stored["refresh_token"] not in integration.credentials_encrypted
    )
    assert integration.config == {"auth": "oauth", "account": email, "time_zone": "Europe/Berlin"}
    run = integration.runs.get()
    assert run.status == "success", run.error
    remote = google_side(google, email).changes(None)
    assert [e.item.master.summary for e in remote.changed] == ["From calsync"]


@pytest.mark.parametrize("problem", ["forged state", "denied", "replayed code", "no refresh token"])
def test_oauth_failures_are_clear_and_store_nothing(member_client, google, problem) -> None:
    start = member_client.get(reverse("integrations:google_connect"))
    if problem == "denied":
        back = consent(google, start["Location"], "x@example.com", decision="deny")
    elif problem == "no refresh token":
        google.state.faults["omit_refresh_token"] = True
        back = consent(google, start["Location"], "norefresh@example.com")
    else:
        back = consent(google, start["Location"], "x@example.com")
    if problem == "forged state":
        back = back.replace("state=", "state=forged")
    if problem == "replayed code":
        member_client.get(back)  # the first use succeeds
        member_client.session.pop("google_pending", None)
        member_client.get(reverse("integrations:google_connect"))  # a new flow with a new state...
        flow = member_client.session["google_oauth"]
        back = back.split("state=")[0] + f"state={flow['state']}"  # ... but the old, used code
    answer = member_client.get(back, follow=True)
    text = " ".join(m.message for m in answer.context["messages"])
    expected = {
        "forged state": "did not start here",
        "denied": "did not allow calsync",
        "replayed code": "refused the sign-in (invalid_grant)",
        "no refresh token": "no refresh token",
    }[problem]
    assert expected in text
    assert not Integration.objects.exists()
    if problem != "replayed code":
        assert "google_pending" not in member_client.session


def test_the_same_google_calendar_cannot_be_connected_twice(member_client, member, calendar, google,
                                                            run_on_commit) -> None:  # fmt: skip
    connect(member_client, google, "twice@example.com", calendar, run_on_commit)
    sign_in(member_client, google, "twice@example.com")
    form = {"remote": "twice@example.com", "calendar": calendar.pk, "sync_enabled": "on", "direction": "both",
            "primary": "calsync", "automatic": "true", "error_email": "alerts@acme.test"}  # fmt: skip
    page = member_client.post(reverse("integrations:google_choose"), form).content.decode()
    assert "already connected" in page and Integration.objects.count() == 1


def test_disconnect_revokes_access_at_google(member_client, calendar, google, run_on_commit) -> None:
    integration = connect(member_client, google, "bye@example.com", calendar, run_on_commit)
    refresh = integration.credentials["refresh_token"]
    member_client.post(reverse("integrations:disconnect", args=[integration.pk]))
    assert not Integration.objects.exists() and refresh not in google.state.refresh


def test_disconnect_keeps_the_grant_while_another_calendar_uses_the_account(member_client, member, calendar, google,
                                                                           run_on_commit) -> None:  # fmt: skip
    """Revoking at Google ends the whole grant: the account's other calendar must keep syncing."""
    from tests.factories import CalendarFactory

    email = "shared.grant@example.com"
    primary = connect(member_client, google, email, calendar, run_on_commit)
    team_id = next(c["id"] for c in google.state.calendar_list(email) if c["summary"] == "Team")
    connect(member_client, google, email, CalendarFactory(owner=member, name="Team copy"), run_on_commit,
            remote=team_id)  # fmt: skip
    second = Integration.objects.exclude(pk=primary.pk).get()
    tokens = {primary.credentials["refresh_token"], second.credentials["refresh_token"]}
    member_client.post(reverse("integrations:disconnect", args=[primary.pk]))
    assert list(Integration.objects.all()) == [second]
    assert tokens <= set(google.state.refresh)  # no token of the grant was revoked
    google_side(google, email).create(event("after@x", "After the other one left"))
    assert sync_now(second, run_on_commit).status == "success"
    # The last calendar of the account going revokes the grant after all.
    member_client.post(reverse("integrations:disconnect", args=[second.pk]))
    assert not tokens & set(google.state.refresh)


# --- syncing ------------------------------------------------------------------------------------------


def test_two_way_create_edit_delete(member_client, calendar, google, run_on_commit) -> None:
    email = "two.way@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    remote = google_side(google, email)
    created = remote.create(event("in-google@x", "Made in Google"))
    local = events.item_save(calendar=calendar, item=event("in-calsync@x", "Made in calsync", day=1)).event
    assert sync_now(integration, run_on_commit).status == "success"
    assert Event.objects.get(calendar=calendar, uid="in-google@x", parent=None).title == "Made in Google"
    assert {e.item.uid for e in remote.changes(None).changed} == {"in-google@x", "in-calsync@x"}

    remote.update(created.id, event("in-google@x", "Edited in Google"), remote.get(created.id).version)
    local.refresh_from_db()
    events.item_save(calendar=calendar, item=event("in-calsync@x", "Edited in calsync", day=1), name=local.name)
    assert sync_now(integration, run_on_commit).status == "success"
    assert Event.objects.get(calendar=calendar, uid="in-google@x", parent=None).title == "Edited in Google"
    assert remote.find("in-calsync@x").item.master.summary == "Edited in calsync"

    remote.delete(created.id, remote.get(created.id).version)
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="in-calsync@x", parent=None))
    assert sync_now(integration, run_on_commit).status == "success"
    assert not Event.objects.filter(calendar=calendar).exists() and list(remote.changes(None).changed) == []


def _series_in_google(google, email: str) -> str:  # type: ignore[no-untyped-def]
    """A weekly series made in Google, its second occurrence moved by a day and its fourth cancelled."""
    tokens = google.state.authorize(email, "calsync-test")
    api = GoogleApi(user_credentials_from(tokens))
    body = {"summary": "Standup", "start": {"dateTime": "2026-11-23T09:30:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-11-23T09:45:00+01:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=5"]}  # fmt: skip
    master = api.execute(api.service.events().insert(calendarId=email, body=body))
    api.execute(api.service.events().patch(calendarId=email, eventId=f"{master['id']}_20261130T083000Z", body={
        "summary": "Standup (moved)", "start": {"dateTime": "2026-12-01T14:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-12-01T14:15:00+01:00", "timeZone": "Europe/Berlin"}}))  # fmt: skip
    api.execute(api.service.events().delete(calendarId=email, eventId=f"{master['id']}_20261214T083000Z"))
    return master["iCalUID"]


def test_get_many_reads_events_and_series_in_batches_and_the_write_after_it_reads_nothing_again(google) -> None:  # type: ignore[no-untyped-def]
    """What the engine reads before it overwrites or deletes (the versions an undo puts back): singles and a series
    with its exceptions, as `get` reads them, in one batch each; an id Google no longer holds is left out; the
    update that follows takes the event from that read (its If-Match) instead of asking again."""
    email = "many@example.com"
    uid = _series_in_google(google, email)
    side = google_side(google, email)
    single = side.create(event("single@x", "Single"))
    gone = side.create(event("gone@x", "Gone"))
    side.delete(gone.id, gone.version)
    series_id = side.find(uid).id
    before = google.state.requests
    found = side.get_many([single.id, series_id, gone.id])
    # Google counts each request of a batch (its quota does too): the three events.get, sent in one batch, and the
    # series' exceptions listed by its iCalUID, in another.
    assert google.state.requests - before == 4
    assert set(found) == {single.id, series_id}
    for item_id, entry in found.items():
        assert (entry.version, entry.item) == (side.get(item_id).version, side.get(item_id).item)
    side.get_many([single.id])
    before = google.state.requests
    side.update(single.id, event("single@x", "Single, renamed"), found[single.id].version)
    assert google.state.requests - before == 1  # the patch alone
    assert side.get(single.id).item.master.summary == "Single, renamed"


def test_a_series_with_moved_and_cancelled_occurrences_both_ways(member_client, calendar, google,
                                                                  run_on_commit) -> None:  # fmt: skip
    email = "series@example.com"
    uid = _series_in_google(google, email)
    integration = connect(member_client, google, email, calendar, run_on_commit)
    master = Event.objects.get(calendar=calendar, uid=uid, parent=None)
    assert master.rrule == "FREQ=WEEKLY;COUNT=5" and master.timezone == "Europe/Berlin"
    (moved,) = master.overrides.all()
    assert moved.title == "Standup (moved)" and moved.start == datetime(2026, 12, 1, 13, tzinfo=ZoneInfo("UTC"))
    assert master.exdates == ["2026-12-14T09:30:00;Europe/Berlin"]

    # Back the other way: cancel one more occurrence and move another in calsync.
    events.occurrence_cancel(master=master, recurrence_id=datetime(2026, 11, 23, 9, 30, tzinfo=BERLIN))
    master.refresh_from_db()
    events.occurrence_update(master=master, recurrence_id=datetime(2026, 12, 7, 9, 30, tzinfo=BERLIN),
                             changes={"summary": "Standup (late)", "start": datetime(2026, 12, 7, 11, tzinfo=BERLIN),
                                      "end": datetime(2026, 12, 7, 11, 15, tzinfo=BERLIN)})  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    item = google_side(google, email).find(uid).item
    assert {o.summary for o in item.overrides} == {"Standup (moved)", "Standup (late)"}
    assert len(item.master.exdates) == 2
    instances = google.state.instances(email, email, google_side(google, email).find(uid).id, {})["items"]
    starts = [i["start"]["dateTime"][:16] for i in instances]
    assert starts == ["2026-12-01T14:00", "2026-12-07T11:00", "2026-12-21T09:30"]  # 23 Nov and 14 Dec cancelled


def test_an_expired_sync_token_mid_way_means_a_full_resync_without_duplicates(member_client, calendar, google,
                                                                              run_on_commit) -> None:  # fmt: skip
    email = "expired@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    remote = google_side(google, email)
    for n in range(3):
        remote.create(event(f"g{n}@x", f"Google {n}", day=n))
    google.state.expire_sync_tokens(email)
    run = sync_now(integration, run_on_commit)
    assert run.status == "success"
    assert Event.objects.filter(calendar=calendar, parent=None).count() == 3
    assert len(list(remote.changes(None).changed)) == 3
    assert sync_now(integration, run_on_commit).status == "success"
    assert Event.objects.filter(calendar=calendar, parent=None).count() == 3


def test_rate_limits_are_retried_with_backoff_and_nothing_is_lost(member_client, calendar, google, run_on_commit,
                                                                  _no_backoff_sleep) -> None:  # fmt: skip
    email = "busy@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    for n in range(5):
        events.item_save(calendar=calendar, item=event(f"c{n}@x", f"Local {n}", day=n))
    google.state.faults.update(rate_limit=3, rate_limit_status=403)
    assert sync_now(integration, run_on_commit).status == "success"
    assert len(_no_backoff_sleep) == 3 and all(0 <= s <= 8 for s in _no_backoff_sleep)  # random() * 2**n
    google.state.faults.update(rate_limit=2, rate_limit_status=429)
    events.item_save(calendar=calendar, item=event("c5@x", "Local 5", day=5))
    assert sync_now(integration, run_on_commit).status == "success"
    assert len(list(google_side(google, email).changes(None).changed)) == 6


def test_a_burst_longer_than_the_retries_is_retried_later(member_client, calendar, google, run_on_commit,
                                                          settings) -> None:  # fmt: skip
    email = "storm@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    events.item_save(calendar=calendar, item=event("storm@x", "Storm"))
    settings.GOOGLE_RETRIES = 1
    google.state.faults.update(rate_limit=50, rate_limit_status=429)
    run = sync_now(integration, run_on_commit)
    assert run.status in ("retrying", "failed") and "slow down" in run.error
    google.state.faults.update(rate_limit=0)
    assert sync_now(integration, run_on_commit).status == "success"
    assert google_side(google, email).find("storm@x") is not None


def test_revoked_access_means_needs_reconnecting_and_an_email(member_client, calendar, google, run_on_commit) -> None:
    email = "revoked@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    google.state.revoke_user(email)
    mail.outbox.clear()
    run = sync_now(integration, run_on_commit)
    integration.refresh_from_db()
    assert run.status == "failed" and integration.status == "needs_reauth"
    assert len(mail.outbox) == 1 and "Reconnect" in mail.outbox[0].body
    assert integration.credentials["refresh_token"] not in mail.outbox[0].body

    # Reconnecting with the same account brings it back.
    start = member_client.get(reverse("integrations:google_connect") + f"?integration={integration.pk}")
    with run_on_commit():
        member_client.get(consent(google, start["Location"], email))
    integration.refresh_from_db()
    assert integration.status == "ok" and integration.runs.order_by("-pk").first().status == "success"


def test_reconnecting_with_another_account_is_refused(member_client, calendar, google, run_on_commit) -> None:
    integration = connect(member_client, google, "right@example.com", calendar, run_on_commit)
    before = integration.credentials_encrypted
    start = member_client.get(reverse("integrations:google_connect") + f"?integration={integration.pk}")
    answer = member_client.get(consent(google, start["Location"], "wrong@example.com"), follow=True)
    assert "belongs to right@example.com" in answer.content.decode()
    integration.refresh_from_db()
    assert integration.credentials_encrypted == before


def test_a_crash_between_insert_and_mapping_makes_no_duplicate(member_client, calendar, google, run_on_commit,
                                                               monkeypatch) -> None:  # fmt: skip
    email = "crash@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    events.item_save(calendar=calendar, item=event("fragile@x", "Fragile"))
    from sync import store

    def die(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise SystemExit("worker killed")

    monkeypatch.setattr(store.DbStatusStore, "save", die)
    with pytest.raises(SystemExit):
        sync_now(integration, run_on_commit)
    monkeypatch.undo()
    Integration.objects.filter(pk=integration.pk).update(lock_token="", lock_expires_at=None)
    assert sync_now(integration, run_on_commit).status == "success"
    found = [e for e in google_side(google, email).changes(None).changed if e.item.uid == "fragile@x"]
    assert len(found) == 1


def test_organizer_in_the_guest_list_is_not_a_second_attendee(member_client, calendar, google, run_on_commit) -> None:
    email = "organizer@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    tokens = google.state.authorize(email, "calsync-test")
    api = GoogleApi(user_credentials_from(tokens))
    api.execute(api.service.events().insert(calendarId=email, body={
        "summary": "Review", "start": {"dateTime": "2026-11-25T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-11-25T11:00:00+01:00", "timeZone": "Europe/Berlin"},
        "attendees": [{"email": email, "organizer": True, "responseStatus": "accepted"},
                      {"email": "bob@example.com", "responseStatus": "tentative"}]}))  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    (review,) = Event.objects.filter(calendar=calendar, title="Review")
    assert [a["email"] for a in review.attendees] == ["bob@example.com"]
    assert review.attendees[0]["partstat"] == "TENTATIVE" and review.organizer["email"] == email


# --- organisation-wide ------------------------------------------------------------------------------------


@pytest.fixture
def workspace_key(google):  # type: ignore[no-untyped-def]
    return google.state.create_service_account("acme.io", token_uri=f"{google.base_url}/token")


def _save(admin_client_, key_text: str, aliases: str = "acme.io", test: bool = True):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"enabled": "on", "aliases": aliases, **({"test": "1"} if test else {"save": "1"})}
    if key_text:
        data["key_file"] = SimpleUploadedFile("key.json", key_text.encode(), content_type="application/json")
    return admin_client_.post(reverse("integrations:google_workspace"), data, follow=True)


def test_workspace_key_is_validated_and_encrypted(admin_client_, google, workspace_key) -> None:
    page = _save(admin_client_, "{not json").content.decode()
    assert "This is not a JSON key file" in page and not GoogleWorkspace.objects.exists()
    page = _save(
        admin_client_, json.dumps({**workspace_key, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA"})
    ).content
    assert b"private key cannot be read" in page and not GoogleWorkspace.objects.exists()
    _save(admin_client_, json.dumps(workspace_key), test=False)
    stored = GoogleWorkspace.objects.get()
    assert workspace_key["private_key"] not in stored.key_encrypted and stored.key == workspace_key


def test_test_settings_reports_missing_delegation_and_unknown_user(admin_client_, admin_user, google) -> None:
    no_delegation = google.state.create_service_account("acme.io", delegation=False,
                                                        token_uri=f"{google.base_url}/token")  # fmt: skip
    page = _save(admin_client_, json.dumps(no_delegation)).content.decode()
    assert "domain-wide delegation is not enabled" in page
    good = google.state.create_service_account("acme.io", token_uri=f"{google.base_url}/token")
    page = _save(admin_client_, json.dumps(good)).content.decode()
    assert "no user admin@acme.io" in page  # nobody by the admin's name at Google yet
    google.state.account("admin@acme.io")
    page = _save(admin_client_, "", test=True).content.decode()
    assert "Works: calsync acted as admin@acme.io" in page and GoogleWorkspace.objects.get().test_ok


def test_a_user_on_an_alias_domain_connects_through_the_workspace(admin_client_, client, member, calendar, google,
                                                                  workspace_key, run_on_commit) -> None:  # fmt: skip
    google.state.account("admin@acme.io")
    google.state.account("member@acme.io")  # member@acme.test in calsync: the alias domain finds them
    _save(admin_client_, json.dumps(workspace_key))
    client.force_login(member)
    assert "connect-google-workspace" in client.get(reverse("settings")).content.decode()
    choose = client.get(reverse("integrations:google_connect_workspace"))
    assert choose["Location"] == reverse("integrations:google_choose")
    events.item_save(calendar=calendar, item=event("via-workspace@x", "Via workspace"))
    with run_on_commit():
        client.post(reverse("integrations:google_choose"), {"remote": "member@acme.io", "calendar": calendar.pk,
                    "sync_enabled": "on", "direction": "both", "primary": "calsync", "automatic": "true",
                    "error_email": "alerts@acme.test"})  # fmt: skip
    integration = confirm_first_sync(client, Integration.objects.get(provider="google"), run_on_commit)
    assert integration.config["auth"] == "workspace" and integration.credentials == {}
    run = integration.runs.get()
    assert run.status == "success", run.error
    assert google.state.calendars["member@acme.io"].events  # written as the member, in the member's calendar


def test_an_admin_cannot_connect_someone_elses_calendar(admin_client_, google, workspace_key, member) -> None:
    google.state.account("admin@acme.io")
    google.state.account("member@acme.io")
    _save(admin_client_, json.dumps(workspace_key))
    admin_client_.get(reverse("integrations:google_connect_workspace"))
    pending = admin_client_.session["google_pending"]
    assert pending["account"] == "admin@acme.io"
    assert {c["url"] for c in pending["calendars"]}.isdisjoint({"member@acme.io"})


# --- push notifications -------------------------------------------------------------------------------


def _renew_channels_unheard(google) -> None:  # type: ignore[no-untyped-def]
    """The hourly renewal renews one channel; the emulator does not call the (unreachable) public address."""
    google.state.notify = None
    try:
        assert google_services.channels_renew() == 1
    finally:
        google.state.notify = google._notify


def test_push_channel_webhook_and_renewal(member_client, calendar, google, run_on_commit, settings, client) -> None:
    settings.GOOGLE_WEBHOOK_BASE_URL = "https://calsync.example.com"
    google.state.notify = None  # the emulator would call the public address; the test plays Google instead
    try:
        integration = connect(member_client, google, "push@example.com", calendar, run_on_commit)
    finally:
        google.state.notify = google._notify
    integration.refresh_from_db()
    channel = integration.config["channel"]
    assert integration.push_channel == channel["id"]
    assert integration.push_state == "active"  # the pages say changes arrive at once
    assert integration.push_expires_at is not None
    assert round(integration.push_expires_at.timestamp() * 1000) == channel["expiration"]
    assert google.state.channels[channel["id"]].address == "https://calsync.example.com" + reverse(
        "integrations:google_push"
    )
    url = reverse("integrations:google_push")
    forged = client.post(url, HTTP_X_GOOG_CHANNEL_ID=channel["id"], HTTP_X_GOOG_CHANNEL_TOKEN="guess",
                         HTTP_X_GOOG_RESOURCE_STATE="exists")  # fmt: skip
    assert forged.status_code == 404
    runs = integration.runs.count()
    with run_on_commit():
        ok = client.post(url, HTTP_X_GOOG_CHANNEL_ID=channel["id"], HTTP_X_GOOG_CHANNEL_TOKEN=channel["token"],
                         HTTP_X_GOOG_RESOURCE_STATE="exists")  # fmt: skip
    # The notice synced at once; finding nothing new, it is counted on the integration, not left as a run.
    integration.refresh_from_db()
    assert ok.status_code == 200 and integration.runs.count() == runs and integration.quiet_syncs == 1
    api = GoogleApi(user_credentials_from(google.state.authorize("push@example.com", "calsync-test")))
    google.state.notify = None
    try:
        api.execute(api.service.events().insert(calendarId="push@example.com", body={
            "summary": "Pushed", "start": {"dateTime": "2026-11-25T10:00:00+01:00"},
            "end": {"dateTime": "2026-11-25T11:00:00+01:00"}}))  # fmt: skip
    finally:
        google.state.notify = google._notify
    with run_on_commit():
        client.post(url, HTTP_X_GOOG_CHANNEL_ID=channel["id"], HTTP_X_GOOG_CHANNEL_TOKEN=channel["token"],
                    HTTP_X_GOOG_RESOURCE_STATE="exists")  # fmt: skip
    pushed = integration.runs.order_by("-pk").first()
    assert (pushed.trigger, pushed.to_calsync["created"]) == ("push", 1)

    # Renewal: a channel about to expire is replaced, and the old one stopped.
    config = integration.config
    config["channel"]["expiration"] = int((datetime.now() + timedelta(hours=2)).timestamp() * 1000)
    Integration.objects.filter(pk=integration.pk).update(
        config=config, push_expires_at=timezone.now() + timedelta(hours=2)
    )
    _renew_channels_unheard(google)
    integration.refresh_from_db()
    assert integration.config["channel"]["id"] != channel["id"] and channel["id"] not in google.state.channels
    assert integration.push_channel == integration.config["channel"]["id"]
    stale = client.post(url, HTTP_X_GOOG_CHANNEL_ID=channel["id"], HTTP_X_GOOG_CHANNEL_TOKEN=channel["token"],
                        HTTP_X_GOOG_RESOURCE_STATE="exists")  # fmt: skip
    assert stale.status_code == 404  # the channel it replaced is no longer ours

    member_client.post(reverse("integrations:disconnect", args=[integration.pk]))
    assert not google.state.channels


def test_a_channel_that_failed_to_open_is_tried_again_by_the_renewal(member_client, calendar, google, run_on_commit,  # type: ignore[no-untyped-def]
                                                                      settings, client) -> None:  # fmt: skip
    settings.GOOGLE_WEBHOOK_BASE_URL = "ftp://calsync.example.com"  # Google refuses the address
    integration = connect(member_client, google, "retry@example.com", calendar, run_on_commit)
    integration.refresh_from_db()
    assert integration.push_state == "failed" and not integration.push_channel
    assert integration.push_expires_at is not None and integration.push_expires_at <= timezone.now()  # due
    settings.GOOGLE_WEBHOOK_BASE_URL = "https://calsync.example.com"
    _renew_channels_unheard(google)
    integration.refresh_from_db()
    assert integration.push_state == "active" and integration.push_channel in google.state.channels
    assert integration.push_expires_at > timezone.now() + timedelta(days=6)
    url = reverse("integrations:google_push")
    for token in ("\u00e9t\u00e9", ""):  # a non-ASCII or empty token is a forgery, not a crash
        forged = client.post(url, HTTP_X_GOOG_CHANNEL_ID=integration.push_channel, HTTP_X_GOOG_CHANNEL_TOKEN=token,
                             HTTP_X_GOOG_RESOURCE_STATE="exists")  # fmt: skip
        assert forged.status_code == 404


def test_the_migration_gives_open_and_failed_channels_their_due_time(member, calendar) -> None:  # type: ignore[no-untyped-def]
    import importlib

    from django.apps import apps

    migration = importlib.import_module("integrations.migrations.0011_google_channel_push_expires_at")
    ends = datetime(2030, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("UTC"))

    def google(remote: str, **fields: Any) -> Integration:
        return Integration.objects.create(tenant=member.tenant, user=member, provider="google", calendar=calendar,
                                          remote_calendar_id=remote, **fields)  # fmt: skip

    opened = google("a", config={"channel": {"id": "c", "expiration": int(ends.timestamp() * 1000)}})
    failed, never = google("b", push_state="failed"), google("c")
    migration.fill_from_config(apps, None)
    assert Integration.objects.get(pk=opened.pk).push_expires_at == ends
    assert Integration.objects.get(pk=failed.pk).push_expires_at <= timezone.now()  # due: the renewal retries it
    assert Integration.objects.get(pk=never.pk).push_expires_at is None


def test_tokens_wait_encrypted_in_the_session(member_client, google) -> None:
    start = member_client.get(reverse("integrations:google_connect"))
    member_client.get(consent(google, start["Location"], "session@example.com"))
    pending = member_client.session["google_pending"]
    tokens = crypto.decrypt(pending["secret"])
    assert tokens["refresh_token"] not in json.dumps(pending)


def test_workspace_command(tenant, admin_user, google, workspace_key, tmp_path, capsys) -> None:
    from django.core.management import CommandError, call_command

    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(workspace_key))
    google.state.account("admin@acme.io")
    call_command("google_workspace", "--tenant", "acme", "--key-file", str(key_file), "--enable",
                 "--aliases", "acme.io", "--test-as", admin_user.email, "--json")  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert data["enabled"] and data["test_ok"] and data["aliases"] == ["acme.io"]
    assert workspace_key["private_key"] not in json.dumps(data)
    with pytest.raises(CommandError, match="not a JSON key file"):
        key_file.write_text("nope")
        call_command("google_workspace", "--tenant", "acme", "--key-file", str(key_file))


def test_tasks_stay_in_calsync_and_are_listed_as_not_synced(member_client, calendar, google, run_on_commit) -> None:
    from events.ical import Component, Item

    email = "tasks@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    events.item_save(calendar=calendar, item=Item(master=Component(kind="VTODO", uid="todo@x", summary="Call back")))
    run = sync_now(integration, run_on_commit)
    assert run.status == "partial" and "holds events, not tasks" in integration.unsynced_items.get().reason
    assert list(google_side(google, email).changes(None).changed) == []


def test_all_day_private_free_events_with_guests_round_trip(google, google_account) -> None:
    from datetime import date

    from events.ical import Attendee, Component, Item
    from sync.engine import content_hash

    email, tokens = google_account
    side = GoogleSide(GoogleApi(user_credentials_from(tokens)), email, "Europe/Berlin")
    item = Item(master=Component(
        uid="offsite@x", summary="Offsite", start=date(2026, 12, 3), end=date(2026, 12, 5), visibility="PRIVATE",
        transparency="TRANSPARENT", attendees=(Attendee("bob@example.com", "Bob", "ACCEPTED"),
                                               Attendee("eve@example.com", "", "DECLINED", "OPT-PARTICIPANT")),
    ))  # fmt: skip
    created = side.create(item)
    stored = google.state.get(email, email, created.id)
    assert stored["start"] == {"date": "2026-12-03"} and stored["visibility"] == "private"
    assert stored["transparency"] == "transparent"
    assert [(a["email"], a["responseStatus"], a.get("optional", False)) for a in stored["attendees"]] == [
        ("bob@example.com", "accepted", False), ("eve@example.com", "declined", True)]  # fmt: skip
    again = side.get(created.id).item
    assert again.master.start == date(2026, 12, 3) and again.master.visibility == "PRIVATE"
    assert [a.partstat for a in again.master.attendees] == ["ACCEPTED", "DECLINED"]
    assert content_hash(Item(master=again.master.__class__(**{**again.master.__dict__, "organizer": None}))) == (
        content_hash(item)
    )


def test_a_change_to_one_occurrence_in_google_arrives_with_its_whole_series(member_client, calendar, google,
                                                                            run_on_commit) -> None:  # fmt: skip
    email = "occurrence@example.com"
    uid = _series_in_google(google, email)
    integration = connect(member_client, google, email, calendar, run_on_commit)
    master_id = google_side(google, email).find(uid).id
    requests_before = google.state.requests
    google.state.write(email, email, f"{master_id}_20261207T083000Z", {"summary": "Standup (retro)"}, None, patch=True)
    assert sync_now(integration, run_on_commit).status == "success"
    master = Event.objects.get(calendar=calendar, uid=uid, parent=None)
    assert sorted(o.title for o in master.overrides.all()) == ["Standup (moved)", "Standup (retro)"]
    assert master.exdates == ["2026-12-14T09:30:00;Europe/Berlin"]  # the rest of the series is intact
    assert google.state.requests - requests_before == 2  # the changes, then one read of the series (batched)


def test_a_copy_imported_through_the_side_keeps_its_organizer_and_reads_back(google, google_account) -> None:
    """GoogleSide.import_event: events.import keeps the organizer and guests as given (insert would make this
    account the organizer); calsync then reads the copy like any event, and once deleted it is gone for get(),
    though Google's events.get answers it as cancelled.
    https://developers.google.com/calendar/api/v3/reference/events/import
    https://developers.google.com/calendar/api/v3/reference/events#status"""
    email, tokens = google_account
    side = GoogleSide(GoogleApi(user_credentials_from(tokens)), email, "Europe/Berlin")
    copy = side.import_event({
        "iCalUID": "board@elsewhere.example", "summary": "Board meeting",
        "start": {"dateTime": "2026-12-03T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-12-03T11:00:00+01:00", "timeZone": "Europe/Berlin"},
        "organizer": {"email": "boss@elsewhere.example", "displayName": "The Boss"},
        "attendees": [{"email": "boss@elsewhere.example", "organizer": True, "responseStatus": "accepted"},
                      {"email": email, "self": True, "responseStatus": "accepted"}],
    })  # fmt: skip
    entry = side.find("board@elsewhere.example")
    assert entry is not None and entry.id == copy["id"]
    assert entry.item.master.organizer is not None and entry.item.master.organizer.email == "boss@elsewhere.example"
    changes = side.changes(None)
    assert [e.id for e in changes.changed] == [copy["id"]]
    side.delete(copy["id"], entry.version)
    assert google.state.get(email, email, copy["id"])["status"] == "cancelled"
    assert side.get(copy["id"]) is None and side.find("board@elsewhere.example") is None
    later = side.changes(changes.cursor)
    assert list(later.changed) == [] and later.deleted == [copy["id"]]


def test_an_occurrence_cancelled_in_google_arrives_though_google_lists_only_its_ids(member_client, calendar, google,
                                                                                    run_on_commit) -> None:  # fmt: skip
    """Google's incremental listing may give a cancelled occurrence nothing but id, recurringEventId and
    originalStartTime (the emulator gives no more): calsync reads the series' iCalUID from its master, in one
    batch, and the occurrence becomes an EXDATE. https://developers.google.com/calendar/api/v3/reference/events#status"""
    email = "cancelled-occurrence@example.com"
    uid = _series_in_google(google, email)
    integration = connect(member_client, google, email, calendar, run_on_commit)
    master_id = google_side(google, email).find(uid).id
    requests_before = google.state.requests
    google.state.delete(email, email, f"{master_id}_20261221T083000Z", None)
    assert sync_now(integration, run_on_commit).status == "success"
    master = Event.objects.get(calendar=calendar, uid=uid, parent=None)
    assert master.exdates == ["2026-12-14T09:30:00;Europe/Berlin", "2026-12-21T09:30:00;Europe/Berlin"]
    assert [o.title for o in master.overrides.all()] == ["Standup (moved)"]
    assert google.state.requests - requests_before == 3  # the changes, the master (batched), the series (batched)


def test_the_workspace_page_links_the_sandbox_key_maker_only_in_the_sandbox(admin_client_, google, settings) -> None:
    """In the sandbox the admin is sent to the emulator's Workspace page, filled in with their domain and address
    (Test settings acts as the admin, who must be a user there); with a real Google there is no such link."""
    settings.GOOGLE_SANDBOX, settings.GOOGLE_EMULATOR_URL = True, google.base_url
    page = admin_client_.get(reverse("integrations:google_workspace")).content.decode()
    assert f'href="{google.base_url}/sandbox/workspace?domain=acme.test&amp;users=admin%40acme.test"' in page
    with niquests.Session() as session:
        session.trust_env = False
        form = session.get(f"{google.base_url}/sandbox/workspace?domain=acme.test&users=admin%40acme.test", timeout=10)
    assert 'value="acme.test"' in form.text and ">admin@acme.test</textarea>" in form.text
    settings.GOOGLE_SANDBOX = False
    assert "/sandbox/workspace" not in admin_client_.get(reverse("integrations:google_workspace")).content.decode()
