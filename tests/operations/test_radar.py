"""The credential radar's dates, each read the way it is in production: a real certificate file through the
Microsoft 365 page, the app registration through the Graph emulator (and its 403), a Google key upload, the
Exchange page's date, and users' refresh tokens renewed by real token refreshes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from calsync import crypto
from integrations.models import ExchangeServer, GoogleWorkspace, Integration, MicrosoftOrganisation
from operations import radar
from tests.factories import CalendarFactory

pytestmark = pytest.mark.django_db

APP_SECRET = "org-secret"
READS_APPS = {"Calendars.ReadWrite", "Application.Read.All"}


def certificate_file(tmp_path, days: int) -> tuple[bytes, datetime]:  # type: ignore[no-untyped-def]
    """A real self-signed certificate and its key, written to a PEM file as an admin makes one; its notAfter."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calsync radar")])
    ends = (timezone.now() + timedelta(days=days)).replace(microsecond=0)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(timezone.now() - timedelta(days=1))
            .not_valid_after(ends).sign(key, hashes.SHA256()))  # fmt: skip
    path = tmp_path / "calsync.pem"
    pem = serialization.Encoding.PEM
    path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
                     + cert.public_bytes(pem))  # fmt: skip
    return path.read_bytes(), ends


@pytest.fixture
def app(microsoft):  # type: ignore[no-untyped-def]
    """An app registration in the contoso tenant, consented to; its directory id."""
    microsoft.state.apps["org-app"] = APP_SECRET
    microsoft.state.mailbox("admin@contoso.example")
    directory = microsoft.state.tenant_for("contoso.example")
    microsoft.state.admin_consent.add((directory, "org-app"))
    yield directory
    # The emulator lives for the session: leave the app as other tests expect to find it (not consented to).
    microsoft.state.admin_consent.discard((directory, "org-app"))
    microsoft.state.app_permissions.pop("org-app", None)
    microsoft.state.secret_expiry.pop("org-app", None)
    microsoft.state.app_certificates.pop("org-app", None)
    microsoft.state.registration_errors.pop("org-app", None)


def _microsoft_page(admin_client_, directory: str, **fields) -> str:  # type: ignore[no-untyped-def]
    data = {"directory_id": directory, "client_id": "org-app", "secret": "", "enabled": "on",
            "aliases": "contoso.example", "test": "1", **fields}  # fmt: skip
    return admin_client_.post(reverse("integrations:microsoft_organisation"), data, follow=True).content.decode()


def test_a_certificate_files_end_is_read_when_it_is_uploaded(admin_client_, microsoft, app, tmp_path) -> None:
    pem, ends = certificate_file(tmp_path, days=20)
    microsoft.state.app_certificates["org-app"] = [pem[pem.index(b"-----BEGIN CERTIFICATE") :]]
    page = _microsoft_page(admin_client_, app, certificate=SimpleUploadedFile("calsync.pem", pem))
    assert "Works: calsync read 3 calendars" in page
    organisation = MicrosoftOrganisation.objects.get()
    # The app may not read its registration (no Application.Read.All): the certificate's own date stands.
    assert (organisation.credential_expires_at, organisation.credential_expiry_source) == (ends, "certificate")
    assert f"expires on\n        <strong>{ends:%-d %b %Y}</strong>" in page and "read from the certificate" in page
    [warning] = radar.warnings(organisation.tenant, timezone.now())
    assert warning.key == "microsoft" and warning.days_left == 19 and warning.threshold == 30
    assert organisation.certificate_thumbprint in warning.label
    # The form's "secret expires on" is no date for a certificate: it never replaces the certificate's own.
    _microsoft_page(admin_client_, app, expires_on="2031-01-01")
    assert MicrosoftOrganisation.objects.get().credential_expires_at == ends


def test_graph_gives_the_certificates_end_by_its_thumbprint(admin_client_, microsoft, app, tmp_path) -> None:
    pem, ends = certificate_file(tmp_path, days=200)
    other, _ = certificate_file(tmp_path, days=5)  # another certificate of the app, not the one calsync uses
    cert = pem[pem.index(b"-----BEGIN CERTIFICATE") :]
    microsoft.state.app_certificates["org-app"] = [other[other.index(b"-----BEGIN CERTIFICATE") :], cert]
    microsoft.state.app_permissions["org-app"] = READS_APPS
    _microsoft_page(admin_client_, app, certificate=SimpleUploadedFile("calsync.pem", pem))
    organisation = MicrosoftOrganisation.objects.get()
    assert (organisation.credential_expires_at, organisation.credential_expiry_source) == (ends, "graph")
    assert radar.warnings(organisation.tenant, timezone.now()) == []


