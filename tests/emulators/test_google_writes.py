# ruff: noqa: F811  (the api fixture comes from test_google_emulator, imported by name as pytest needs)
"""The Google emulator writes as Google documents: patch semantics, status event types, extended property limits,
and the emails sendUpdates asks for, recorded in sent_invitations. Through google-api-python-client itself."""

from __future__ import annotations

import niquests
import pytest
from googleapiclient.errors import HttpError

from tests.emulators.test_google_emulator import _event, _reason, api  # noqa: F401 (api: the fixture)


@pytest.fixture(autouse=True)
def _nothing_sent_yet(google) -> None:  # type: ignore[no-untyped-def]
    google.state.sent_invitations.clear()


def test_patch_merges_objects_replaces_arrays_and_null_deletes(api) -> None:  # type: ignore[no-untyped-def]
    """Patch semantics: fields left out stay, nested objects merge, arrays are replaced, null deletes.
    https://developers.google.com/calendar/api/guides/performance#patch
    https://developers.google.com/calendar/api/v3/reference/events/patch"""
    events = api.service.events()
    created = events.insert(calendarId="primary", body=_event(
        "Review", colorId="5", guestsCanModify=True, location="Room 1",
        extendedProperties={"private": {"calsyncClient": "Acme", "otherApp": "keep"}},
        attendees=[{"email": "a@example.com"}, {"email": "b@example.com"}],
        conferenceData={"entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/abc"}]},
    )).execute()  # fmt: skip
    patched = events.patch(calendarId="primary", eventId=created["id"], body={
        "summary": "Review (moved)", "location": None, "attendees": [{"email": "c@example.com"}],
        "extendedProperties": {"private": {"calsyncClient": None, "calsyncProject": "Roof"}},
    }).execute()  # fmt: skip
    assert patched["summary"] == "Review (moved)" and "location" not in patched
    assert patched["colorId"] == "5" and patched["guestsCanModify"] is True
    assert patched["conferenceData"]["entryPoints"][0]["uri"] == "https://meet.google.com/abc"
    assert [a["email"] for a in patched["attendees"]] == ["c@example.com"]
    assert patched["extendedProperties"]["private"] == {"otherApp": "keep", "calsyncProject": "Roof"}
    # update (PUT) replaces: what it leaves out is gone.
    replaced = events.update(calendarId="primary", eventId=created["id"], body=_event("Plain")).execute()
    assert "colorId" not in replaced and "extendedProperties" not in replaced


def test_extended_properties_drop_long_keys_and_truncate_long_values(api) -> None:  # type: ignore[no-untyped-def]
    """https://developers.google.com/calendar/api/guides/extended-properties"""
    body = _event("Limits", extendedProperties={"private": {"k" * 45: "dropped", "long": "x" * 2000}})
    created = api.service.events().insert(calendarId="primary", body=body).execute()
    assert created["extendedProperties"]["private"] == {"long": "x" * 1024}


def test_status_events_only_on_primary_calendars_and_their_type_stays(api) -> None:  # type: ignore[no-untyped-def]
    """Focus time, out of office and working location: primary calendars only, OOF and focus time timed and opaque,
    working location public and transparent; eventType cannot change after creation.
    https://developers.google.com/calendar/api/guides/calendar-status
    https://developers.google.com/calendar/api/v3/reference/events#eventType"""
    events = api.service.events()
    team = next(c["id"] for c in api.service.calendarList().list().execute()["items"] if c["summary"] == "Team")
    oof = _event("Away", eventType="outOfOffice", outOfOfficeProperties={"autoDeclineMode": "declineNone"},
                 transparency="transparent")  # fmt: skip
    with pytest.raises(HttpError) as refused:
        events.insert(calendarId=team, body=oof).execute()
    assert _reason(refused.value) == (400, "eventTypeRestriction")
    allday = {**oof, "start": {"date": "2026-11-23"}, "end": {"date": "2026-11-24"}}
    with pytest.raises(HttpError):
        events.insert(calendarId="primary", body=allday).execute()
    created = events.insert(calendarId="primary", body=oof).execute()
    assert created["eventType"] == "outOfOffice" and created["transparency"] == "opaque"
    home = events.insert(calendarId="primary", body=_event("Home", eventType="workingLocation",
                         workingLocationProperties={"type": "homeOffice", "homeOffice": {}})).execute()  # fmt: skip
    assert (home["transparency"], home["visibility"]) == ("transparent", "public")
    kept = events.patch(calendarId="primary", eventId=created["id"], body={"summary": "Away (ski)"}).execute()
    assert kept["eventType"] == "outOfOffice" and kept["outOfOfficeProperties"] == {"autoDeclineMode": "declineNone"}
    with pytest.raises(HttpError) as changed:
        events.patch(calendarId="primary", eventId=created["id"], body={"eventType": "default"}).execute()
    assert _reason(changed.value) == (400, "eventTypeRestriction")
    plain = events.insert(calendarId="primary", body=_event("Plain")).execute()
    assert plain["eventType"] == "default"


