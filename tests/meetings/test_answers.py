"""Answers: on the event page, from an email's signed link, and as iMIP REPLY emails at a signed address."""

from __future__ import annotations

import io
import time
from email.message import EmailMessage
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from events.models import Event
from meetings import links

from .conftest import EXTERNAL

pytestmark = pytest.mark.django_db


def _answers(calendar, uid) -> dict[str, str]:  # type: ignore[no-untyped-def]
    event = Event.objects.get(calendar=calendar, uid=uid, parent=None)
    return {a["email"]: a["partstat"] for a in event.attendees}


def _reply(
    uid: str, attendee: str, partstat: str = "ACCEPTED", sender: str = "", to: str = "", method: str = "REPLY"
) -> bytes:
    """An iMIP REPLY as a calendar client sends it (RFC 6047 over RFC 5546 3.2.3)."""
    ics = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Example//Mail//EN", f"METHOD:{method}", "BEGIN:VEVENT",
        f"UID:{uid}", "DTSTAMP:20261201T120000Z", "SEQUENCE:0", "ORGANIZER:mailto:olga@acme.test",
        f"ATTENDEE;PARTSTAT={partstat}:mailto:{attendee}", "END:VEVENT", "END:VCALENDAR", "",
    ])  # fmt: skip
    message = EmailMessage()
    message["From"] = sender or attendee
    message["To"] = to or "olga@acme.test"
    message["Subject"] = "Accepted: Budget review"
    message.set_content("I'll be there.")
    message.add_attachment(ics.encode(), maintype="text", subtype="calendar", params={"method": method})
    return bytes(message)


# --- the event page -------------------------------------------------------------------------------------------


