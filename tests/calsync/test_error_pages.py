"""Error pages: a 403 that says what is missing and who can grant it, 404 and 500 in the site's layout, and an
ordinary 403 that leaves no traceback in the log."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import Integration
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _production_errors(settings):  # type: ignore[no-untyped-def]
    settings.DEBUG = False  # Django shows its own technical pages with DEBUG on


def test_403_says_what_is_missing_and_names_the_admins(member_client, admin_user, tenant, outsider):
    admin_user.first_name, admin_user.last_name = "Ada", "Admin"
    admin_user.save()
    UserFactory(tenant=tenant, email="gone@acme.test", role="admin", is_active=False)

    response = member_client.get(reverse("admin_users"))

    assert response.status_code == 403
    page = response.content.decode()
    assert "Only your organisation&#x27;s admins can do this." in page
    assert "Ada Admin" in page and "mailto:admin@acme.test" in page
    assert "gone@acme.test" not in page  # no longer active: cannot grant anything
    assert outsider.email not in page  # another organisation's admin
    assert '<link rel="stylesheet"' in page and "sign-out" in page  # the site's layout, signed in


def test_403_for_the_only_admin_points_at_the_manage_pages(admin_client_, tenant):
    tenant.allowed_providers = ["google"]
    tenant.save()
    response = admin_client_.get(reverse("integrations:caldav_connect"))

    assert response.status_code == 403
    page = response.content.decode()
    assert "CalDAV is not enabled for Acme." in page
    assert "You are an admin of Acme" in page and reverse("admin_users") in page


def test_403_for_an_admin_names_the_other_admins(admin_client_, admin_user, tenant):
    UserFactory(tenant=tenant, email="boss@acme.test", role="admin")
    tenant.allowed_providers = ["google"]
    tenant.save()
    page = admin_client_.get(reverse("integrations:caldav_connect")).content.decode()
    assert "mailto:boss@acme.test" in page and f"mailto:{admin_user.email}" not in page


def test_403_logs_one_line_without_a_traceback(member_client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        member_client.get(reverse("admin_users"))
    records = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in records] == ["Forbidden (Permission denied): /manage/"]
    assert records[0].exc_info is None and records[0].exc_text is None


def test_the_console_shows_no_traceback_for_a_403(member_client, capsys):
    """Through the configured console handler: what an operator watching the server sees."""
    from calsync.logformat import ForbiddenWithoutTraceback

    logger = logging.getLogger("django.request")
    assert any(isinstance(f, ForbiddenWithoutTraceback) for f in logger.filters)
    member_client.get(reverse("admin_users"))
    err = capsys.readouterr().err
    assert "Traceback" not in err and "PermissionDenied" not in err


def test_404_in_the_sites_layout(member_client):
    response = member_client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page and "<code>/no/such/page/</code>" in page and "sign-out" in page


def test_404_for_another_users_calendar_is_the_same_page(client, outsider, calendar):
    client.force_login(outsider)
    response = client.get(reverse("events:calendar_edit", args=[calendar.pk]))
    assert response.status_code == 404
    assert "Page not found" in response.content.decode() and calendar.name not in response.content.decode()


@pytest.mark.urls("tests.calsync.error_urls")
def test_500_in_the_sites_style_without_the_request(member):
    client = Client(raise_request_exception=False)
    client.force_login(member)
    response = client.get("/boom/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page and "pico.min.css" in page
    assert member.email not in page and "a bug" not in page  # no session data, no exception text


@pytest.mark.urls("tests.calsync.error_urls")
def test_500_page_survives_missing_static_files(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path  # collectstatic never ran: no manifest, so {% static %} would raise
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page and "stylesheet" not in page


def test_a_stale_form_gets_the_sites_403_saying_what_to_do(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post(reverse("settings"), {"first_name": "X", "timezone": "UTC"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "reload the page and try once more" in page and "sign-out" in page
    assert "granters" not in page  # nobody needs to grant anything
    member.refresh_from_db()
    assert member.first_name != "X"


def test_a_script_asking_for_json_gets_the_refusal_as_json(member_client):
    """fetch() from the calendar grid or the type-ahead reads JSON: the same reason, not the page's HTML."""
    response = member_client.get(reverse("admin_users"), headers={"Accept": "application/json"})
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    assert response.json() == {"error": "Only your organisation's admins can do this.", "code": "forbidden"}


def test_a_script_asking_for_json_gets_a_404_as_json(client, outsider, member):
    home = CalendarFactory(owner=outsider, tenant=outsider.tenant)
    theirs = Integration.objects.create(tenant=outsider.tenant, user=outsider, calendar=home, provider="calsync",
                                        remote_calendar_id="1")  # fmt: skip
    client.force_login(member)
    response = client.get(reverse("integrations:status", args=[theirs.pk]), headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.json()["code"] == "not-found"
    page = client.get(reverse("integrations:status", args=[theirs.pk]), headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 404 and "Page not found" in page.content.decode()  # a browser's navigation: the page


def test_the_grid_refused_by_the_csrf_check_gets_json_saying_to_reload(member, calendar):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    body = {"title": "x", "calendar": calendar.pk, "start": "2026-11-25T09:00:00", "end": "2026-11-25T10:00:00"}
    response = client.post(reverse("events:grid_create"), body, content_type="application/json",
                           headers={"Accept": "application/json"})  # fmt: skip
    assert response.status_code == 403 and response.json()["code"] == "stale-form"
    assert "reload the page" in response.json()["error"]
