"""Microsoft 365 / Outlook end to end against the project's Microsoft emulator (HTTPS), through msal and Graph:
"Connect to MS Exchange", syncs through the Celery task, series, delta expiry, throttling, revoked consent."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from django.core import mail
from django.urls import reverse

from events import services as events
from events.models import Event
from integrations.microsoft.adapter import MicrosoftSide
from integrations.microsoft.client import GraphClient
from integrations.models import Integration
from sync import services as sync_services
from sync.errors import PreconditionFailed
from sync.models import SyncRun
from tests.previews import confirm_first_sync
from tests.sync.items import event

from .reads import assert_read_as_get

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch):  # type: ignore[no-untyped-def]
    """Retry-After is honoured; the test records the waits instead of sleeping through them."""
    waits: list[float] = []
    monkeypatch.setattr("integrations.microsoft.client.time.sleep", waits.append)
    return waits


def consent(microsoft, location: str, login: str, decision: str = "accept") -> str:  # type: ignore[no-untyped-def]
    query = {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}
    tenant = urlsplit(location).path.split("/")[1]
    with requests.Session() as session:
        session.trust_env = False
        answer = session.post(f"{microsoft.base_url}/{tenant}/oauth2/v2.0/approve",
                              data={**query, "login": login, "decision": decision}, allow_redirects=False,
                              verify=str(microsoft_cert(microsoft)), timeout=10)  # fmt: skip
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def microsoft_cert(microsoft) -> str:  # type: ignore[no-untyped-def]
    from django.conf import settings

    return settings.MICROSOFT_CA_BUNDLE


def connect(member_client, microsoft, login, calendar, run_on_commit, remote_name="Calendar"):  # type: ignore[no-untyped-def]
    start = member_client.get(reverse("integrations:microsoft_connect"))
    assert start.status_code == 302 and start["Location"].startswith(microsoft.browser_url or microsoft.base_url)
    params = parse_qs(urlsplit(start["Location"]).query)
    assert params["code_challenge_method"] == ["S256"] and "Calendars.ReadWrite" in params["scope"][0]
    assert "offline_access" in params["scope"][0]
    back = member_client.get(consent(microsoft, start["Location"], login))
    assert back["Location"] == reverse("integrations:microsoft_choose"), back.content[:300]
    box = microsoft.state.mailboxes[login]
    remote = next(c for c in box.calendars if microsoft.state.calendars[c].name == remote_name)
    form = {"remote": remote, "calendar": calendar.pk, "sync_enabled": "on", "direction": "both",
            "primary": "calsync", "automatic": "true", "error_email": "alerts@acme.test"}  # fmt: skip
    with run_on_commit():
        done = member_client.post(reverse("integrations:microsoft_choose"), form)
    assert done.status_code == 302, done.content.decode()[:3000]
    integration = Integration.objects.get(provider="microsoft", remote_calendar_id=remote)
    return confirm_first_sync(member_client, integration, run_on_commit)


def outlook(microsoft, login: str, calendar_name: str = "Calendar") -> MicrosoftSide:  # type: ignore[no-untyped-def]
    """Another application on the same Outlook calendar (as the user in Outlook)."""
    tokens = microsoft.state.authorize(login, "calsync-test")
    box = microsoft.state.mailboxes[login]
    calendar_id = next(c for c in box.calendars if microsoft.state.calendars[c].name == calendar_name)
    return MicrosoftSide(GraphClient(lambda: tokens["access_token"], sleep=lambda s: None), calendar_id)


def sync_now(integration, run_on_commit) -> SyncRun:  # type: ignore[no-untyped-def]
    with run_on_commit():
        run = sync_services.sync_request(integration=integration, trigger="manual")
    run.refresh_from_db()
    return run


def test_connect_choose_and_first_sync(member_client, calendar, microsoft, run_on_commit) -> None:
    events.item_save(calendar=calendar, item=event("from-calsync@x", "From calsync"))
    integration = connect(member_client, microsoft, "ann@contoso.example", calendar, run_on_commit)
    assert integration.config == {"auth": "oauth", "account": "ann@contoso.example"}
    assert "refresh_token" not in integration.credentials_encrypted and integration.credentials["cache"]
    run = integration.runs.get()
    assert run.status == "success", run.error
    assert [e.item.master.summary for e in outlook(microsoft, "ann@contoso.example").changes(None).changed] == [
        "From calsync"
    ]


def test_the_choice_lists_read_only_calendars_as_one_way(member_client, microsoft) -> None:
    start = member_client.get(reverse("integrations:microsoft_connect"))
    member_client.get(consent(microsoft, start["Location"], "choice@contoso.example"))
    page = member_client.get(reverse("integrations:microsoft_choose")).content.decode()
    assert "Holidays (read only: syncs into calsync only)" in page and "Team" in page


@pytest.mark.parametrize("problem", ["forged state", "denied"])
def test_oauth_failures_store_nothing(member_client, microsoft, problem) -> None:
    start = member_client.get(reverse("integrations:microsoft_connect"))
    back = consent(microsoft, start["Location"], "x@contoso.example", "cancel" if problem == "denied" else "accept")
    if problem == "forged state":
        back = back.replace("state=", "state=forged")
    answer = member_client.get(back, follow=True)
    text = " ".join(m.message for m in answer.context["messages"])
    assert {"forged state": "did not start here", "denied": "did not allow calsync"}[problem] in text
    assert not Integration.objects.exists() and "microsoft_pending" not in member_client.session


def test_two_way_create_edit_delete(member_client, calendar, microsoft, run_on_commit) -> None:
    login = "two.way@contoso.example"
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    remote = outlook(microsoft, login)
    created = remote.create(event("in-outlook@x", "Made in Outlook"))
    local = events.item_save(calendar=calendar, item=event("in-calsync@x", "Made in calsync", day=1)).event
    assert sync_now(integration, run_on_commit).status == "success"
    assert Event.objects.get(calendar=calendar, uid="in-outlook@x", parent=None).title == "Made in Outlook"
    remote.update(created.id, event("in-outlook@x", "Edited in Outlook"), remote.get(created.id).version)
    local.refresh_from_db()
    events.item_save(calendar=calendar, item=event("in-calsync@x", "Edited in calsync", day=1), name=local.name)
    assert sync_now(integration, run_on_commit).status == "success"
    assert Event.objects.get(calendar=calendar, uid="in-outlook@x", parent=None).title == "Edited in Outlook"
    assert remote.find("in-calsync@x").item.master.summary == "Edited in calsync"
    remote.delete(created.id, remote.get(created.id).version)
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="in-calsync@x", parent=None))
    assert sync_now(integration, run_on_commit).status == "success"
    assert not Event.objects.filter(calendar=calendar).exists()
    assert [e for e in remote.changes(None).changed] == []


WEEKLY_FIVE_TIMES = {
    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
    "range": {"type": "numbered", "numberOfOccurrences": 5, "startDate": "2026-11-23"},
}


def test_a_weekly_series_with_an_edited_and_a_cancelled_occurrence(member_client, calendar, microsoft,
                                                                   run_on_commit) -> None:  # fmt: skip
    login = "series@contoso.example"
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    state = microsoft.state
    box = state.mailboxes[login]
    series = state.create(login, box.calendars[0], {
        "subject": "Standup", "start": {"dateTime": "2026-11-23T09:30:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-11-23T09:45:00", "timeZone": "W. Europe Standard Time"},
        "recurrence": WEEKLY_FIVE_TIMES})  # fmt: skip
    calendar_obj = state.calendars[box.calendars[0]]
    window = (datetime(2026, 11, 1, tzinfo=BERLIN), datetime(2027, 1, 31, tzinfo=BERLIN))
    instances = state.instances_of(calendar_obj, calendar_obj.events[series["id"]], *window)
    state.update(login, instances[1]["id"], {"subject": "Standup (moved)", "start": {
        "dateTime": "2026-12-01T14:00:00", "timeZone": "W. Europe Standard Time"}, "end": {
        "dateTime": "2026-12-01T14:15:00", "timeZone": "W. Europe Standard Time"}}, None)  # fmt: skip
    state.delete(login, instances[3]["id"], None)
    assert sync_now(integration, run_on_commit).status == "success"
    master = Event.objects.get(calendar=calendar, title="Standup", parent=None)
    assert master.rrule == "FREQ=WEEKLY;COUNT=5" and master.timezone == "Europe/Berlin"
    assert [o.title for o in master.overrides.all()] == ["Standup (moved)"]
    assert master.exdates == ["2026-12-14T09:30:00;Europe/Berlin"]

    # Back the other way: cancel the first occurrence in calsync.
    events.occurrence_cancel(master=master, recurrence_id=datetime(2026, 11, 23, 9, 30, tzinfo=BERLIN))
    assert sync_now(integration, run_on_commit).status == "success"
    left = state.instances_of(calendar_obj, calendar_obj.events[series["id"]], datetime(2026, 11, 1, tzinfo=BERLIN),
                              datetime(2027, 1, 31, tzinfo=BERLIN))  # fmt: skip
    assert [i["subject"] for i in left] == ["Standup (moved)", "Standup", "Standup"]


def test_delta_token_expiry_means_a_full_resync_without_duplicates(member_client, calendar, microsoft,
                                                                   run_on_commit) -> None:  # fmt: skip
    login = "expired@contoso.example"
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    remote = outlook(microsoft, login)
    for n in range(3):
        remote.create(event(f"o{n}@x", f"Outlook {n}", day=n))
    microsoft.state.expire_delta_tokens()
    assert sync_now(integration, run_on_commit).status == "success"
    assert sync_now(integration, run_on_commit).status == "success"
    assert Event.objects.filter(calendar=calendar, parent=None).count() == 3
    assert len(list(remote.changes(None).changed)) == 3


def test_throttling_honours_retry_after(member_client, calendar, microsoft, run_on_commit, _no_waiting) -> None:
    login = "busy@contoso.example"
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    for n in range(3):
        events.item_save(calendar=calendar, item=event(f"b{n}@x", f"Local {n}", day=n))
    microsoft.state.faults.update(throttle=3, retry_after=7)
    assert sync_now(integration, run_on_commit).status == "success"
    assert _no_waiting == [7.0, 7.0, 7.0]
    assert len(list(outlook(microsoft, login).changes(None).changed)) == 3


def test_revoked_consent_means_needs_reconnecting(member_client, calendar, microsoft, run_on_commit) -> None:
    login = "revoked@contoso.example"
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    microsoft.state.revoke_user(login)
    # Force msal past its cached access token, as an hour later.
    for token, (who, client, _) in list(microsoft.state.access.items()):
        microsoft.state.access[token] = (who, client, 0)
    credentials = integration.credentials
    import json

    cache = json.loads(credentials["cache"])
    for entry in cache.get("AccessToken", {}).values():
        entry["expires_on"] = entry["extended_expires_on"] = "1"
    integration.set_credentials({**credentials, "cache": json.dumps(cache)})
    integration.save(update_fields=["credentials_encrypted"])
    mail.outbox.clear()
    run = sync_now(integration, run_on_commit)
    integration.refresh_from_db()
    assert run.status == "failed" and integration.status == "needs_reauth", run.error
    assert len(mail.outbox) == 1
    # The message says "Reconnect it": the page's button says so too.
    page = member_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert run.error.endswith("Reconnect it.") and "Reconnect with Microsoft</a>" in page


def test_a_repeated_create_returns_the_first_event(microsoft, microsoft_mailbox) -> None:
    login, tokens = microsoft_mailbox
    side = MicrosoftSide(GraphClient(lambda: tokens["access_token"], sleep=lambda s: None),
                         microsoft.state.mailboxes[login].calendars[0])  # fmt: skip
    first = side.create(event("once@x", "Once"))
    again = side.create(event("once@x", "Once"))  # as after a crash between create and recording it
    assert again.id == first.id and len(list(side.changes(None).changed)) == 1


def test_a_long_series_is_read_whole_and_an_all_day_event_keeps_its_date(microsoft, microsoft_mailbox) -> None:
    """Graph lists a series' instances in pages (10 by default) and answers in UTC: the adapter reads every page,
    so no occurrence reads as cancelled, keeps a timed event in the zone it was written in, and keeps an all-day
    event on its date even when written in a zone behind UTC.
    https://learn.microsoft.com/graph/paging https://learn.microsoft.com/graph/api/event-get#request-headers"""
    login, tokens = microsoft_mailbox
    calendar_id = microsoft.state.mailboxes[login].calendars[0]
    today = datetime.now(BERLIN).date()
    daily = {"pattern": {"type": "daily", "interval": 1},
             "range": {"type": "numbered", "numberOfOccurrences": 40, "startDate": today.isoformat()}}  # fmt: skip
    pacific = "Pacific Standard Time"
    microsoft.state.create(login, calendar_id, {
        "subject": "Stand-up", "recurrence": daily,
        "start": {"dateTime": f"{today}T09:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": f"{today}T09:15:00", "timeZone": "W. Europe Standard Time"}})  # fmt: skip
    microsoft.state.create(login, calendar_id, {
        "subject": "Offsite", "isAllDay": True, "start": {"dateTime": f"{today}T00:00:00", "timeZone": pacific},
        "end": {"dateTime": f"{today + timedelta(days=1)}T00:00:00", "timeZone": pacific}})  # fmt: skip
    side = MicrosoftSide(GraphClient(lambda: tokens["access_token"], sleep=lambda s: None), calendar_id)
    by_title = {e.item.master.summary: e.item for e in side.changes(None).changed}
    series = by_title["Stand-up"]
    assert series.master.exdates == () and series.master.rrule == "FREQ=DAILY;COUNT=40"
    assert series.master.start == datetime(today.year, today.month, today.day, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    assert by_title["Offsite"].master.start == today


def test_every_calendar_of_a_mailbox_is_offered_however_many(microsoft, microsoft_mailbox) -> None:
    """/me/calendars comes in pages (https://learn.microsoft.com/graph/paging): all of them are listed."""
    from integrations.microsoft.services import mailbox_calendars
    from tests.emulators.test_microsoft_emulator import _more_calendars

    login, tokens = microsoft_mailbox
    _more_calendars(microsoft, login, 120)
    calendars = mailbox_calendars(GraphClient(lambda: tokens["access_token"], sleep=lambda s: None))
    assert len(calendars) == 123 and calendars[0].default and calendars[0].name == "Calendar"


# --- organisation-wide (Microsoft 365 app) --------------------------------------------------------------


@pytest.fixture
def organisation_app(microsoft):  # type: ignore[no-untyped-def]
    """An app registration in the contoso tenant (the admin has not consented yet)."""
    microsoft.state.apps["org-app"] = APP_SECRET
    microsoft.state.mailbox("admin@contoso.example")
    return microsoft.state.tenant_for("contoso.example")


APP_SECRET = "org-secret"  # the emulator's test app


def _organisation(admin_client_, directory_id: str, secret: str = APP_SECRET, test: bool = True,
                  aliases: str = "contoso.example"):  # type: ignore[no-untyped-def]  # fmt: skip
    data = {"directory_id": directory_id, "client_id": "org-app", "secret": secret, "enabled": "on",
            "aliases": aliases, **({"test": "1"} if test else {"save": "1"})}  # fmt: skip
    return admin_client_.post(reverse("integrations:microsoft_organisation"), data, follow=True).content.decode()


def test_test_settings_explains_each_failure(admin_client_, microsoft, organisation_app) -> None:
    from integrations.models import MicrosoftOrganisation

    assert "client secret is wrong" in _organisation(admin_client_, organisation_app, secret="nope")
    assert "nope" not in MicrosoftOrganisation.objects.get().secret_encrypted
    assert "Admin consent has not been granted" in _organisation(admin_client_, organisation_app)
    # The admin opens the consent link and accepts.
    page = admin_client_.get(reverse("integrations:microsoft_organisation")).content.decode()
    url = re.search(r'href="([^"]*/adminconsent\?[^"]*)"', page)[1].replace("&amp;", "&")  # type: ignore[index]
    with requests.Session() as session:
        session.trust_env = False
        back = session.get(url + "&decision=accept", allow_redirects=False, verify=microsoft_cert(microsoft))
    answer = admin_client_.get(back.headers["Location"].split("testserver")[-1].replace("http://127.0.0.1:8000", ""),
                               follow=True)  # fmt: skip
    assert "Admin consent granted" in answer.content.decode()
    assert "no mailbox was found" in _organisation(admin_client_, organisation_app, aliases="").lower()
    works = _organisation(admin_client_, organisation_app, secret="")
    assert "Works: calsync read 3 calendars of admin@contoso.example" in works


def test_test_settings_succeeds_in_the_sandbox_with_what_the_page_shows(admin_client_, admin_user, microsoft) -> None:
    """The sandbox's organisation-wide set-up: the page names the emulator's app and the admin's domain as the
    tenant; saved, consented to by the admin signing in on the consent page, Test settings works (a
    client-credentials token for the domain, then the admin's calendars under /users/{address})."""
    page = admin_client_.get(reverse("integrations:microsoft_organisation")).content.decode()
    shown = dict(re.findall(r'data-testid="sandbox-(directory|client|secret)">([^<]+)<', page))
    assert shown == {"directory": "acme.test", "client": "calsync-test", "secret": "calsync-test-secret"}
    form = {"directory_id": shown["directory"], "client_id": shown["client"], "secret": shown["secret"],
            "enabled": "on", "aliases": "", "save": "1"}  # fmt: skip
    page = admin_client_.post(reverse("integrations:microsoft_organisation"), form, follow=True).content.decode()
    url = re.search(r'href="([^"]*/adminconsent\?[^"]*)"', page)[1].replace("&amp;", "&")  # type: ignore[index]
    assert url.startswith(f"{microsoft.browser_url}/acme.test/adminconsent?")  # the plain-http twin, no warning
    with requests.Session() as session:
        session.trust_env = False
        consent_page = session.get(url, timeout=10)
        assert "Calendars.ReadWrite" in consent_page.text and 'name="login"' in consent_page.text
        back = session.get(url, params={"decision": "accept", "login": admin_user.email}, allow_redirects=False,
                           timeout=10)  # fmt: skip
    answer = admin_client_.get(back.headers["Location"].split("127.0.0.1:8000")[-1], follow=True).content.decode()
    assert "Admin consent granted" in answer
    works = admin_client_.post(reverse("integrations:microsoft_organisation"), {**form, "secret": "", "test": "1"},
                               follow=True).content.decode()  # fmt: skip
    assert f"Works: calsync read 3 calendars of {admin_user.email}" in works


def test_a_user_on_an_alias_domain_connects_through_the_organisation(admin_client_, client, member, calendar,
                                                                      microsoft, organisation_app,
                                                                      run_on_commit) -> None:  # fmt: skip
    microsoft.state.admin_consent.add((organisation_app, "org-app"))
    box = microsoft.state.mailbox("member@contoso.example")  # member@acme.test in calsync
    _organisation(admin_client_, organisation_app)
    client.force_login(member)
    assert "connect-microsoft-organisation" in client.get(reverse("settings")).content.decode()
    assert client.get(reverse("integrations:microsoft_connect_organisation"))["Location"] == reverse(
        "integrations:microsoft_choose"
    )
    events.item_save(calendar=calendar, item=event("via-org@x", "Via the organisation"))
    with run_on_commit():
        client.post(reverse("integrations:microsoft_choose"), {"remote": box.calendars[0], "calendar": calendar.pk,
                    "sync_enabled": "on", "direction": "both", "primary": "calsync", "automatic": "true",
                    "error_email": "alerts@acme.test"})  # fmt: skip
    integration = confirm_first_sync(client, Integration.objects.get(provider="microsoft"), run_on_commit)
    assert integration.config == {"auth": "organisation", "account": "member@contoso.example"}
    assert integration.credentials == {}
    run = integration.runs.get()
    assert run.status == "success", run.error
    assert [e["subject"] for e in microsoft.state.calendars[box.calendars[0]].events.values()] == [
        "Via the organisation"
    ]


def _certificate(common_name: str = "calsync") -> tuple[bytes, bytes]:
    """A self-signed certificate and its private key (PEM), as an admin makes one for an app registration."""
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from django.utils import timezone

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = timezone.now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))  # fmt: skip
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())  # fmt: skip
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def test_the_organisation_app_can_sign_in_with_a_certificate(admin_client_, microsoft, organisation_app) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from integrations.models import MicrosoftOrganisation

    microsoft.state.admin_consent.add((organisation_app, "org-app"))
    key, cert = _certificate()
    other_key, other_cert = _certificate("not registered")
    microsoft.state.app_certificates["org-app"] = [cert]

    def upload(data: bytes) -> str:
        form = {"directory_id": organisation_app, "client_id": "org-app", "secret": "", "enabled": "on",
                "aliases": "contoso.example", "test": "1",
                "certificate": SimpleUploadedFile("calsync.pem", data)}  # fmt: skip
        return admin_client_.post(reverse("integrations:microsoft_organisation"), form, follow=True).content.decode()

    assert "holding both the private key and the certificate" in upload(cert)
    assert "does not belong to this certificate" in upload(key + other_cert)
    assert not MicrosoftOrganisation.objects.exists()
    assert "not one of the app&#x27;s certificates" in upload(other_key + other_cert)
    # A chain (the leaf certificate first, then the issuer's) is fine: the leaf is the app's.
    _issuer_key, issuer = _certificate("issuing CA")
    works = upload(key + cert + issuer)
    assert "Works: calsync read 3 calendars of admin@contoso.example" in works
    stored = MicrosoftOrganisation.objects.get()
    assert stored.secret_encrypted == "" and b"PRIVATE KEY" not in stored.certificate_encrypted.encode()
    assert stored.certificate_thumbprint in works and len(stored.certificate_thumbprint) == 40
    # The app works for syncs too: the token comes from the certificate, not a secret.
    microsoft.state.apps["org-app"] = ""
    from integrations.microsoft.organisation import app_token

    assert app_token(stored)