def test_the_secrets_end_comes_from_graph_by_its_hint(admin_client_, microsoft, app) -> None:
    ends = datetime(2030, 1, 1, tzinfo=UTC)
    microsoft.state.secret_expiry["org-app"] = ends
    microsoft.state.app_permissions["org-app"] = READS_APPS
    page = _microsoft_page(admin_client_, app, secret=APP_SECRET, expires_on="2029-06-30")
    organisation = MicrosoftOrganisation.objects.get()
    assert (organisation.credential_expires_at, organisation.credential_expiry_source) == (ends, "graph")
    assert "read from the app registration in Microsoft Graph" in page
    # Renewed in Entra: the next read (the daily task) brings the new date.
    microsoft.state.secret_expiry["org-app"] = ends + timedelta(days=365)
    from operations.alerts import radar_refresh

    assert radar_refresh() == 1
    assert MicrosoftOrganisation.objects.get().credential_expires_at == ends + timedelta(days=365)


def test_without_permission_graph_refuses_and_the_admins_date_is_used(admin_client_, microsoft, app) -> None:
    page = _microsoft_page(admin_client_, app, secret=APP_SECRET)
    organisation = MicrosoftOrganisation.objects.get()
    assert organisation.test_ok and organisation.credential_expires_at is None
    assert "does not know when the client secret expires" in page
    page = _microsoft_page(admin_client_, app, expires_on=(date.today() + timedelta(days=6)).isoformat())
    organisation = MicrosoftOrganisation.objects.get()
    assert organisation.credential_expiry_source == "admin"
    assert organisation.credential_expires_at.date() == date.today() + timedelta(days=6)
    assert "the date you entered" in page
    [warning] = radar.warnings(organisation.tenant, timezone.now())
    assert warning.threshold == 7 and warning.source == "the date an admin entered"
    # A new secret forgets the old one's date.
    _microsoft_page(admin_client_, app, secret=APP_SECRET)
    assert MicrosoftOrganisation.objects.get().credential_expires_at is None


def test_a_failing_graph_read_neither_stops_the_daily_task_nor_fails_the_test_button(
    admin_client_, microsoft, app, other_tenant, outsider
) -> None:  # type: ignore[no-untyped-def]
    """Review finding 6: Graph answers one organisation's registration read with 400; its stored date stays, the
    Test button reports success, and the daily task still reads the next organisation and emails both."""
    from django.core import mail

    from operations.tasks import radar_notify

    microsoft.state.app_permissions["org-app"] = READS_APPS
    microsoft.state.registration_errors["org-app"] = 400
    soon = date.today() + timedelta(days=20)
    page = _microsoft_page(admin_client_, app, secret=APP_SECRET, expires_on=soon.isoformat())
    acme = MicrosoftOrganisation.objects.get()
    assert acme.test_ok and acme.credential_expiry_source == "admin" and "Works: calsync read" in page
    microsoft.state.apps["globex-app"] = "globex-secret"
    microsoft.state.admin_consent.add((app, "globex-app"))
    microsoft.state.app_permissions["globex-app"] = READS_APPS
    microsoft.state.secret_expiry["globex-app"] = datetime.combine(soon, datetime.min.time(), tzinfo=UTC)
    try:
        MicrosoftOrganisation.objects.create(
            tenant=other_tenant, directory_id=app, client_id="globex-app", enabled=True, test_ok=True,
            secret_encrypted=crypto.encrypt({"secret": "globex-secret"}),
        )  # fmt: skip
        assert radar_notify() == 2
    finally:
        for state in (microsoft.state.apps, microsoft.state.app_permissions, microsoft.state.secret_expiry):
            state.pop("globex-app", None)
        microsoft.state.admin_consent.discard((app, "globex-app"))
        microsoft.state.registration_errors.pop("org-app", None)
    assert MicrosoftOrganisation.objects.get(client_id="globex-app").credential_expiry_source == "graph"
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@acme.test", outsider.email]


