"""Pages listing a run's log entries stay bounded for a run with 10,000 entries: rows per page, queries per page,
and the losing versions of conflicts read only when opened."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import User
from integrations.models import Integration
from sync.models import SyncLogEntry, SyncRun
from tests.factories import CalendarFactory

pytestmark = pytest.mark.django_db

ENTRIES = 10_000
LOST = "BEGIN:VCALENDAR\nSUMMARY:the losing text {n}\nEND:VCALENDAR"


@pytest.fixture
def big_run(member) -> SyncRun:  # type: ignore[no-untyped-def]
    calendar, other = CalendarFactory(owner=member), CalendarFactory(owner=member)
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="calsync",
                                             calendar=calendar, remote_calendar_id=str(other.pk))  # fmt: skip
    run = SyncRun.objects.create(tenant=member.tenant, integration=integration, trigger="first", status="partial")
    SyncLogEntry.objects.bulk_create(
        (
            SyncLogEntry(run=run, action="conflict", level="warning", uid=f"u{n}", title=f"Meeting {n}",
                         message=f"Conflict on Meeting {n}: calsync won.", detail=LOST.format(n=n))
            if n % 10 == 0
            else SyncLogEntry(run=run, action="created", uid=f"u{n}", title=f"Meeting {n}",
                              message=f"Meeting {n} created in calsync.")
        )
        for n in range(ENTRIES)
    )  # fmt: skip
    return run


def _rows(html: str) -> int:
    return html.count('data-testid="entry-row"')


def test_the_run_page_shows_one_page_of_entries_in_few_queries(client, member, big_run,
                                                               django_assert_max_num_queries) -> None:  # fmt: skip
    client.force_login(member)
    url = reverse("integrations:run_detail", args=[big_run.pk])
    with django_assert_max_num_queries(12):
        first = client.get(url).content.decode()
    assert _rows(first) == 100 and "Page 1 of 100" in first
    assert "the losing text" not in first  # only a link to each losing version
    assert first.count("The version that lost") == 10
    with django_assert_max_num_queries(12):
        last = client.get(url, {"page": 100}).content.decode()
    assert _rows(last) == 100 and "Meeting 9999" in last and "Meeting 0 " not in last


def test_filters_are_kept_across_pages(client, member, big_run) -> None:
    client.force_login(member)
    url = reverse("integrations:run_detail", args=[big_run.pk])
    page = client.get(url, {"level": "warning", "page": 2}).content.decode()
    assert _rows(page) == 100 and "Page 2 of 10" in page
    assert "Meeting 1000" in page and "created in calsync" not in page
    assert "?level=warning&page=3" in page and "?level=warning&page=1" in page
    found = client.get(url, {"q": "Meeting 999"}).content.decode()  # 999 and 9990..9999
    assert _rows(found) == 11
    assert client.get(url, {"q": "nothing like it"}).content.decode().count("No entries match.") == 1
    for nonsense in ({"page": "x"}, {"page": "-1"}, {"level": "loud"}, {"q": "x" * 5000}):
        assert client.get(url, nonsense).status_code == 200


def test_a_losing_version_is_read_when_opened(client, member, big_run) -> None:
    client.force_login(member)
    entry = big_run.entries.get(uid="u40")
    page = client.get(reverse("integrations:lost_version", args=[big_run.pk, entry.pk])).content.decode()
    assert "SUMMARY:the losing text 40" in page
    plain = big_run.entries.get(uid="u41")  # no losing version: nothing to open
    assert client.get(reverse("integrations:lost_version", args=[big_run.pk, plain.pk])).status_code == 404


def test_the_operator_admin_pages_entries_instead_of_inlining_them(client, big_run,
                                                                   django_assert_max_num_queries) -> None:  # fmt: skip
    operator = User.objects.create_superuser(email="ops@example.test", password="x" * 20)
    client.force_login(operator)
    with django_assert_max_num_queries(15):
        run_page = client.get(reverse("admin:sync_syncrun_change", args=[big_run.pk])).content.decode()
    assert "Meeting 5" not in run_page and f"{ENTRIES} entries" in run_page
    entries_url = reverse("admin:sync_synclogentry_changelist") + f"?run__id__exact={big_run.pk}"
    assert entries_url.replace("&", "&amp;") in run_page or entries_url in run_page
    with django_assert_max_num_queries(15):
        listing = client.get(entries_url).content.decode()
    assert listing.count('class="field-created_at') == 100 and "the losing text" not in listing
    entry = big_run.entries.get(uid="u30")
    detail = client.get(reverse("admin:sync_synclogentry_change", args=[entry.pk])).content.decode()
    assert "the losing text 30" in detail


def test_the_admin_log_filter_asks_for_an_id_when_there_are_too_many_to_list(client, admin_user, big_run,
                                                                               monkeypatch) -> None:  # fmt: skip
    from sync import views

    client.force_login(admin_user)
    url = reverse("integrations:admin_logs")
    listed = client.get(url).content.decode()
    assert '<select name="integration">' in listed and '<select name="user">' in listed
    monkeypatch.setattr(views, "FILTER_CHOICES_MAX", 1)  # the tenant has two users and one integration
    page = client.get(url, {"integration": str(big_run.integration_id)}).content.decode()
    assert '<select name="integration">' in page and 'name="user" min="1"' in page
    assert page.count('data-testid="run-row"') == 1 and "Page 1" not in page