def test_a_colleague_answers_on_the_event_page_and_the_owner_sees_it(
    client, make_meeting, owner, colleague, owner_calendar, colleague_calendar
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    copy = Event.objects.get(calendar=colleague_calendar, uid=meeting.uid)
    client.force_login(colleague)
    page = client.get(reverse("events:event_detail", args=[copy.pk])).content.decode()
    assert "Olga Owner &lt;olga@acme.test&gt; owns this meeting" in page and ">Accept</button>" in page
    client.post(reverse("meetings:respond", args=[copy.pk]), {"answer": "tentative"})
    assert _answers(owner_calendar, meeting.uid)["carl@acme.test"] == "TENTATIVE"
    client.force_login(owner)
    mine = Event.objects.get(calendar=owner_calendar, uid=meeting.uid)
    page = client.get(reverse("events:event_detail", args=[mine.pk])).content.decode()
    assert 'data-testid="answer-carl@acme.test">tentative<' in page
    assert f'data-testid="answer-{EXTERNAL}">no answer yet<' in page


# --- the signed link --------------------------------------------------------------------------------------------


def test_the_link_in_the_email_shows_the_meeting_and_records_the_answer_without_login(
    client, make_meeting, owner_calendar, colleague_calendar
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    url = reverse("meetings:answer", args=[links.answer_token(meeting, EXTERNAL)])
    page = client.get(url)
    assert page.status_code == 200 and "Budget review" in page.content.decode()
    assert client.post(url, {"answer": "decline"}).status_code == 302
    assert _answers(owner_calendar, meeting.uid)[EXTERNAL] == "DECLINED"
    assert _answers(colleague_calendar, meeting.uid)[EXTERNAL] == "DECLINED"


def test_a_tampered_link_gets_a_clear_400(client, make_meeting) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    token = links.answer_token(meeting, EXTERNAL)
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    for url in (reverse("meetings:answer", args=[forged]), reverse("meetings:answer", args=["nonsense"])):
        response = client.post(url, {"answer": "accept"})
        assert response.status_code == 400 and "not valid" in response.content.decode()


def test_an_expired_link_says_so(client, make_meeting, monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    made = time.time() - (settings.MEETINGS_ANSWER_LINK_DAYS + 1) * 86400
    monkeypatch.setattr(time, "time", lambda: made)
    token = links.answer_token(meeting, EXTERNAL)
    monkeypatch.undo()
    response = client.get(reverse("meetings:answer", args=[token]))
    assert response.status_code == 400 and "expired" in response.content.decode()


def test_a_link_for_a_cancelled_meeting_says_so(client, make_meeting, owner_calendar, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    from events.services import item_delete

    meeting = make_meeting()
    with run_on_commit():
        item_delete(event=Event.objects.get(calendar=owner_calendar, uid=meeting.uid))
    response = client.get(reverse("meetings:answer", args=[links.answer_token(meeting, EXTERNAL)]))
    assert response.status_code == 410 and "cancelled" in response.content.decode()


# --- iMIP REPLY ---------------------------------------------------------------------------------------------------


@pytest.fixture
def replies(settings):  # type: ignore[no-untyped-def]
    settings.MEETINGS_REPLY_ADDRESS = "replies@calsync.test"


def _post(client, raw: bytes, to: str = "", **headers: str):  # type: ignore[no-untyped-def]
    url = reverse("meetings:inbound") + (f"?{urlencode({'to': to})}" if to else "")
    return client.generic("POST", url, raw, content_type="message/rfc822", headers=headers)


def test_a_reply_at_the_signed_address_records_the_answer(client, replies, make_meeting, owner_calendar) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    address = links.reply_address(meeting)
    response = _post(client, _reply(meeting.uid, EXTERNAL, "TENTATIVE", to=address))
    assert response.status_code == 202, response.content
    assert _answers(owner_calendar, meeting.uid)[EXTERNAL] == "TENTATIVE"


def test_the_envelope_recipient_names_the_meeting_when_the_headers_do_not(
    client, replies, make_meeting, owner_calendar
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    response = _post(client, _reply(meeting.uid, EXTERNAL), to=links.reply_address(meeting))
    assert response.status_code == 202
    assert _answers(owner_calendar, meeting.uid)[EXTERNAL] == "ACCEPTED"


def test_a_forged_reply_is_refused(client, replies, make_meeting, owner_calendar) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    address = links.reply_address(meeting)
    forged_address = address.replace(f"+m{meeting.pk}-", f"+m{meeting.pk}-0")
    cases = [
        (_reply(meeting.uid, EXTERNAL, to=forged_address), 403, "signature"),  # an address calsync did not make
        (_reply(meeting.uid, EXTERNAL, to="olga@acme.test"), 403, "reply address"),  # not sent to one at all
        (_reply(meeting.uid, EXTERNAL, sender="mallory@evil.test", to=address), 403, "sender"),  # for someone else
        (_reply(meeting.uid, "mallory@evil.test", to=address), 403, "not invited"),  # a stranger
    ]
    for raw, status, words in cases:
        response = _post(client, raw)
        assert response.status_code == status and words in response.content.decode(), response.content
    assert _answers(owner_calendar, meeting.uid)[EXTERNAL] == "NEEDS-ACTION"


def test_a_reply_for_an_unknown_uid_is_refused(client, replies, make_meeting) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    response = _post(client, _reply("someone-else@example.test", EXTERNAL, to=links.reply_address(meeting)))
    assert response.status_code == 404 and "No meeting with the UID" in response.content.decode()


def test_a_message_that_is_not_a_reply_is_refused_clearly(client, replies, make_meeting) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    raw = _reply(meeting.uid, EXTERNAL, to=links.reply_address(meeting), method="REQUEST")
    response = _post(client, raw)
    assert response.status_code == 400 and "Only iTIP REPLY" in response.content.decode()
    assert _post(client, b"Subject: hello\r\n\r\nno calendar here").status_code == 400


def test_the_shared_secret_is_required_when_set(client, replies, make_meeting, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MEETINGS_INBOUND_SECRET = "s3cret-for-the-mta"
    meeting = make_meeting()
    raw = _reply(meeting.uid, EXTERNAL, to=links.reply_address(meeting))
    assert _post(client, raw).status_code == 403
    assert _post(client, raw, **{"X-Calsync-Inbound-Secret": "s3cret-for-the-mta"}).status_code == 202


def test_the_operator_command_reads_a_reply_from_stdin(replies, make_meeting, owner_calendar, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    stdin = io.TextIOWrapper(io.BytesIO(_reply(meeting.uid, EXTERNAL, "DECLINED", to=links.reply_address(meeting))))
    monkeypatch.setattr("sys.stdin", stdin)
    out = io.StringIO()
    call_command("receive_imip", stdout=out)
    assert "Recorded the answer" in out.getvalue()
    assert _answers(owner_calendar, meeting.uid)[EXTERNAL] == "DECLINED"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(_reply(meeting.uid, EXTERNAL))))
    with pytest.raises(CommandError, match="reply address"):
        call_command("receive_imip")


def test_a_reply_address_of_one_meeting_cannot_answer_another(client, replies, make_meeting, owner_calendar) -> None:  # type: ignore[no-untyped-def]
    first, second = make_meeting(), make_meeting(title="Other")
    response = _post(client, _reply(second.uid, EXTERNAL, to=links.reply_address(first)))
    assert response.status_code == 404
    assert _answers(owner_calendar, second.uid)[EXTERNAL] == "NEEDS-ACTION"
