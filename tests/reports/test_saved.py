"""Saved reports: saved from the page, opened by their owner and by whom they are shared with, changed only by
their owner, never reachable from another organisation; and the report rules page for admins."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from business.services import settings_for
from reports import services
from reports.models import SavedReport

pytestmark = pytest.mark.django_db

NOVEMBER = "range=custom&start=2026-11-01&end=2026-11-30&group_by=client"


def _save(client, name: str = "Clients in November", follow: bool = False, **extra):  # type: ignore[no-untyped-def]
    return client.post("/reports/saved/new/", {"params": NOVEMBER, "name": name, **extra}, follow=follow)


def _signed_in(person) -> Client:  # type: ignore[no-untyped-def]
    """A second browser: the member_client and admin_client_ fixtures share one test client."""
    browser = Client()
    browser.force_login(person)
    return browser


def test_a_report_is_saved_with_its_query_and_opens_again(member_client, member):
    response = _save(member_client)

    saved = SavedReport.objects.get()
    assert (saved.owner, saved.tenant, saved.name) == (member, member.tenant, "Clients in November")
    assert saved.params == {"range": ["custom"], "start": ["2026-11-01"], "end": ["2026-11-30"], "group_by": ["client"]}
    assert response.status_code == 302
    opened = member_client.get(f"/reports/saved/{saved.pk}/", follow=True)
    assert opened.context["form"].cleaned_data["first_day"] == date(2026, 11, 1)
    assert "Clients in November" in opened.content.decode()


def test_a_shared_report_is_listed_and_opened_by_the_colleague_but_changed_only_by_its_owner(
    member_client, member, colleague
):
    _save(member_client, shared_with=[colleague.pk])
    saved = SavedReport.objects.get()
    client = _signed_in(colleague)

    page = client.get("/reports/")
    assert "Clients in November" in page.content.decode()
    assert "shared by member@acme.test" in page.content.decode()
    assert client.get(f"/reports/saved/{saved.pk}/").status_code == 302
    edit = client.get(f"/reports/saved/{saved.pk}/edit/")
    assert edit.status_code == 403
    assert "Only the person who saved this report can change it." in edit.content.decode()
    assert client.post(f"/reports/saved/{saved.pk}/delete/").status_code == 403
    assert SavedReport.objects.filter(pk=saved.pk).exists()


def test_an_unshared_report_is_not_found_by_a_colleague_nor_by_another_organisation(member_client, colleague, outsider):
    _save(member_client)
    saved = SavedReport.objects.get()
    for person in (colleague, outsider):
        client = _signed_in(person)
        assert client.get(f"/reports/saved/{saved.pk}/").status_code == 404
        assert client.get(f"/reports/saved/{saved.pk}/edit/").status_code == 404
        assert client.post(f"/reports/saved/{saved.pk}/delete/").status_code == 404
        assert "Clients in November" not in client.get("/reports/").content.decode()


def test_a_shared_report_is_read_with_the_openers_own_permissions(admin_client_, member, admin_user):
    admin_client_.post("/reports/saved/new/", {"params": f"{NOVEMBER}&user={admin_user.pk}", "name": "Mine",
                                               "shared_with": [member.pk]})  # fmt: skip
    saved = SavedReport.objects.get()
    client = _signed_in(member)

    response = client.get(f"/reports/saved/{saved.pk}/", follow=True)

    assert response.status_code == 403
    assert "You can see only your own time" in response.content.decode()


def test_sharing_outside_the_organisation_is_refused(member_client, member, outsider):
    response = _save(member_client, shared_with=[outsider.pk], follow=True)

    assert not SavedReport.objects.exists()
    assert "Select a valid choice" in response.content.decode()
    with pytest.raises(ValidationError, match="only within your organisation"):
        services.saved_report_create(owner=member, name="x", params={}, recipients=[outsider])


def test_the_owner_changes_sharing_and_the_monthly_email_then_deletes_it(member_client, member, colleague):
    _save(member_client)
    saved = SavedReport.objects.get()

    missing = member_client.post(f"/reports/saved/{saved.pk}/edit/", {"name": "Renamed", "email_monthly": "on"})
    assert "Choose who receives the monthly email." in missing.content.decode()
    member_client.post(f"/reports/saved/{saved.pk}/edit/",
                       {"name": "Renamed", "email_monthly": "on", "recipients": [member.pk, colleague.pk],
                        "shared_with": [colleague.pk]})  # fmt: skip
    saved.refresh_from_db()
    assert (saved.name, saved.email_monthly) == ("Renamed", True)
    assert set(saved.recipients.all()) == {member, colleague}
    assert list(saved.shared_with.all()) == [colleague]

    member_client.post(f"/reports/saved/{saved.pk}/delete/")
    assert not SavedReport.objects.exists()


def test_a_second_report_of_the_same_name_is_refused_clearly(member_client):
    _save(member_client)
    response = _save(member_client, follow=True)

    assert SavedReport.objects.count() == 1
    assert "You already have a saved report with this name." in response.content.decode()


def test_saving_a_broken_query_says_why(member_client):
    response = member_client.post("/reports/saved/new/", {"params": "range=custom&start=2026-11-30&end=2026-11-01",
                                                          "name": "Backwards"}, follow=True)  # fmt: skip

    assert not SavedReport.objects.exists()
    assert "The last day comes before the first." in response.content.decode()


def test_admins_set_the_report_rules_members_may_not(admin_client_, member, tenant):
    assert _signed_in(member).get("/reports/rules/").status_code == 403

    bad = admin_client_.post("/reports/rules/", {"all_day_rule": "workday", "all_day_hours": "30",
                                                 "overlap_rule": "once"})  # fmt: skip
    assert "A working day has more than 0 and at most 24 hours." in bad.content.decode()
    admin_client_.post("/reports/rules/", {"all_day_rule": "full", "all_day_hours": "7.5", "overlap_rule": "once"})

    rules = settings_for(tenant)
    assert (rules.all_day_rule, rules.all_day_hours, rules.overlap_rule) == ("full", Decimal("7.5"), "once")


def test_the_owner_keeps_changed_settings_in_a_saved_report_others_may_not(member_client, member, colleague):
    _save(member_client, shared_with=[colleague.pk])
    saved = SavedReport.objects.get()
    opened = member_client.get(f"/reports/?{NOVEMBER}&saved={saved.pk}")
    assert 'data-testid="update-saved"' in opened.content.decode()

    by_activity = "range=last_month&group_by=activity"
    assert _signed_in(colleague).post(f"/reports/saved/{saved.pk}/query/", {"params": by_activity}).status_code == 403
    member_client.post(f"/reports/saved/{saved.pk}/query/", {"params": by_activity})

    saved.refresh_from_db()
    assert saved.params == {"range": ["last_month"], "group_by": ["activity"]}
