"""The monthly email of a saved report: last month in the organisation's zone, to the chosen people of the
tenant only, each seeing what they may see, the CSV attached, nothing secret, sent once per month."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core import mail

from reports import selectors, services, tasks
from reports.models import SavedReport
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

DECEMBER_1ST = datetime(2026, 12, 1, 7, 7, tzinfo=UTC)


@pytest.fixture
def monthly(admin_user, member, november):  # type: ignore[no-untyped-def]
    return services.saved_report_create(
        owner=admin_user, name="Clients by month", params={"range": ["this_year"], "group_by": ["client"]},
        email_monthly=True, recipients=[admin_user, member],
    )  # fmt: skip


def _run_beat(monkeypatch, now: datetime) -> int:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(tasks, "timezone", SimpleNamespace(now=lambda: now))
    return tasks.send_monthly_reports()


def _message_to(email: str):  # type: ignore[no-untyped-def]
    return next(m for m in mail.outbox if m.to == [email])


def _csv_rows(message) -> dict[str, str]:  # type: ignore[no-untyped-def]
    ((_name, content, mimetype),) = message.attachments
    assert mimetype == "text/csv"
    return {row[0]: row[1] for row in list(csv.reader(io.StringIO(content)))[1:]}


def _everything(message) -> str:  # type: ignore[no-untyped-def]
    return message.subject + message.body + message.alternatives[0][0] + message.attachments[0][1]


def test_last_months_report_goes_to_each_recipient_as_they_may_see_it(monkeypatch, monthly, book, calendar):
    book(calendar, "december", date(2026, 12, 1), 0, 5, "Acme")  # this month: not in the email

    assert _run_beat(monkeypatch, DECEMBER_1ST) == 1

    assert len(mail.outbox) == 2
    to_admin, to_member = _message_to("admin@acme.test"), _message_to("member@acme.test")
    assert to_admin.subject == "Clients by month: November 2026"
    assert to_admin.attachments[0][0] == "clients-by-month-2026-11.csv"
    assert _csv_rows(to_admin) == {"Acme": "5.0", "Initech": "4.0", "No client": "1.0", "Total": "10.0"}
    assert _csv_rows(to_member) == {"Acme": "3.0", "No client": "1.0", "Total": "4.0"}
    html = to_admin.alternatives[0][0]
    assert to_admin.alternatives[0][1] == "text/html"
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and "<table" in html
    assert "<script" not in html and "<style" not in html
    assert "Acme: 5 h" in to_admin.body
    assert "Initech" not in _everything(to_member)


def test_the_email_carries_no_titles_of_private_events_and_no_secrets(monkeypatch, monthly, calendar):
    _run_beat(monkeypatch, DECEMBER_1ST)

    for message in mail.outbox:
        text = _everything(message)
        for secret in ("member-secret", "colleague-initech", calendar.feed_token, "password", "sessionid", "token"):
            assert secret not in text
        assert "Globex" not in text


def test_it_is_sent_once_a_month(monkeypatch, monthly):
    _run_beat(monkeypatch, DECEMBER_1ST)
    assert _run_beat(monkeypatch, datetime(2026, 12, 2, 9, 7, tzinfo=UTC)) == 0
    assert services.monthly_report_send(saved_id=monthly.pk, now=DECEMBER_1ST) == 0
    assert len(mail.outbox) == 2

    _run_beat(monkeypatch, datetime(2027, 1, 1, 0, 7, tzinfo=UTC))
    assert len(mail.outbox) == 4
    assert {m.subject for m in mail.outbox[2:]} == {"Clients by month: December 2026"}


def test_only_active_people_of_the_organisation_receive_it(monkeypatch, monthly, member, other_tenant):
    member.tenant = other_tenant  # moved to another organisation after being chosen
    member.save(update_fields=["tenant"])

    _run_beat(monkeypatch, DECEMBER_1ST)

    assert [m.to for m in mail.outbox] == [["admin@acme.test"]]


def test_the_month_turns_at_midnight_in_the_organisations_zone(monkeypatch, monthly, tenant):
    tenant.timezone = "America/Los_Angeles"
    tenant.save(update_fields=["timezone"])

    # 06:07 UTC on the 1st is still the 30th of November in Los Angeles: November has not ended there.
    assert _run_beat(monkeypatch, datetime(2026, 12, 1, 6, 7, tzinfo=UTC)) == 0
    assert _run_beat(monkeypatch, datetime(2026, 12, 1, 9, 7, tzinfo=UTC)) == 1
    assert mail.outbox[0].subject == "Clients by month: November 2026"


def test_a_failed_send_is_tried_again_at_the_next_run(monkeypatch, monthly):
    monkeypatch.setattr(settings, "EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    monkeypatch.setattr(settings, "EMAIL_HOST", "127.0.0.1")
    monkeypatch.setattr(settings, "EMAIL_PORT", free_port())  # nothing listens: the connection is refused

    with pytest.raises(OSError):
        services.monthly_report_send(saved_id=monthly.pk, now=DECEMBER_1ST)
    monthly.refresh_from_db()
    assert monthly.last_sent_month is None
    assert selectors.monthly_due(DECEMBER_1ST) == [monthly.pk]


def test_recipients_are_chosen_among_the_organisations_people(admin_client_, outsider, member):
    admin_client_.post("/reports/saved/new/", {"params": "group_by=client", "name": "Monthly", "email_monthly": "on",
                                               "recipients": [outsider.pk]})  # fmt: skip
    assert not SavedReport.objects.exists()

    admin_client_.post("/reports/saved/new/", {"params": "group_by=client", "name": "Monthly", "email_monthly": "on",
                                               "recipients": [member.pk]})  # fmt: skip
    assert list(SavedReport.objects.get().recipients.all()) == [member]


def test_beat_runs_the_dispatch_on_the_first_days_of_the_month():
    entry = settings.CELERY_BEAT_SCHEDULE["email-monthly-reports"]
    assert entry["task"] == tasks.send_monthly_reports.name
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert schedule.day_of_month == {1, 2}


def test_a_recipient_opens_the_report_the_email_links_to(client, monthly, member, colleague):
    client.force_login(member)
    assert client.get(f"/reports/saved/{monthly.pk}/", follow=True).status_code == 200
    client.force_login(colleague)  # neither a recipient nor shared with
    assert client.get(f"/reports/saved/{monthly.pk}/").status_code == 404
