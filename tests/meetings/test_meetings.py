"""Creating a meeting, its copies, the invitations calsync sends (iMIP) and the answers coming back."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import icalendar
import pytest
from django.core import mail

from events.convert import item_from_event
from events.models import Event
from events.services import item_delete, item_save
from integrations.services import integration_create
from meetings import services
from tests.factories import CalendarFactory, UserFactory

from .conftest import END, EXTERNAL, START

pytestmark = pytest.mark.django_db


def _event(calendar, uid):  # type: ignore[no-untyped-def]
    return Event.objects.get(calendar=calendar, uid=uid, parent=None)


def _answers(event) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {a["email"]: a["partstat"] for a in event.attendees}


def _ics(message) -> icalendar.Calendar:  # type: ignore[no-untyped-def]
    part = next(p for p in message.message().walk() if p.get_content_type() == "text/calendar")
    return icalendar.Calendar.from_ical(part.get_payload(decode=True))


def test_the_meeting_lands_on_the_owners_calendar_and_a_copy_in_the_colleagues(
    make_meeting, owner_calendar, colleague_calendar
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    mine = _event(owner_calendar, meeting.uid)
    copy = _event(colleague_calendar, meeting.uid)
    assert mine.organizer == {"email": "olga@acme.test", "name": "Olga Owner"}
    assert _answers(mine) == {"carl@acme.test": "NEEDS-ACTION", EXTERNAL: "NEEDS-ACTION"}
    assert copy.organizer == mine.organizer and _answers(copy) == _answers(mine)
    assert (copy.title, copy.start, copy.end) == ("Budget review", START, END)


def test_a_colleague_without_a_calendar_gets_one_for_the_copy(make_meeting, tenant) -> None:  # type: ignore[no-untyped-def]
    newcomer = UserFactory(tenant=tenant, email="new@acme.test")
    meeting = make_meeting("new@acme.test", title="Hello")
    assert Event.objects.get(calendar__owner=newcomer, uid=meeting.uid).calendar.name == "My calendar"


def test_calsync_sends_an_imip_request_when_no_provider_does(make_meeting) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    assert sorted(m.to[0] for m in mail.outbox) == ["carl@acme.test", EXTERNAL]
    message = next(m for m in mail.outbox if m.to == [EXTERNAL])
    calendar = _ics(message)
    event = calendar.walk("VEVENT")[0]
    # RFC 5546 3.2.2: METHOD, ORGANIZER, ATTENDEE, UID, DTSTAMP, SEQUENCE, DTSTART, SUMMARY.
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == meeting.uid
    assert str(event["ORGANIZER"]) == "mailto:olga@acme.test"
    assert event["ORGANIZER"].params["SENT-BY"] == "mailto:noreply@localhost"
    attendees = {str(a): a.params for a in event["ATTENDEE"]}
    assert attendees["mailto:guest@elsewhere.test"]["PARTSTAT"] == "NEEDS-ACTION"
    assert attendees["mailto:guest@elsewhere.test"]["RSVP"] == "TRUE"
    assert int(event["SEQUENCE"]) == 0 and "DTSTAMP" in event
    assert event.decoded("DTSTART") == START


def test_the_email_comes_from_the_organisations_sender_with_replies_to_a_signed_address(
    owner, make_meeting, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.MEETINGS_REPLY_ADDRESS = "replies@calsync.test"
    services.sender_update(tenant=owner.tenant, name="Acme meetings", email="meetings@acme.test")
    meeting = make_meeting(EXTERNAL)
    (message,) = mail.outbox
    raw = message.message()
    assert raw["From"] == "Acme meetings <meetings@acme.test>"
    assert raw["Reply-To"].startswith(f"replies+m{meeting.pk}-") and raw["Reply-To"].endswith("@calsync.test")
    assert message.subject == "Invitation: Budget review"
    part = next(p for p in raw.walk() if p.get_content_type() == "text/calendar")
    # RFC 6047 2.4: the method parameter matches the METHOD inside.
    assert part.get_param("method") == "REQUEST" and part.get_content_charset() == "utf-8"
    assert "/meetings/answer/" in message.body
    assert _ics(message).walk("VEVENT")[0]["ORGANIZER"].params["SENT-BY"] == "mailto:meetings@acme.test"


def test_the_default_sender_is_the_servers_address(tenant, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEFAULT_FROM_EMAIL = "calsync <noreply@calsync.test>"
    assert services.sender_for(tenant) == "calsync <noreply@calsync.test>"


def _connect(owner, calendar, provider: str, account: str, **extra: str) -> None:  # type: ignore[no-untyped-def]
    """The owner's calendar synced with a provider under `account`."""
    integration_create(
        user=owner, provider=provider, calendar=calendar, remote_calendar_id="primary",
        remote_calendar_name="Calendar", sync_enabled=True, config={"account": account}, **extra,
    )  # fmt: skip


def test_a_provider_that_sends_invitations_means_calsync_sends_none(owner, owner_calendar, make_meeting) -> None:  # type: ignore[no-untyped-def]
    _connect(owner, owner_calendar, "google", "Olga@acme.test")
    make_meeting()
    assert mail.outbox == []


def test_a_provider_account_under_another_address_does_not_send_so_calsync_does(
    owner, owner_calendar, make_meeting
) -> None:  # type: ignore[no-untyped-def]
    _connect(owner, owner_calendar, "microsoft", "olga.private@outlook.example")
    make_meeting()
    assert len(mail.outbox) == 2


def test_a_calendar_only_read_from_google_does_not_send(owner, owner_calendar, make_meeting) -> None:  # type: ignore[no-untyped-def]
    _connect(owner, owner_calendar, "google", "olga@acme.test", direction="to_calsync")
    make_meeting()
    assert len(mail.outbox) == 2