def test_at_most_four_requests_at_a_time_per_mailbox(microsoft, microsoft_mailbox) -> None:
    """Graph allows four concurrent requests per mailbox: a fifth waits, another mailbox does not."""
    import threading
    import time

    _login, tokens = microsoft_mailbox
    in_flight: dict[str, int] = {"ann": 0, "bob": 0}
    most: dict[str, int] = {"ann": 0, "bob": 0, "both": 0}
    changed = threading.Condition()

    def client(owner: str) -> GraphClient:
        graph = GraphClient(lambda: tokens["access_token"], sleep=lambda s: None, owner=f"{owner}@contoso.example")
        real = graph.session.request

        def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
            # Each request is held until four of its mailbox are in flight (or two seconds passed), so the peaks
            # do not depend on how fast a busy machine starts threads: a limit above four shows as five, one below
            # as the wait running out.
            deadline = time.monotonic() + 2
            with changed:
                in_flight[owner] += 1
                most[owner] = max(most[owner], in_flight[owner])
                most["both"] = max(most["both"], in_flight["ann"] + in_flight["bob"])
                changed.notify_all()
                while in_flight[owner] < 4 and (left := deadline - time.monotonic()) > 0:
                    changed.wait(left)
            try:
                return real(*args, **kwargs)
            finally:
                with changed:
                    in_flight[owner] -= 1

        graph.session.request = slow  # type: ignore[method-assign]
        return graph

    clients = [client(owner) for owner in ["ann"] * 12 + ["bob"] * 4]
    threads = [threading.Thread(target=c.call, args=("GET", "/me/calendars")) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert most["ann"] == 4 and most["bob"] == 4 and most["both"] > 4


def test_writes_cost_only_the_requests_they_need(microsoft, microsoft_mailbox) -> None:
    login, tokens = microsoft_mailbox
    side = MicrosoftSide(GraphClient(lambda: tokens["access_token"], sleep=lambda s: None),
                         microsoft.state.mailboxes[login].calendars[0])  # fmt: skip

    def requests_for(write):  # type: ignore[no-untyped-def]
        before = microsoft.state.requests
        result = write()
        return microsoft.state.requests - before, result

    cost, created = requests_for(lambda: side.create(event("cost@x", "Cost")))
    assert cost == 1  # POST; its answer carries the id and changeKey
    cost, found = requests_for(lambda: side.find("cost@x"))
    assert cost == 1 and found.version == created.version  # the filtered listing already holds the event
    cost, updated = requests_for(lambda: side.update(created.id, event("cost@x", "Renamed"), created.version))
    assert cost == 2 and updated.version == side.get(created.id).version != created.version  # GET, PATCH
    cost, _ = requests_for(lambda: side.delete(created.id, updated.version))
    assert cost == 1  # the DELETE alone: the `get` just above read the event, and its etag is the If-Match
    assert side.find("it's@x") is None  # a quote in a UID is escaped, not a broken filter


def _five_days_with_an_exception_and_a_cancellation(microsoft, login: str, calendar_id: str) -> str:  # type: ignore[no-untyped-def]
    """A daily series from today (inside the sync window) with its second day moved and its fourth cancelled."""
    state, today = microsoft.state, datetime.now(BERLIN).date()
    daily = {"pattern": {"type": "daily", "interval": 1},
             "range": {"type": "numbered", "numberOfOccurrences": 5, "startDate": today.isoformat()}}  # fmt: skip
    zone = "W. Europe Standard Time"
    master = state.create(login, calendar_id, {"subject": "Daily", "recurrence": daily,
                                               "start": {"dateTime": f"{today}T09:00:00", "timeZone": zone},
                                               "end": {"dateTime": f"{today}T09:15:00", "timeZone": zone}})  # fmt: skip
    calendar = state.calendars[calendar_id]
    window = (datetime.now(BERLIN) - timedelta(days=1), datetime.now(BERLIN) + timedelta(days=10))
    instances = state.instances_of(calendar, calendar.events[master["id"]], *window)
    state.update(login, instances[1]["id"], {"subject": "Daily (moved)"}, None)
    state.delete(login, instances[3]["id"], None)
    return str(master["id"])


def test_get_many_reads_events_and_series_in_batches_and_the_write_after_it_reads_nothing_again(
    microsoft, microsoft_mailbox
) -> None:  # type: ignore[no-untyped-def]
    """What the engine reads before it overwrites or deletes (the versions an undo puts back): singles and a series
    with an exception and a cancelled occurrence, as `get` reads them, in one JSON batch for the events and one
    for the series' instances; an id Outlook no longer holds is left out; the update that follows takes the event
    (its etag, the If-Match) from that read instead of asking again."""
    login, tokens = microsoft_mailbox
    calendar_id = microsoft.state.mailboxes[login].calendars[0]
    side = MicrosoftSide(GraphClient(lambda: tokens["access_token"], sleep=lambda s: None), calendar_id)
    series_id = _five_days_with_an_exception_and_a_cancellation(microsoft, login, calendar_id)
    single = side.create(event("single@x", "Single"))
    gone = side.create(event("gone@x", "Gone"))
    side.delete(gone.id, gone.version)
    before = microsoft.state.requests
    found = side.get_many([single.id, series_id, gone.id])
    # Graph counts each request of a batch (its limits do too): three event reads, then the series' instances.
    assert microsoft.state.requests - before == 4
    assert set(found) == {single.id, series_id}
    assert len(found[series_id].item.overrides) == 1 and len(found[series_id].item.master.exdates) == 1
    assert_read_as_get(side, found)
    side.get_many([single.id])
    before = microsoft.state.requests
    updated = side.update(single.id, event("single@x", "Single, renamed"), found[single.id].version)
    assert microsoft.state.requests - before == 1  # the PATCH alone
    assert side.get(single.id).version == updated.version


def test_a_write_from_a_stale_read_is_refused_by_its_if_match(microsoft, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    """What get_many kept may be stale by the time the write comes: Graph refuses its etag (412), and the engine
    reads again; the next write reads afresh."""
    login, tokens = microsoft_mailbox
    calendar_id = microsoft.state.mailboxes[login].calendars[0]
    side = MicrosoftSide(GraphClient(lambda: tokens["access_token"], sleep=lambda s: None), calendar_id)
    created = side.create(event("stale@x", "Stale"))
    read = side.get_many([created.id])[created.id]
    microsoft.state.update(login, created.id, {"subject": "Changed in Outlook"}, None)
    with pytest.raises(PreconditionFailed):
        side.update(created.id, event("stale@x", "From calsync"), read.version)
    with pytest.raises(PreconditionFailed):  # read afresh: the version the engine holds is not Outlook's
        side.delete(created.id, read.version)
    assert side.get(created.id).item.master.summary == "Changed in Outlook"
