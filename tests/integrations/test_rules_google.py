"""Assignment rules end to end with Google (the issue's test): an event made in Google with a guest at a client's
domain arrives assigned to that client, and the Google copy carries calsyncClient after the next sync; rules
applied again over a range reach Google the same way. Through the sync service and the Google emulator."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from business.models import Activity, AssignmentRule, Client, RuleMatch
from business.rules import selectors
from business.rules.services import RuleSpec, rule_create, rules_apply
from events.models import Event
from tests.integrations.test_google import connect, sync_now
from tests.integrations.test_google_fidelity import _google_event

pytestmark = pytest.mark.django_db

WHEN = {"start": {"dateTime": "2026-11-24T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-11-24T10:30:00+01:00", "timeZone": "Europe/Berlin"}}  # fmt: skip


@pytest.fixture(autouse=True)
def _no_backoff_sleep(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda seconds: None)


@pytest.fixture
def acme(tenant):  # type: ignore[no-untyped-def]
    return Client.objects.create(tenant=tenant, name="Acme", email_domains=["acme.example"])


def _in_google(google, email: str, uid: str, guest: str, summary: str = "Planning call") -> None:
    google.state.account(email)
    google.state.insert(email, email, {"iCalUID": uid, "summary": summary, "attendees": [{"email": guest}], **WHEN})


def _private(google, email: str, uid: str) -> dict[str, str]:
    return _google_event(google, email, uid).get("extendedProperties", {}).get("private", {})


def test_a_guest_at_a_clients_domain_assigns_the_client_and_google_gets_it(member_client, calendar, google,
                                                                            run_on_commit, acme) -> None:  # fmt: skip
    email = "rules.arrival@example.com"
    _in_google(google, email, "first@x", "ann@acme.example")
    integration = connect(member_client, google, email, calendar, run_on_commit)  # the first sync: a bulk create
    arrived = Event.objects.get(calendar=calendar, uid="first@x", parent=None)
    assert (arrived.client_ref_id, arrived.origin) == (acme.pk, "google")
    assert _private(google, email, "first@x")["calsyncClient"] == "Acme"  # carried back in the same run
    first_run = integration.runs.get()
    assert (first_run.status, first_run.counts["remote"]["updated"]) == ("success", 1)

    _in_google(google, email, "later@x", "bob@sales.acme.example", summary="Follow-up")  # an incremental arrival
    assert sync_now(integration, run_on_commit).status == "success"
    assert Event.objects.get(calendar=calendar, uid="later@x", parent=None).client_ref_id == acme.pk
    assert _private(google, email, "later@x")["calsyncClient"] == "Acme"
    etags = {uid: _google_event(google, email, uid)["etag"] for uid in ("first@x", "later@x")}
    assert sync_now(integration, run_on_commit).status == "success"  # settled: nothing bounces back and forth
    assert {uid: _google_event(google, email, uid)["etag"] for uid in etags} == etags

    shown = selectors.matches_of(event=arrived)
    assert [(m.field, m.name, m.reason) for m in shown] == [("Client", "Acme", "attendee ann@acme.example")]
    page = member_client.get(f"/events/{arrived.pk}/")
    assert "The email domains of the client Acme" in page.content.decode()


def test_rules_applied_again_fill_only_unassigned_events_and_reach_google(member_client, tenant, calendar, google,
                                                                          run_on_commit, acme) -> None:  # fmt: skip
    email = "rules.again@example.com"
    _in_google(google, email, "plain@x", "cy@globex.example", summary="Globex kickoff")
    _in_google(google, email, "set@x", "di@globex.example", summary="Globex review")
    integration = connect(member_client, google, email, calendar, run_on_commit)
    assert Event.objects.get(uid="plain@x").client == ""
    set_in_google = _google_event(google, email, "set@x")
    google.state.write(email, email, set_in_google["id"],
                       {"extendedProperties": {"private": {"calsyncClient": "Initech"}}}, None, patch=True)  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"

    globex = Client.objects.create(tenant=tenant, name="Globex")
    kickoffs = Activity.objects.create(tenant=tenant, name="Kickoff")
    rule_create(tenant=tenant, user=None, spec=RuleSpec(kind=AssignmentRule.Kind.ATTENDEE_DOMAIN,
                                                        value="globex.example", client=globex))  # fmt: skip
    rule_create(tenant=tenant, user=None, spec=RuleSpec(kind=AssignmentRule.Kind.TITLE_KEYWORD, value="kickoff",
                                                        activity=kickoffs))  # fmt: skip
    assert rules_apply(tenant=tenant, start=date(2026, 11, 24), end=date(2026, 11, 24)) == (2, 1)
    assert sync_now(integration, run_on_commit).status == "success"

    plain = _private(google, email, "plain@x")
    assert (plain["calsyncClient"], plain["calsyncActivity"]) == ("Globex", "Kickoff")
    assert _private(google, email, "set@x")["calsyncClient"] == "Initech"  # assigned already: left alone
    assert Event.objects.get(uid="set@x").client == "Initech"
    assert RuleMatch.objects.filter(event__uid="plain@x").count() == 2

    assert rules_apply(tenant=tenant, start=date(2026, 11, 24), end=date(2026, 11, 24), overwrite=True) == (2, 1)
    assert sync_now(integration, run_on_commit).status == "success"
    assert _private(google, email, "set@x")["calsyncClient"] == "Globex"


def test_a_one_way_sync_into_calsync_keeps_the_assignment_without_churn(member_client, calendar, google,
                                                                        run_on_commit, acme) -> None:  # fmt: skip
    """To calsync only: Google is never written, so what the rules set stays in calsync, recorded as synced (not
    put back over with Google's version, run after run)."""
    email = "rules.oneway@example.com"
    _in_google(google, email, "in@x", "ann@acme.example")
    integration = connect(member_client, google, email, calendar, run_on_commit, direction="to_calsync")
    stored = Event.objects.get(calendar=calendar, uid="in@x", parent=None)
    assert stored.client_ref_id == acme.pk

    for _ in range(2):
        assert sync_now(integration, run_on_commit).status == "success"
    assert Event.objects.get(pk=stored.pk).seq == stored.seq
    assert "calsyncClient" not in _private(google, email, "in@x")
    integration.refresh_from_db()
    assert integration.next_sync_at > timezone.now()
