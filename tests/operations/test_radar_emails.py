"""The radar's emails (once per credential, date and threshold, over repeated daily runs; only to that
organisation's admins; never a secret), its banner on the admin pages, and the command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from calsync import crypto
from integrations.models import ExchangeServer, MicrosoftOrganisation
from operations.models import CredentialAlert
from operations.alerts import alerts_prune, radar_notify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2027, 3, 1, 6, 17, tzinfo=UTC)
SECRET = "abc~very-secret-value"


@pytest.fixture
def organisation(tenant):  # type: ignore[no-untyped-def]
    """A Microsoft 365 app whose client secret ends 40 days after START (the date an admin entered)."""
    return MicrosoftOrganisation.objects.create(
        tenant=tenant, directory_id="contoso.example", client_id="org-app", enabled=True,
        secret_encrypted=crypto.encrypt({"secret": SECRET}), credential_expires_at=START + timedelta(days=40),
        credential_expiry_source="admin",
    )  # fmt: skip


def _daily(days: int) -> list[int]:
    """Beat's daily run over `days` days from START: the emails each day sent."""
    return [radar_notify(now=START + timedelta(days=day)) for day in range(days)]


def test_each_threshold_is_emailed_once_over_daily_runs(organisation, admin_user, member) -> None:
    sent = _daily(50)
    # 30 days before (day 10), 7 days before (day 33), expired (day 40): once each, nothing on the other days.
    assert [day for day, count in enumerate(sent) if count] == [10, 33, 40]
    assert [m.subject for m in mail.outbox] == [
        "calsync: a credential expires in 30 days",
        "calsync: a credential expires in 7 days",
        "calsync: a credential has expired and sync stops",
    ]
    assert all(m.to == [admin_user.email] for m in mail.outbox)  # the admins, not the members
    body = mail.outbox[0].body
    assert "Microsoft 365 app's client secret" in body and "/manage/microsoft/" in body
    assert SECRET not in body and SECRET[:3] not in body.replace("calsync", "")
    assert sorted(CredentialAlert.objects.values_list("threshold_days", flat=True)) == [0, 7, 30]


def test_a_renewed_credential_is_warned_about_again(organisation, admin_user) -> None:
    assert sum(_daily(12)) == 1
    # The admin renews the secret: a new date, a new 30-day warning when it comes near.
    MicrosoftOrganisation.objects.update(credential_expires_at=START + timedelta(days=80))
    later = [radar_notify(now=START + timedelta(days=day)) for day in range(12, 60)]
    assert sum(later) == 1 and len(mail.outbox) == 2
    assert "20 May 2027" in mail.outbox[1].body


def test_first_seen_inside_seven_days_sends_only_that_warning(organisation, admin_user) -> None:
    MicrosoftOrganisation.objects.update(credential_expires_at=START + timedelta(days=5))
    assert _daily(3) == [1, 0, 0]
    assert list(CredentialAlert.objects.values_list("threshold_days", flat=True)) == [7]


def test_only_the_tenants_own_admins_hear_of_its_credentials(organisation, admin_user, outsider, other_tenant) -> None:
    second = UserFactory(tenant=admin_user.tenant, email="second@acme.test", role="admin")
    ExchangeServer.objects.create(tenant=other_tenant, ews_url="https://mail.globex.test/EWS/Exchange.asmx",
                                  username="sync", password_encrypted=crypto.encrypt({"password": "pw"}),
                                  sync_email="sync@globex.test",
                                  password_expires_on=(START + timedelta(days=60)).date())  # fmt: skip
    _daily(31)
    acme = [m for m in mail.outbox if "Microsoft 365" in m.body]
    globex = [m for m in mail.outbox if "Exchange" in m.body]
    assert len(acme) == 1 and sorted(acme[0].to) == sorted([admin_user.email, second.email])
    assert len(globex) == 1 and globex[0].to == [outsider.email] and "Microsoft" not in globex[0].body


def test_a_failed_send_is_tried_again_the_next_day(organisation, admin_user, monkeypatch) -> None:
    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("mail server down")

    monkeypatch.setattr("operations.alerts.send_mail", down)
    with pytest.raises(OSError):
        radar_notify(now=START + timedelta(days=10))
    assert not CredentialAlert.objects.exists()
    monkeypatch.undo()
    assert radar_notify(now=START + timedelta(days=11)) == 1 and len(mail.outbox) == 1


def test_old_alerts_are_pruned_in_bounded_batches(organisation, admin_user) -> None:
    _daily(41)
    assert CredentialAlert.objects.count() == 3
    later = START + timedelta(days=40 + 366)
    assert alerts_prune(now=later, limit=2) == 2 and alerts_prune(now=later, limit=2) == 1
    assert not CredentialAlert.objects.exists()


def test_the_banner_shows_on_admin_pages_to_admins_only(client, organisation, admin_user, member, settings) -> None:
    MicrosoftOrganisation.objects.update(credential_expires_at=datetime.now(UTC) + timedelta(days=6, hours=1))
    client.force_login(admin_user)
    page = client.get(reverse("admin_users")).content.decode()
    assert 'data-testid="radar-banner"' in page and "expires in 6 days" in page and 'href="/manage/microsoft/"' in page
    assert 'data-testid="radar-banner"' not in client.get(reverse("settings")).content.decode()
    client.force_login(member)
    assert 'data-testid="radar-banner"' not in client.get(reverse("settings")).content.decode()
    assert client.get(reverse("admin_users")).status_code == 403


def test_the_banner_and_section_stay_within_the_tenant(client, organisation, outsider) -> None:
    MicrosoftOrganisation.objects.update(credential_expires_at=datetime.now(UTC) + timedelta(days=6))
    client.force_login(outsider)
    assert 'data-testid="radar-banner"' not in client.get(reverse("admin_users")).content.decode()


def test_the_radar_section_renders_the_warnings(rf, organisation, admin_user) -> None:
    from django.template.loader import render_to_string

    from accounts.tenancy import Scope

    MicrosoftOrganisation.objects.update(credential_expires_at=datetime.now(UTC) - timedelta(hours=1))
    html = render_to_string("operations/_radar.html", {"credential_warnings": Scope(admin_user).credential_warnings()})
    assert 'data-testid="radar-microsoft"' in html and "expired on" in html
    assert "No credential expires" in render_to_string("operations/_radar.html", {"credential_warnings": []})


def test_the_command_lists_and_sends(organisation, admin_user, capsys) -> None:
    MicrosoftOrganisation.objects.update(credential_expires_at=datetime.now(UTC) + timedelta(days=20))
    call_command("credential_radar", "--tenant", "acme", "--json")
    data = json.loads(capsys.readouterr().out)
    assert [w["key"] for w in data["warnings"]["acme"]] == ["microsoft"] and data["emails_sent"] is None
    assert not mail.outbox
    call_command("credential_radar", "--tenant", "acme", "--send")
    assert "Emails sent: 1." in capsys.readouterr().out and len(mail.outbox) == 1
    call_command("credential_radar", "--send")
    assert len(mail.outbox) == 1