def test_the_emulator_answers_graphs_errors(microsoft, app) -> None:
    """403 Authorization_RequestDenied without the permission, 404 for an app that is not there."""
    from integrations.microsoft.client import GraphClient
    from integrations.microsoft.organisation import token_provider
    from sync.errors import NotFound, PermanentError

    organisation = MicrosoftOrganisation(directory_id=app, client_id="org-app")
    organisation.secret_encrypted = crypto.encrypt({"secret": APP_SECRET})
    graph = GraphClient(token_provider(organisation), mailbox="app:org-app", sleep=lambda s: None)
    with pytest.raises(PermanentError):
        graph.call("GET", "/applications(appId='org-app')")
    microsoft.state.app_permissions["org-app"] = READS_APPS
    answer = graph.call("GET", "/applications(appId='org-app')", params={"$select": "passwordCredentials"})
    assert set(answer) == {"@odata.context", "passwordCredentials"}
    assert answer["passwordCredentials"][0]["hint"] == "org" and answer["passwordCredentials"][0]["secretText"] is None
    with pytest.raises(NotFound):
        graph.call("GET", "/applications(appId='nobody')")


def test_a_google_key_ages_from_its_upload(admin_client_, google, settings) -> None:
    settings.GOOGLE_KEY_ROTATION_DAYS = 90
    key = google.state.create_service_account("acme.io", token_uri=f"{google.base_url}/token")
    data = {"enabled": "on", "aliases": "acme.io", "save": "1",
            "key_file": SimpleUploadedFile("key.json", json.dumps(key).encode())}  # fmt: skip
    page = admin_client_.post(reverse("integrations:google_workspace"), data, follow=True).content.decode()
    workspace = GoogleWorkspace.objects.get()
    assert timezone.now() - workspace.key_created_at < timedelta(minutes=1)
    assert "before it is 90 days old" in page
    now = timezone.now()
    assert radar.warnings(workspace.tenant, now) == []
    [warning] = radar.warnings(workspace.tenant, now + timedelta(days=84))
    assert warning.key == "google" and warning.days_left == 5 and warning.threshold == 7
    # A key from before calsync counted: its age is unknown, and nothing is claimed about it.
    GoogleWorkspace.objects.update(key_created_at=None)
    assert radar.warnings(workspace.tenant, now + timedelta(days=84)) == []
    assert "age is unknown" in admin_client_.get(reverse("integrations:google_workspace")).content.decode()


def test_the_same_google_key_uploaded_again_keeps_its_age(admin_client_, google) -> None:  # type: ignore[no-untyped-def]
    """Review finding 5: only a new key (another private_key_id) starts the count again."""
    key = google.state.create_service_account("acme.io", token_uri=f"{google.base_url}/token")

    def upload(key: dict) -> datetime:  # type: ignore[type-arg]
        data = {"enabled": "on", "aliases": "acme.io", "save": "1",
                "key_file": SimpleUploadedFile("key.json", json.dumps(key).encode())}  # fmt: skip
        admin_client_.post(reverse("integrations:google_workspace"), data)
        return GoogleWorkspace.objects.get().key_created_at  # type: ignore[return-value]

    upload(key)
    old = timezone.now() - timedelta(days=60)
    GoogleWorkspace.objects.update(key_created_at=old)
    assert upload(key) == old
    rotated = google.state.create_service_account("acme.io", token_uri=f"{google.base_url}/token")
    assert rotated["private_key_id"] != key["private_key_id"]
    assert timezone.now() - upload(rotated) < timedelta(minutes=1)


def test_the_exchange_password_date_the_admin_enters(admin_client_, exchange, settings) -> None:
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = True
    soon = date.today() + timedelta(days=25)
    data = {"url": exchange.url, "domain": "CORP", "username": "calsync-sync", "password": "pw",
            "sync_email": "calsync-sync@corp.example", "access": "impersonation", "enabled": "on", "aliases": "",
            "password_expires_on": soon.isoformat(), "save": "1"}  # fmt: skip
    page = admin_client_.post(reverse("integrations:exchange_organisation"), data, follow=True).content.decode()
    server = ExchangeServer.objects.get()
    assert server.password_expires_on == soon and soon.isoformat() in page
    [warning] = radar.warnings(server.tenant, timezone.now())
    assert warning.key == "exchange" and warning.threshold == 30 and "calsync-sync" in warning.label
    admin_client_.post(reverse("integrations:exchange_organisation"), {**data, "password": ""})
    assert ExchangeServer.objects.get().password_expires_on == soon  # the same password keeps its date
    admin_client_.post(reverse("integrations:exchange_organisation"), {**data, "password": "new-pw"})
    assert ExchangeServer.objects.get().password_expires_on is None  # a new password: the old one's date goes
    admin_client_.post(reverse("integrations:exchange_organisation"), data)
    admin_client_.post(reverse("integrations:exchange_organisation"), {**data, "password_expires_on": ""})
    assert ExchangeServer.objects.get().password_expires_on is None
    assert radar.warnings(server.tenant, timezone.now()) == []


