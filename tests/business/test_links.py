"""Names on events link to the organisation's lists, however they are spelled and wherever they are written."""

from __future__ import annotations

import pytest

from business.models import Activity, Client, Project
from events import services
from events.ical import parse_calendar
from events.models import Event

pytestmark = pytest.mark.django_db


def _ics(uid: str, *, client: str = "", project: str = "", activity: str = "", extra: str = "") -> str:
    fields = "".join(
        f"{name}:{value}\r\n"
        for name, value in (
            ("X-CALSYNC-CLIENT", client), ("X-CALSYNC-PROJECT", project), ("X-CALSYNC-ACTIVITY-TYPE", activity)
        )
        if value
    )  # fmt: skip
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261102T090000Z\r\nDTEND:20261102T100000Z\r\n"
        f"SUMMARY:Work\r\n{fields}{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def _save(calendar, uid: str, **names: str) -> Event:  # type: ignore[no-untyped-def]
    item = parse_calendar(_ics(uid, **names))[0]
    return services.item_save(calendar=calendar, item=item).event


def test_a_name_nobody_listed_becomes_an_entry_and_the_same_name_again_finds_it(calendar):
    first = _save(calendar, "a", client="Acme  Corp", project="Website", activity="Design")
    second = _save(calendar, "b", client="acme corp", project="WEBSITE", activity="design")

    assert Client.objects.filter(tenant=calendar.tenant).count() == 1
    assert first.client_ref_id == second.client_ref_id
    assert first.project_ref_id == second.project_ref_id
    assert first.activity_ref_id == second.activity_ref_id
    assert first.project_ref.client_id == first.client_ref_id
    # Spelled as the list spells it, so every copy of the event reads the same.
    assert (second.client, second.project, second.activity_type) == ("Acme Corp", "Website", "Design")


def test_an_old_name_still_finds_a_renamed_entry(calendar):
    entry = Client.objects.create(tenant=calendar.tenant, name="Initech Ltd", aliases=["Initech"])

    event = _save(calendar, "a", client="initech")

    assert event.client_ref_id == entry.pk
    assert event.client == "Initech Ltd"


def test_lists_are_per_tenant(calendar, other_tenant):
    Client.objects.create(tenant=other_tenant, name="Acme")

    event = _save(calendar, "a", client="Acme")

    assert event.client_ref.tenant_id == calendar.tenant_id
    assert Client.objects.filter(name="Acme").count() == 2


def test_a_project_named_without_its_client_finds_the_only_project_of_that_name(calendar):
    acme = Client.objects.create(tenant=calendar.tenant, name="Acme")
    website = Project.objects.create(tenant=calendar.tenant, name="Website", client=acme)

    event = _save(calendar, "a", project="website")

    assert event.project_ref_id == website.pk
    assert event.client_ref_id is None


def test_the_same_project_name_under_two_clients_stays_two_projects(calendar):
    one = _save(calendar, "a", client="Acme", project="Website")
    two = _save(calendar, "b", client="Globex", project="Website")

    assert one.project_ref_id != two.project_ref_id
    assert Project.objects.filter(tenant=calendar.tenant, name="Website").count() == 2


def test_an_override_links_its_own_names(calendar):
    ics = _ics("s", client="Acme", extra="RRULE:FREQ=DAILY;COUNT=3\r\n").replace(
        "END:VCALENDAR",
        "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20261101T000000Z\r\nRECURRENCE-ID:20261103T090000Z\r\n"
        "DTSTART:20261103T090000Z\r\nDTEND:20261103T100000Z\r\nSUMMARY:Other\r\nX-CALSYNC-CLIENT:Globex\r\n"
        "END:VEVENT\r\nEND:VCALENDAR",
    )
    master = services.item_save(calendar=calendar, item=parse_calendar(ics)[0]).event

    override = master.overrides.get()
    assert master.client_ref.name == "Acme"
    assert override.client_ref.name == "Globex"
    assert not Activity.objects.exists()


def test_where_an_event_was_first_written_from_is_kept(calendar):
    with services.writes_from("google"):
        event = _save(calendar, "a")
    again = _save(calendar, "a", client="Acme")  # later edited in calsync

    assert event.origin == "google"
    assert again.origin == "google"
