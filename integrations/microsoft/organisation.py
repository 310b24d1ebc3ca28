"""Organisation-wide Microsoft 365: an app registration with the Calendars.ReadWrite application permission,
granted by a tenant admin (admin consent); users' calendars are then reached through /users/{address}."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode

import msal
import msal.exceptions
import requests
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Tenant, User
from calsync import crypto
from integrations.connecting import MailboxCalendar
from integrations.models import MicrosoftOrganisation
from sync.errors import AuthRevoked, SyncError, TransientError

from . import oauth, services
from .client import GraphClient
from .services import MicrosoftConnectError

log = logging.getLogger(__name__)

GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
_GUID_OR_DOMAIN = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9.-]+\.[a-z]{2,})$")
_EXPLAIN = {
    "7000215": "The client secret is wrong (or expired). Create a new one in Entra ID › App registrations.",
    "7000222": "The client secret has expired. Create a new one in Entra ID › App registrations.",
    "700027": "This certificate is not one of the app's certificates. Upload it under Entra ID › App registrations "
    "› Certificates & secrets, or upload the one that is there.",
    "65001": "Admin consent has not been granted yet. Open the admin consent link below as a Global Administrator.",
    "700016": "No app with this client id exists in that tenant. Check the client (application) id.",
    "90002": "No Microsoft 365 tenant with this id exists. Check the tenant (directory) id.",
}


@dataclass(frozen=True)
class AppCertificate:
    private_key: str  # PEM, unencrypted PKCS#8
    certificate: str  # PEM
    thumbprint: str  # SHA-1, upper-case hex, as the Entra portal lists it
    expires_at: datetime  # the certificate's notAfter: the app cannot sign in with it after that


_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.S)


def parse_certificate(data: bytes) -> AppCertificate:
    """A PEM file with the app certificate's private key and the certificate; ValidationError says what is wrong."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization

    blocks: dict[str, bytes] = {}
    for match in _PEM.finditer(data):  # the first of each kind: a chain's leaf certificate comes first
        blocks.setdefault(match.group(1).decode(), match.group(0))
    key_block = next((b for kind, b in blocks.items() if kind.endswith("PRIVATE KEY")), None)
    if "ENCRYPTED PRIVATE KEY" in blocks:
        raise ValidationError({"certificate": "The private key is protected by a password; upload it unprotected "
                               "(calsync stores it encrypted)."})  # fmt: skip
    if key_block is None or "CERTIFICATE" not in blocks:
        raise ValidationError({"certificate": "Upload one PEM file holding both the private key and the certificate "
                               "(for example: cat key.pem cert.pem > calsync.pem)."})  # fmt: skip
    try:
        key = serialization.load_pem_private_key(key_block, password=None)
        cert = x509.load_pem_x509_certificate(blocks["CERTIFICATE"])
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValidationError({"certificate": "The private key or the certificate cannot be read."}) from exc
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.PEM, public) != cert.public_key().public_bytes(
        serialization.Encoding.PEM, public
    ):
        raise ValidationError({"certificate": "The private key does not belong to this certificate."})
    if cert.not_valid_after_utc < timezone.now():
        raise ValidationError({"certificate": f"This certificate expired on {cert.not_valid_after_utc:%d %b %Y}."})
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()  # fmt: skip
    return AppCertificate(pkcs8, cert.public_bytes(serialization.Encoding.PEM).decode(),
                          cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303
                          cert.not_valid_after_utc)  # fmt: skip