def _oauth(member, provider: str, refreshed: datetime | None) -> Integration:  # type: ignore[no-untyped-def]
    calendar = CalendarFactory(owner=member, tenant=member.tenant)
    return Integration.objects.create(tenant=member.tenant, user=member, provider=provider, calendar=calendar,
                                      remote_calendar_id=f"{provider}-cal", remote_calendar_name="Work",
                                      config={"auth": "oauth", "account": member.email}, automatic=False,
                                      token_refreshed_at=refreshed)  # fmt: skip


def test_refresh_tokens_lapse_after_the_providers_lifetimes(member, settings) -> None:
    now = timezone.now()
    microsoft = _oauth(member, "microsoft", now - timedelta(days=80))
    google = _oauth(member, "google", now - timedelta(days=80))
    unknown = _oauth(member, "google", None)  # connected before calsync recorded it
    found = {w.key: w for w in radar.warnings(member.tenant, now)}
    assert set(found) == {f"token:{microsoft.pk}"}
    assert found[f"token:{microsoft.pk}"].days_left == 10 and member.email in found[f"token:{microsoft.pk}"].label
    settings.GOOGLE_OAUTH_TESTING = True  # a Google app in "Testing": 7 days after sign-in
    Integration.objects.filter(pk=google.pk).update(token_refreshed_at=now - timedelta(days=2))
    found = {w.key: w for w in radar.warnings(member.tenant, now)}
    assert found[f"token:{google.pk}"].days_left == 5 and f"token:{unknown.pk}" not in found
    # The organisation's app signs in for organisation-wide integrations: no user token to lapse.
    Integration.objects.filter(pk=microsoft.pk).update(config={"auth": "organisation", "account": member.email})
    assert f"token:{microsoft.pk}" not in {w.key for w in radar.warnings(member.tenant, now)}


def test_signing_in_and_refreshing_renew_the_token_date(member, calendar, microsoft) -> None:
    """Connecting sets the date; a token refresh (Microsoft rotates the refresh token) moves it on."""
    import msal

    from integrations.connecting import MailboxCalendar
    from integrations.microsoft import services
    from integrations.microsoft.oauth import SCOPES, Tokens, application
    from integrations.microsoft.provider import client_for

    login = "lapsing@contoso.example"
    cache = msal.SerializableTokenCache()
    application(cache).token_cache.add({
        "client_id": "calsync-test", "scope": SCOPES, "response": microsoft.state.authorize(login, "calsync-test"),
        "environment": "127.0.0.1", "token_endpoint": f"{microsoft.base_url}/common/oauth2/v2.0/token"})  # fmt: skip
    account = application(cache).get_accounts()[0]["home_account_id"]
    remote = MailboxCalendar(url=microsoft.state.mailbox(login).calendars[0], name="Calendar", writable=True)
    integration = services.microsoft_connect(user=member, tokens=Tokens(cache.serialize(), account, login),
                                             remote=remote, calendar=calendar, sync_enabled=False)  # fmt: skip
    signed_in = Integration.objects.get(pk=integration.pk).token_refreshed_at
    assert signed_in is not None and timezone.now() - signed_in < timedelta(minutes=1)
    Integration.objects.filter(pk=integration.pk).update(token_refreshed_at=signed_in - timedelta(days=85))
    stale = Integration.objects.get(pk=integration.pk)
    assert radar.token_warning(stale, timezone.now()) is not None
    # An hour later the access token has expired: the next request refreshes it with the refresh token.
    stored = json.loads(stale.credentials["cache"])
    for entry in stored.get("AccessToken", {}).values():
        entry["expires_on"] = entry["extended_expires_on"] = "1"
    stale.set_credentials({**stale.credentials, "cache": json.dumps(stored)})
    assert client_for(stale).token()
    renewed = Integration.objects.get(pk=integration.pk)
    assert renewed.token_refreshed_at > signed_in and radar.token_warning(renewed, timezone.now()) is None


def test_the_owner_sees_their_tokens_warning_on_its_page(member_client, member) -> None:
    integration = _oauth(member, "microsoft", timezone.now() - timedelta(days=85))
    page = member_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert 'data-testid="token-warning"' in page and "unused for 90 days" in page
    Integration.objects.filter(pk=integration.pk).update(token_refreshed_at=timezone.now())
    page = member_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert 'data-testid="token-warning"' not in page
