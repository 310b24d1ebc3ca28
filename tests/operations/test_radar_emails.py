"""The radar's emails (once per credential, date and threshold, over repeated daily runs; only to that
organisation's admins; never a secret), its banner on the admin pages, and the command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from calsync import crypto
from integrations.models import ExchangeServer, GoogleWorkspace, MicrosoftOrganisation
from operations import radar
from operations.alerts import alerts_prune, radar_notify
from operations.models import CredentialAlert
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
                                  sync_email="sync@globex.test", enabled=True,
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


def test_the_health_board_shows_the_radar_section(client, organisation, admin_user) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    assert "No credential expires" in client.get(reverse("operations:health")).content.decode()
    MicrosoftOrganisation.objects.update(credential_expires_at=datetime.now(UTC) - timedelta(hours=1))
    page = client.get(reverse("operations:health")).content.decode()
    assert 'data-testid="credential-radar"' in page and 'data-testid="radar-microsoft"' in page
    assert "expired on" in page and 'data-testid="radar-more"' not in page


def test_the_daily_task_over_fourteen_months_emails_each_threshold_once(organisation, admin_user, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Review finding 3: the real daily task (refresh, emails, prune) run every day for 420 days. The records of
    the emails are pruned a year after the date; the radar stopped speaking of that date long before, so the
    prune opens nothing again."""
    from operations.tasks import radar_notify as daily

    today = [START]
    monkeypatch.setattr("django.utils.timezone.now", lambda: today[0])
    sent = []
    for day in range(420):
        today[0] = START + timedelta(days=day)
        sent.append(daily())
    assert [day for day, count in enumerate(sent) if count] == [10, 33, 40] and len(mail.outbox) == 3
    assert not CredentialAlert.objects.exists()  # pruned (day 406 on), and never written again


def test_switched_off_connections_and_departed_users_are_not_warned_about(organisation, admin_user, member) -> None:  # type: ignore[no-untyped-def]
    from integrations.models import Integration
    from tests.factories import CalendarFactory

    MicrosoftOrganisation.objects.update(enabled=False)
    lapsing = Integration.objects.create(
        tenant=member.tenant, user=member, provider="microsoft", calendar=CalendarFactory(owner=member),
        remote_calendar_id="cal", config={"auth": "oauth"}, token_refreshed_at=START - timedelta(days=85),
    )  # fmt: skip
    assert [w.key for w in radar.warnings(member.tenant, START)] == [f"token:{lapsing.pk}"]
    member.is_active = False
    member.save(update_fields=["is_active"])
    assert radar.warnings(member.tenant, START) == [] and sum(_daily(50)) == 0


def test_a_google_key_past_its_rotation_is_due_not_expired(client, admin_user, settings) -> None:  # type: ignore[no-untyped-def]
    """Review finding 5: a service-account key keeps working after the rotation period; nothing says sync stops."""
    settings.GOOGLE_KEY_ROTATION_DAYS = 90
    GoogleWorkspace.objects.create(tenant=admin_user.tenant, client_email="sync@acme.iam.gserviceaccount.com",
                                   key_encrypted=crypto.encrypt({"private_key_id": "k1"}), enabled=True,
                                   key_created_at=datetime.now(UTC) - timedelta(days=100))  # fmt: skip
    assert radar_notify() == 1
    [email] = mail.outbox
    assert email.subject == "calsync: a credential is due for rotation"
    assert "due for rotation since" in email.body and "EXPIRED" not in email.body
    client.force_login(admin_user)
    page = client.get(reverse("operations:health")).content.decode()
    assert "is due for rotation" in page and "has expired" not in page and "expired on" not in page


def test_the_banner_reads_a_bounded_page_of_lapsing_sign_ins(  # type: ignore[no-untyped-def]
    client, admin_user, member, many_users, django_assert_max_num_queries
) -> None:
    """Review finding 7: however many sign-ins are lapsing, an admin page reads the same few rows."""
    from integrations.models import Integration
    from operations.context import SHOWN
    from tests.factories import CalendarFactory

    def lapsing(users) -> None:  # type: ignore[no-untyped-def]
        Integration.objects.bulk_create(
            Integration(tenant=u.tenant, user=u, provider="microsoft", calendar=CalendarFactory(owner=u),
                        remote_calendar_id="c", config={"auth": "oauth"},
                        token_refreshed_at=datetime.now(UTC) - timedelta(days=85))
            for u in users
        )  # fmt: skip

    client.force_login(admin_user)
    lapsing([member])
    client.get(reverse("operations:health"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("operations:health"))
    lapsing(many_users(SHOWN + 10))
    with django_assert_max_num_queries(len(few)), CaptureQueriesContext(connection) as many:
        page = client.get(reverse("operations:health")).content.decode()
    reads = [q["sql"] for q in many.captured_queries if '"token_refreshed_at" ASC' in q["sql"]]
    assert len(reads) == 2 and all(f"LIMIT {SHOWN + 1}" in sql for sql in reads)  # one per provider, bounded
    assert 'data-testid="radar-banner"' in page and page.count('data-testid="radar-token:') == SHOWN
    assert 'data-testid="radar-more"' in page


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