def save(*, tenant: Tenant, directory_id: str, client_id: str, secret: str, enabled: bool,
         certificate: AppCertificate | None = None,
         expires_on: date | None = None) -> MicrosoftOrganisation:  # fmt: skip
    """The app's settings; a new secret or certificate replaces whichever credential the app had. `expires_on` is
    the date the admin says the secret ends, used until calsync can read it from Graph (credential_expiry_read)."""
    directory_id, client_id = directory_id.strip().lower(), client_id.strip()
    if not _GUID_OR_DOMAIN.match(directory_id):
        raise ValidationError({"directory_id": "Enter the tenant (directory) id, a GUID, or the tenant's domain."})
    if not client_id:
        raise ValidationError({"client_id": "Enter the app's client (application) id."})
    if secret and certificate:
        raise ValidationError({"secret": "Give a client secret or a certificate, not both."})
    organisation = MicrosoftOrganisation.objects.filter(tenant=tenant).first() or MicrosoftOrganisation(tenant=tenant)
    if secret:
        organisation.secret_encrypted = crypto.encrypt({"secret": secret})
        organisation.certificate_encrypted, organisation.certificate_thumbprint = "", ""
    elif certificate:
        organisation.certificate_encrypted = crypto.encrypt({"private_key": certificate.private_key,
                                                             "certificate": certificate.certificate})  # fmt: skip
        organisation.certificate_thumbprint, organisation.secret_encrypted = certificate.thumbprint, ""
    elif not (organisation.secret_encrypted or organisation.certificate_encrypted):
        raise ValidationError({"secret": "Enter the app's client secret, or upload its certificate."})
    changed = (organisation.directory_id, organisation.client_id) != (directory_id, client_id) or bool(
        secret or certificate
    )
    organisation.directory_id, organisation.client_id, organisation.enabled = directory_id, client_id, enabled
    if changed:
        organisation.tested_at, organisation.test_ok, organisation.test_message = None, False, ""
    _expiry_saved(organisation, certificate, expires_on, renewed=bool(secret or certificate))
    organisation.save()
    log.info("microsoft organisation settings saved", extra={"tenant": tenant.pk, "enabled": enabled})
    return organisation


def _expiry_saved(organisation: MicrosoftOrganisation, certificate: AppCertificate | None, expires_on: date | None,
                  renewed: bool) -> None:  # fmt: skip
    """A certificate says when it ends (an admin's date never overrides it); for a secret the admin's date stands in
    until Graph tells (a date read from Graph for the secret in use outranks it; a new secret forgets the old one's
    date)."""
    ends, source = organisation.credential_expires_at, organisation.credential_expiry_source
    if certificate is not None:
        ends, source = certificate.expires_at, "certificate"
    elif expires_on is not None and not organisation.certificate_thumbprint and (renewed or source != "graph"):
        ends, source = datetime.combine(expires_on, time.min, tzinfo=UTC), "admin"
    elif renewed:
        ends, source = None, ""
    organisation.credential_expires_at, organisation.credential_expiry_source = ends, source


def credential_expiry_read(organisation: MicrosoftOrganisation) -> MicrosoftOrganisation:
    """When the credential in use ends, from the app registration in Graph (the app needs Application.Read.All):
    the secret is the passwordCredential whose hint is its first three characters, a certificate the keyCredential
    keyed by its thumbprint. Whatever keeps Graph from telling (refused, not found, any other error, an answer
    calsync cannot read): the stored date (the admin's, the certificate's) stays, and the daily radar and the Test
    button carry on. https://learn.microsoft.com/graph/api/application-get"""
    graph = GraphClient(token_provider(organisation), mailbox=f"app:{organisation.client_id}")
    path = f"/applications(appId='{organisation.client_id}')"
    try:
        registration = graph.call("GET", path, params={"$select": "passwordCredentials,keyCredentials"})
        ends = _credential_end(organisation, registration or {})
    except (SyncError, ValueError, TypeError, AttributeError) as exc:  # the last three: an answer not as documented
        log.info("app registration not readable", extra={"tenant": organisation.tenant_id, "error": str(exc)})
        return organisation
    if ends is not None:
        organisation.credential_expires_at, organisation.credential_expiry_source = ends, "graph"
        organisation.save(update_fields=["credential_expires_at", "credential_expiry_source"])
    return organisation


def _credential_end(organisation: MicrosoftOrganisation, registration: dict[str, Any]) -> datetime | None:
    if organisation.certificate_thumbprint:
        found = [k for k in registration.get("keyCredentials") or []
                 if _thumbprint(k.get("customKeyIdentifier")) == organisation.certificate_thumbprint]  # fmt: skip
    else:
        hint = organisation.secret[:3]
        found = [p for p in registration.get("passwordCredentials") or [] if p.get("hint") == hint]
    ends = [datetime.fromisoformat(c["endDateTime"].replace("Z", "+00:00")) for c in found if c.get("endDateTime")]
    return min(ends) if ends else None  # two secrets sharing a hint: the earlier end is the safe warning


