"""Live free/busy from connected provider calendars, through their own free/busy APIs on the emulators and a
real CalDAV server, merged with calsync's calendars; a provider that cannot answer is reported, not read as free."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.models import Integration
from integrations.services import integration_create
from scheduling import freebusy, selectors
from tests.factories import CalendarFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 24, tzinfo=UTC)
END = START + timedelta(days=2)


def _busy(viewer, person):  # type: ignore[no-untyped-def]
    access = selectors.access(viewer=viewer, people=[person])
    policy = selectors.policy_for(viewer.tenant)
    return freebusy.busy_for(people=[person], access=access, start=START, end=END, policy=policy)[person.pk]


def _connect(person, provider: str, remote: str, config=None, credentials=None) -> Integration:  # type: ignore[no-untyped-def]
    calendar = CalendarFactory(owner=person)
    return integration_create(user=person, provider=provider, calendar=calendar, remote_calendar_id=remote,
                              remote_calendar_name=remote, config=config or {}, credentials=credentials or {},
                              automatic=False)  # fmt: skip


# https://developers.google.com/calendar/api/v3/reference/freebusy/query
def test_google_busy_time_arrives_live_before_any_sync(member, tenant, google, google_account) -> None:  # type: ignore[no-untyped-def]
    from integrations.google.client import GoogleApi, user_credentials_from

    email, tokens = google_account
    _connect(member, "google", email, credentials=tokens)
    api = GoogleApi(user_credentials_from(tokens))
    body = {"summary": "Only in Google", "start": {"dateTime": "2026-11-24T09:00:00Z"},
            "end": {"dateTime": "2026-11-24T10:00:00Z"}}  # fmt: skip
    api.execute(api.service.events().insert(calendarId=email, body=body))
    [block] = _busy(member, member).blocks
    assert (block.start, block.end, block.kind, block.title, block.source) == (
        datetime(2026, 11, 24, 9, tzinfo=UTC),
        datetime(2026, 11, 24, 10, tzinfo=UTC),
        "busy",
        "",
        "Google Calendar",
    )


def test_a_google_calendar_that_cannot_be_read_is_reported_not_taken_as_free(member, google, google_account) -> None:  # type: ignore[no-untyped-def]
    email, tokens = google_account
    _connect(member, "google", "not-shared-with-me@example.com", credentials=tokens)
    busy = _busy(member, member)
    assert busy.blocks == [] and "notFound" in busy.problems[0]
