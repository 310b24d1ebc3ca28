"""End to end: an owner connected to the Google emulator invites a colleague connected to the Microsoft 365
emulator and an external address. The colleague's copy lands in Outlook; each answers; the owner sees every
answer; the colleague's change of time in Outlook is refused and the owner's version stays everywhere."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from events.models import Calendar, Event
from meetings.models import Meeting
from tests.integrations import test_google as google_flow
from tests.integrations import test_microsoft as microsoft_flow

from .conftest import END, EXTERNAL, START

pytestmark = pytest.mark.django_db

OLGA_GOOGLE = "olga@acme.test"
CARL_OUTLOOK = "carl@acme.test"


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda s: None)
    monkeypatch.setattr("integrations.microsoft.client.time.sleep", lambda s: None)


def _answers(calendar, uid) -> dict[str, str]:  # type: ignore[no-untyped-def]
    event = Event.objects.get(calendar=calendar, uid=uid, parent=None)
    return {a["email"]: a["partstat"] for a in event.attendees}


@pytest.fixture
def connected(owner, colleague, owner_calendar, colleague_calendar, google, microsoft, run_on_commit):  # type: ignore[no-untyped-def]
    olga, carl = Client(), Client()
    olga.force_login(owner)
    carl.force_login(colleague)
    olga_google = google_flow.connect(olga, google, OLGA_GOOGLE, owner_calendar, run_on_commit)
    carl_outlook = microsoft_flow.connect(carl, microsoft, CARL_OUTLOOK, colleague_calendar, run_on_commit)
    return olga, carl, olga_google, carl_outlook


def _create(olga, run_on_commit) -> Meeting:  # type: ignore[no-untyped-def]
    form = {
        "calendar": Calendar.objects.get(name="Olga's work").pk,
        "title": "Budget review", "description": "Numbers for Q1", "timezone": "Europe/Berlin",
        "start": "2026-12-08T10:00", "end": "2026-12-08T11:00", "attendees": f"{CARL_OUTLOOK}\n{EXTERNAL}",
    }  # fmt: skip
    with run_on_commit():
        response = olga.post(reverse("meetings:new"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    return Meeting.objects.get()


def test_google_owner_microsoft_colleague_and_a_guest(  # type: ignore[no-untyped-def]
    connected, google, microsoft, owner_calendar, colleague_calendar, run_on_commit
) -> None:
    olga, carl, olga_google, carl_outlook = connected
    meeting = _create(olga, run_on_commit)
    # Google sends the invitations for a meeting its user organises: calsync sends none of its own.
    assert [m for m in mail.outbox if "Invitation" in m.subject] == []

    assert google_flow.sync_now(olga_google, run_on_commit).status == "success"
    in_google = next(e for e in google_flow.google_side(google, OLGA_GOOGLE).changes(None).changed
                     if e.uid == meeting.uid)  # fmt: skip
    assert in_google.item.master.organizer.email == OLGA_GOOGLE
    assert {a.email for a in in_google.item.master.attendees} == {CARL_OUTLOOK, EXTERNAL}

    # The colleague's copy lands in calsync and in Outlook.
    assert microsoft_flow.sync_now(carl_outlook, run_on_commit).status == "success"
    outlook = microsoft_flow.outlook(microsoft, CARL_OUTLOOK)
    in_outlook = next(e for e in outlook.changes(None).changed if e.uid == meeting.uid)
    assert (in_outlook.item.master.summary, in_outlook.item.master.start) == ("Budget review", START)

    # The colleague answers in calsync.
    copy = Event.objects.get(calendar=colleague_calendar, uid=meeting.uid)
    with run_on_commit():
        carl.post(reverse("meetings:respond", args=[copy.pk]), {"answer": "accept"})
    assert google_flow.sync_now(olga_google, run_on_commit).status == "success"
    in_google = google_flow.google_side(google, OLGA_GOOGLE).get(in_google.id)
    assert {a.email: a.partstat for a in in_google.item.master.attendees}[CARL_OUTLOOK] == "ACCEPTED"
    # The guest answers Google's email; Google records it on the organiser's event, which syncs back.
    guest_answered = tuple(replace(a, partstat="TENTATIVE") if a.email == EXTERNAL else a
                           for a in in_google.item.master.attendees)  # fmt: skip
    google_flow.google_side(google, OLGA_GOOGLE).update(
        in_google.id,
        replace(in_google.item, master=replace(in_google.item.master, attendees=guest_answered)),
        in_google.version,
    )
    assert google_flow.sync_now(olga_google, run_on_commit).status == "success"
    assert _answers(owner_calendar, meeting.uid) == {CARL_OUTLOOK: "ACCEPTED", EXTERNAL: "TENTATIVE"}
    assert _answers(colleague_calendar, meeting.uid)[EXTERNAL] == "TENTATIVE"
    page = olga.get(reverse("events:event_detail", args=[Event.objects.get(calendar=owner_calendar,
                                                                              uid=meeting.uid).pk]))  # fmt: skip
    assert 'answer-carl@acme.test">accepted<' in page.content.decode()
    assert 'answer-guest@elsewhere.test">tentative<' in page.content.decode()

    # The colleague moves the meeting in Outlook: refused, put back, logged; the owner's version stays.
    assert microsoft_flow.sync_now(carl_outlook, run_on_commit).status == "success"
    current = outlook.get(in_outlook.id)
    assert current is not None
    moved = replace(current.item.master, start=START + timedelta(hours=3), end=END + timedelta(hours=3))
    outlook.update(current.id, replace(current.item, master=moved), current.version)
    run = microsoft_flow.sync_now(carl_outlook, run_on_commit)
    assert run.status == "success", run.error
    assert outlook.get(in_outlook.id).item.master.start == START  # type: ignore[union-attr]
    assert Event.objects.get(calendar=colleague_calendar, uid=meeting.uid).start == START
    assert Event.objects.get(calendar=owner_calendar, uid=meeting.uid).start == START
    logged = " ".join(str(line.message) for line in run.entries.all())
    assert "Only the meeting's owner, Olga Owner <olga@acme.test>" in logged
    google_flow.sync_now(olga_google, run_on_commit)
    in_google = next(e for e in google_flow.google_side(google, OLGA_GOOGLE).changes(None).changed
                     if e.uid == meeting.uid)  # fmt: skip
    assert in_google.item.master.start == START


# The emulators record the emails Google and Microsoft would send (`sent_invitations`): the owner's provider
# invites everyone, the colleague's provider sends nothing for the copy.
def test_google_sends_the_invitations_and_microsoft_sends_none_for_the_copy(  # type: ignore[no-untyped-def]
    connected, google, microsoft, run_on_commit
) -> None:
    olga, _carl, olga_google, carl_outlook = connected
    google.state.sent_invitations.clear()
    microsoft.state.sent_invitations.clear()
    meeting = _create(olga, run_on_commit)
    google_flow.sync_now(olga_google, run_on_commit)
    microsoft_flow.sync_now(carl_outlook, run_on_commit)
    sent = {(s["method"], s["to"]) for s in google.state.sent_invitations if s["ical_uid"] == meeting.uid}
    assert sent == {("REQUEST", CARL_OUTLOOK), ("REQUEST", EXTERNAL)}
    assert all(s["organizer"] == OLGA_GOOGLE for s in google.state.sent_invitations)
    # The colleague's copy is organised elsewhere: Outlook sends nothing for it.
    assert microsoft.state.sent_invitations == []