def test_the_owners_change_of_time_reaches_copies_and_goes_out_with_a_higher_sequence(
    make_meeting, owner_calendar, colleague_calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    mail.outbox.clear()
    item = item_from_event(_event(owner_calendar, meeting.uid))
    later = replace(item.master, start=START + timedelta(hours=2), end=END + timedelta(hours=2))
    with run_on_commit():
        item_save(calendar=owner_calendar, item=replace(item, master=later))
    assert _event(colleague_calendar, meeting.uid).start == START + timedelta(hours=2)
    assert {m.subject for m in mail.outbox} == {"Updated invitation: Budget review"}
    assert int(_ics(mail.outbox[0]).walk("VEVENT")[0]["SEQUENCE"]) == 1


def test_an_answer_alone_sends_no_update(make_meeting, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    mail.outbox.clear()
    with run_on_commit():
        services.meeting_answer(meeting=meeting, email=EXTERNAL, partstat="ACCEPTED")
    assert mail.outbox == []


def test_deleting_the_meeting_cancels_it_for_everyone(
    make_meeting, owner_calendar, colleague_calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    mail.outbox.clear()
    with run_on_commit():
        item_delete(event=_event(owner_calendar, meeting.uid))
    assert not Event.objects.filter(uid=meeting.uid).exists()
    assert {m.subject for m in mail.outbox} == {"Cancelled: Budget review"}
    calendar = _ics(mail.outbox[0])
    event = calendar.walk("VEVENT")[0]
    # RFC 5546 3.2.5: METHOD:CANCEL, STATUS:CANCELLED, a higher SEQUENCE, the attendees told.
    assert str(calendar["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == 1 and str(event["UID"]) == meeting.uid
    assert mail.outbox[0].message().get_content_type() == "multipart/mixed"


def test_an_answer_updates_the_owners_copy_and_every_colleagues(
    make_meeting, owner_calendar, colleague_calendar, tenant
) -> None:  # type: ignore[no-untyped-def]
    third = UserFactory(tenant=tenant, email="tia@acme.test")
    third_calendar = CalendarFactory(owner=third)
    meeting = make_meeting("carl@acme.test", "tia@acme.test")
    services.meeting_answer(meeting=meeting, email="carl@acme.test", partstat="DECLINED")
    for calendar in (owner_calendar, colleague_calendar, third_calendar):
        assert _answers(_event(calendar, meeting.uid))["carl@acme.test"] == "DECLINED"


def test_someone_not_invited_cannot_answer(make_meeting) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    with pytest.raises(services.MeetingError, match="not invited"):
        services.meeting_answer(meeting=meeting, email="nobody@acme.test", partstat="ACCEPTED")


def test_a_person_of_another_organisation_with_an_invited_address_gets_no_copy(make_meeting, outsider) -> None:  # type: ignore[no-untyped-def]
    CalendarFactory(owner=outsider)
    meeting = make_meeting(outsider.email, title="Internal")
    assert not Event.objects.filter(calendar__owner=outsider, uid=meeting.uid).exists()
    assert [m.to for m in mail.outbox] == [[outsider.email]]  # an outsider is simply an external guest


def test_an_all_day_meeting_without_an_end_is_still_sent(make_meeting, owner_calendar, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting(EXTERNAL)
    mail.outbox.clear()
    item = item_from_event(_event(owner_calendar, meeting.uid))
    all_day = replace(item.master, start=START.date(), end=None)
    with run_on_commit():
        item_save(calendar=owner_calendar, item=replace(item, master=all_day))
    (message,) = mail.outbox
    assert "When: Tuesday 08 December 2026 (all day)" in message.body
    assert _ics(message).walk("VEVENT")[0].decoded("DTSTART") == START.date()


def test_a_person_removed_from_the_meeting_is_sent_a_cancel(
    make_meeting, owner_calendar, colleague_calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    mail.outbox.clear()
    item = item_from_event(_event(owner_calendar, meeting.uid))
    kept = tuple(a for a in item.master.attendees if a.email == "carl@acme.test")
    with run_on_commit():
        item_save(calendar=owner_calendar, item=replace(item, master=replace(item.master, attendees=kept)))
    # RFC 5546 3.2.5: "the 'Organizer' MUST send the removed 'Attendee' a CANCEL" (naming only that attendee);
    # https://www.rfc-editor.org/rfc/rfc5546#section-3.2.5 . The people still invited get the update.
    by_subject = {m.subject: m for m in mail.outbox}
    assert set(by_subject) == {"Cancelled: Budget review", "Updated invitation: Budget review"}
    cancel = by_subject["Cancelled: Budget review"]
    assert cancel.to == [EXTERNAL] and "carl@acme.test" in by_subject["Updated invitation: Budget review"].to[0]
    event = _ics(cancel).walk("VEVENT")[0]
    assert str(_ics(cancel)["METHOD"]) == "CANCEL" and str(event["UID"]) == meeting.uid
    assert [str(a).lower() for a in [event["ATTENDEE"]]] == [f"mailto:{EXTERNAL}"]
    assert int(event["SEQUENCE"]) == 1


def test_a_colleague_deleting_their_copy_declines_the_meeting(
    make_meeting, owner_calendar, colleague_calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    with run_on_commit():
        item_delete(event=_event(colleague_calendar, meeting.uid))
    # The owner learns of it as an answer (PARTSTAT=DECLINED) rather than silence, and the copy stays deleted.
    assert _answers(_event(owner_calendar, meeting.uid))["carl@acme.test"] == "DECLINED"
    assert not Event.objects.filter(calendar=colleague_calendar, uid=meeting.uid).exists()
    assert not Event.objects.filter(calendar__owner=colleague_calendar.owner, uid=meeting.uid).exists()