def _thumbprint(identifier: Any) -> str:
    """customKeyIdentifier is Edm.Binary (base64 in JSON) holding the SHA-1 thumbprint; some tools store the hex."""
    text = str(identifier or "")
    if re.fullmatch(r"[0-9A-Fa-f]{40}", text):
        return text.upper()
    try:
        return base64.b64decode(text, validate=True).hex().upper()
    except ValueError:
        return ""


def admin_consent_url(organisation: MicrosoftOrganisation, state: str) -> str:
    query = urlencode({"client_id": organisation.client_id, "state": state,
                       "redirect_uri": settings.SITE_URL + reverse("integrations:microsoft_consented")})  # fmt: skip
    host = settings.MICROSOFT_EMULATOR_BROWSER_URL or settings.MICROSOFT_AUTHORITY_HOST
    return f"{host}/{organisation.directory_id}/adminconsent?{query}"


def token_provider(organisation: MicrosoftOrganisation) -> Callable[[], str]:
    """Client-credentials tokens (msal keeps one until it expires); AuthRevoked says what an admin must fix."""
    application: Any = None

    def token() -> str:
        nonlocal application
        try:
            application = application or oauth.application(
                tenant=organisation.directory_id, client_id=organisation.client_id,
                credential=organisation.client_credential,
            )  # fmt: skip
            result = application.acquire_token_for_client([GRAPH_DEFAULT])
        except (requests.RequestException, msal.exceptions.MsalError) as exc:
            raise TransientError("Microsoft's sign-in service could not be reached.") from exc
        except ValueError as exc:  # the authority's metadata: an unknown tenant
            raise AuthRevoked(_EXPLAIN["90002"]) from exc
        if "access_token" not in result:
            codes = [str(c) for c in result.get("error_codes", [])]
            reason = next((_EXPLAIN[c] for c in codes if c in _EXPLAIN), result.get("error_description", "refused"))
            raise AuthRevoked(reason)
        return str(result["access_token"])

    return token


def app_token(organisation: MicrosoftOrganisation) -> str:
    return token_provider(organisation)()


def mailbox_calendars(organisation: MicrosoftOrganisation, user: User) -> tuple[str, list[MailboxCalendar]]:
    """The user's own calendars, found under their address or an alias domain."""
    tenant = user.tenant
    assert tenant is not None
    tokens = token_provider(organisation)
    tokens()  # a refused app is the admin's problem, explained, not one per address
    problems = []
    for address in tenant.addresses_for(user.email):
        try:
            return address, services.mailbox_calendars(GraphClient(tokens, mailbox=address))
        except SyncError as exc:
            problems.append(f"{address}: {exc}")
    raise MicrosoftConnectError(f"No mailbox was found for {user.email} in Microsoft 365. " + " ".join(problems))


def test(*, organisation: MicrosoftOrganisation, admin: User) -> MicrosoftOrganisation:
    """A client-credentials token, then a read of the admin's own calendars: what works, or exactly what does not."""
    try:
        address, calendars = mailbox_calendars(organisation, admin)
    except (AuthRevoked, TransientError, MicrosoftConnectError) as exc:
        organisation.record_test(False, str(exc))
    else:
        organisation.record_test(True, f"Works: calsync read {len(calendars)} calendars of {address}.")
        credential_expiry_read(organisation)
    return organisation


def active_for(user: User) -> MicrosoftOrganisation | None:
    return MicrosoftOrganisation.usable_for(user)  # type: ignore[no-any-return]


def calendars_for_user(user: User) -> tuple[str, list[MailboxCalendar]]:
    organisation = active_for(user)
    if organisation is None:
        raise PermissionDenied("Your organisation has not set up Microsoft 365 sync.")
    try:
        return mailbox_calendars(organisation, user)
    except (AuthRevoked, TransientError) as exc:
        raise MicrosoftConnectError(str(exc)) from exc
