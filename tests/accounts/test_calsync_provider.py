"""'Another calsync calendar' is a provider the organisation allows or refuses, like every other."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from integrations.models import Integration

pytestmark = pytest.mark.django_db
EVERYTHING_ELSE = ["google", "microsoft", "exchange", "caldav"]


def _organisation(admin_client_, providers: list[str]):  # type: ignore[no-untyped-def]
    form = {"name": "Acme", "timezone": "Europe/Paris", "allowed_providers": providers}
    return admin_client_.post(reverse("admin_tenant"), form)


def _ticked(admin_client_) -> list[str]:  # type: ignore[no-untyped-def]
    return admin_client_.get(reverse("admin_tenant")).context["form"]["allowed_providers"].value()


def test_the_admin_switches_it_off_and_on_and_settings_follow(admin_client_, tenant, member, calendar) -> None:  # type: ignore[no-untyped-def]
    client = Client()  # the member's browser, beside the admin's
    client.force_login(member)
    assert "calsync" in _ticked(admin_client_)  # allowed from the start, like the others

    assert _organisation(admin_client_, EVERYTHING_ELSE).status_code == 302
    tenant.refresh_from_db()
    assert "calsync" not in tenant.allowed_providers and "calsync" not in _ticked(admin_client_)
    page = client.get(reverse("settings")).content.decode()
    entry = page.split("<strong>Another calsync calendar</strong>")[1].split("</li>")[0]
    assert "Not enabled for Acme." in entry and 'data-testid="connect-calsync"' not in page
    assert page.count("<strong>Another calsync calendar</strong>") == 1
    # Refused on the server too, whatever the page shows.
    assert client.get(reverse("integrations:connect_calsync")).status_code == 403
    other = member.calendars.create(tenant=tenant, name="Side")
    form = {"calendar": calendar.pk, "other": other.pk, "sync_enabled": "on", "direction": "both",
            "primary": "calsync", "automatic": "true", "error_email": member.email}  # fmt: skip
    assert client.post(reverse("integrations:connect_calsync"), form).status_code == 403
    assert not Integration.objects.exists()

    assert _organisation(admin_client_, [*EVERYTHING_ELSE, "calsync"]).status_code == 302
    assert "calsync" in _ticked(admin_client_)
    page = client.get(reverse("settings")).content.decode()
    entry = page.split("<strong>Another calsync calendar</strong>")[1].split("</li>")[0]
    assert "Not enabled" not in entry and 'data-testid="connect-calsync"' in entry
    assert client.post(reverse("integrations:connect_calsync"), form).status_code == 302
    assert Integration.objects.get().provider == "calsync"


def test_organisations_that_existed_keep_it_allowed(tenant) -> None:
    """It used to work whatever was ticked: the migration allows it wherever it was not listed."""
    migration = importlib.import_module("accounts.migrations.0003_tenant_allow_calsync_provider")
    tenant.allowed_providers = ["google"]
    tenant.save(update_fields=["allowed_providers"])
    migration.allow_calsync(apps, None)
    tenant.refresh_from_db()
    assert tenant.allowed_providers == ["google", "calsync"]
    migration.refuse_calsync(apps, None)
    tenant.refresh_from_db()
    assert tenant.allowed_providers == ["google"]
