from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_admin_adds_a_user_who_gets_the_tenant_default_right_and_a_calendar(admin_client_, tenant) -> None:  # type: ignore[no-untyped-def]
    tenant.default_can_setup_integrations = False
    tenant.save()
    response = admin_client_.post(
        reverse("admin_user_create"),
        {"email": "New.Person@Acme.test", "role": "member", "password": "a sturdy passphrase 42"},
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.person@acme.test")
    assert user.tenant == tenant and not user.can_setup_integrations
    assert user.calendars.count() == 1


def test_taken_email_and_weak_password_are_explained(admin_client_, member) -> None:  # type: ignore[no-untyped-def]
    response = admin_client_.post(
        reverse("admin_user_create"), {"email": member.email.upper(), "role": "member", "password": "a sturdy pass 42"}
    )
    assert "already exists" in response.content.decode()
    response = admin_client_.post(
        reverse("admin_user_create"), {"email": "x@acme.test", "role": "member", "password": "123"}
    )
    assert response.status_code == 200 and "too short" in response.content.decode()
    assert not User.objects.filter(email="x@acme.test").exists()


def test_admin_grants_rights_and_roles(admin_client_, member) -> None:  # type: ignore[no-untyped-def]
    member.can_setup_integrations = False
    member.save()
    response = admin_client_.post(
        reverse("admin_user_edit", args=[member.pk]),
        {"role": "admin", "can_setup_integrations": "on", "is_active": "on"},
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == "admin" and member.can_setup_integrations


def test_the_last_admin_cannot_demote_themselves(admin_client_, admin_user) -> None:  # type: ignore[no-untyped-def]
    response = admin_client_.post(
        reverse("admin_user_edit", args=[admin_user.pk]), {"role": "member", "is_active": "on"}
    )
    assert "last admin" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.role == "admin"
    UserFactory(tenant=admin_user.tenant, role="admin")
    admin_client_.post(reverse("admin_user_edit", args=[admin_user.pk]), {"role": "member", "is_active": "on"})
    admin_user.refresh_from_db()
    assert admin_user.role == "member"


def test_allowed_providers_shape_the_settings_page(admin_client_, tenant, member, client) -> None:  # type: ignore[no-untyped-def]
    response = admin_client_.post(
        reverse("admin_tenant"),
        {"name": "Acme", "timezone": "Europe/Paris", "allowed_providers": ["google", "caldav"]},
    )
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.allowed_providers == ["google", "caldav"] and tenant.timezone == "Europe/Paris"
    client.force_login(member)
    page = client.get(reverse("settings")).content.decode()
    assert "Exchange on-premises" in page and "Not enabled for Acme." in page


def test_unknown_time_zone_is_refused(admin_client_) -> None:  # type: ignore[no-untyped-def]
    response = admin_client_.post(reverse("admin_tenant"), {"name": "Acme", "timezone": "Mars/Olympus"})
    assert response.status_code == 200 and "not a known time zone" in response.content.decode()


def test_sign_in_with_email_in_any_case_and_sign_out(client, member) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import PASSWORD

    response = client.post(reverse("login"), {"username": member.email.upper(), "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("events:calendar")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("events:calendar")).status_code == 302


def test_inactive_user_cannot_sign_in(client, member) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import PASSWORD

    member.is_active = False
    member.save()
    response = client.post(reverse("login"), {"username": member.email, "password": PASSWORD})
    assert response.status_code == 200 and "do not match" in response.content.decode()