def test_send_updates_decides_who_is_emailed(api, google) -> None:  # type: ignore[no-untyped-def]
    """sendUpdates all | externalOnly | none on insert, patch and delete; the default sends nothing.
    https://developers.google.com/calendar/api/v3/reference/events/insert#sendUpdates
    https://developers.google.com/calendar/api/v3/reference/events/patch
    https://developers.google.com/calendar/api/v3/reference/events/delete"""
    events, me = api.service.events(), api.email
    colleague = google.state.account("colleague@example.com")
    guests = [{"email": me}, {"email": colleague}, {"email": "outside@elsewhere.example"}]
    quiet = events.insert(calendarId="primary", body=_event("Quiet", attendees=guests)).execute()
    assert google.state.sent_invitations == []
    meeting = events.insert(calendarId="primary", body=_event("Plan", attendees=guests), sendUpdates="all").execute()
    sent = google.state.sent_invitations
    assert [(s["method"], s["to"]) for s in sent] == [("REQUEST", colleague), ("REQUEST", "outside@elsewhere.example")]
    assert sent[0] == {"method": "REQUEST", "to": colleague, "organizer": me, "subject": "Plan",
                       "event_id": meeting["id"], "ical_uid": meeting["iCalUID"]}  # fmt: skip
    sent.clear()
    events.patch(calendarId="primary", eventId=meeting["id"], body={"attendees": guests[:2]},
                 sendUpdates="externalOnly").execute()  # fmt: skip
    assert [(s["method"], s["to"]) for s in sent] == [("CANCEL", "outside@elsewhere.example")]
    sent.clear()
    events.delete(calendarId="primary", eventId=meeting["id"], sendUpdates="all").execute()
    events.delete(calendarId="primary", eventId=quiet["id"]).execute()
    assert [(s["method"], s["to"]) for s in sent] == [("CANCEL", colleague)]
    # The client library refuses another value itself; Google answers 400 to a raw request.
    with niquests.Session() as session:
        session.trust_env = False
        bad = session.post(
            f"{google.base_url}/calendar/v3/calendars/primary/events?sendUpdates=everyone",
            json=_event("X"),
            headers={"Authorization": f"Bearer {api.credentials.token}"},
            timeout=10,
        )
    assert bad.status_code == 400 and sent == [s for s in sent if s["subject"] != "X"]


def test_sent_invitations_over_the_control_api(api, google) -> None:  # type: ignore[no-untyped-def]
    api.service.events().insert(calendarId="primary", body=_event("Plan", attendees=[{"email": "x@elsewhere.example"}]),
                                sendUpdates="all").execute()  # fmt: skip
    with niquests.Session() as session:
        session.trust_env = False
        # The same URL and shape as the Graph and EWS emulators: a list of records, DELETE forgets them.
        listed = session.get(f"{google.base_url}/_emulator/sent_invitations", timeout=10).json()
        assert [(s["method"], s["to"]) for s in listed] == [("REQUEST", "x@elsewhere.example")]
        assert session.delete(f"{google.base_url}/_emulator/sent_invitations", timeout=10).json() == []
    assert google.state.sent_invitations == []
