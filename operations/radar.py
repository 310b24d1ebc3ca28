"""The credential radar: which of an organisation's credentials stop working soon, read from what calsync stored.

The emails (operations.alerts.radar_notify), the banner on the admin pages (operations.context) and the health
board all read `warnings()`; an integration's own page reads `token_warning()`. Nothing here calls a provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.urls import reverse

from accounts.models import Tenant
from integrations.models import ExchangeServer, GoogleWorkspace, Integration, MicrosoftOrganisation
from integrations.providers import Provider

# How early the radar speaks up; the emails go at these many days before (and once when it has expired).
WINDOW_DAYS = 30
THRESHOLDS = (30, 7)
EXPIRED = 0
# An ended credential is warned about (banner, board, one email) for this long; after that whatever depended on it
# has long shown its own error, and the radar says no more (operations.alerts keeps its records longer than this,
# so pruning them never makes a warning new again).
SILENT_AFTER_DAYS = 90
# Where a Warning's date comes from: a credential that stops working then, or a rotation policy's due date (a Google
# service-account key works until it is deleted: https://cloud.google.com/iam/docs/key-rotation).
ENDS, ROTATION = "ends", "rotation"
# Refresh tokens' documented lifetimes. Microsoft: 90 days, renewed with every use
# (https://learn.microsoft.com/entra/identity-platform/refresh-tokens#token-lifetime). Google: lapses after six
# months unused, or 7 days after sign-in for an app in "Testing"
# (https://developers.google.com/identity/protocols/oauth2#expiration).
MICROSOFT_TOKEN_DAYS = 90
GOOGLE_TOKEN_DAYS = 180
GOOGLE_TESTING_TOKEN_DAYS = 7


@dataclass(frozen=True)
class Warning:
    """One credential that ends within the window (or has ended). Never holds a secret."""

    key: str  # "microsoft", "google", "exchange", "token:<integration id>" (operations.CredentialAlert.key)
    label: str
    expires_at: datetime
    days_left: int  # negative once expired
    source: str  # where the date comes from, said in words
    action_url: str
    kind: str = ENDS

    @property
    def expired(self) -> bool:
        """Past its date: a credential that stopped working, or a key overdue for rotation (`stops` tells which)."""
        return self.days_left < 0

    @property
    def stops(self) -> bool:
        """Sync stops at the date (not merely a rotation falling due)."""
        return self.kind == ENDS

    @property
    def status(self) -> str:
        """What the date means, said in words (the banner, the board and the emails)."""
        days = f"{self.days_left} day{'s' if self.days_left != 1 else ''}"
        if self.kind == ROTATION:
            return "is due for rotation" if self.expired else f"is due for rotation in {days}"
        return "has expired" if self.expired else f"expires in {days}"

    @property
    def threshold(self) -> int:
        """The nearest email threshold reached: 30, 7, or 0 (expired)."""
        if self.expired:
            return EXPIRED
        return min(t for t in THRESHOLDS if self.days_left <= t)


def warnings(tenant: Tenant, now: datetime, limit: int | None = None) -> list[Warning]:
    """Every credential of the organisation in use that ends within WINDOW_DAYS or ended less than
    SILENT_AFTER_DAYS ago, soonest first: the enabled organisation-wide connections and active users' refresh
    tokens. Five queries; `limit` bounds the rows read and returned (the banner reads only what it shows)."""
    found = [*_organisation_credentials(tenant), *_token_credentials(tenant, now, limit)]
    within = sorted((w for w in (_within(c, now) for c in found) if w is not None), key=lambda w: w.expires_at)
    return within if limit is None else within[:limit]


def token_warning(integration: Integration, now: datetime) -> Warning | None:
    """The integration's refresh token, when it lapses within the window (no query)."""
    candidate = _token(integration)
    return _within(candidate, now) if candidate is not None else None


def token_lapses_at(integration: Integration) -> datetime | None:
    days = _token_days(integration.provider)
    if integration.token_refreshed_at is None or days is None or integration.config.get("auth") != "oauth":
        return None
    return integration.token_refreshed_at + timedelta(days=days)


@dataclass(frozen=True)
class _Candidate:
    key: str
    label: str
    expires_at: datetime
    source: str
    action_url: str
    kind: str = ENDS


def _within(candidate: _Candidate, now: datetime) -> Warning | None:
    left = candidate.expires_at - now
    if not -timedelta(days=SILENT_AFTER_DAYS) <= left <= timedelta(days=WINDOW_DAYS):
        return None
    days = left.days if left > timedelta(0) else -1 - (-left).days  # at or past the end: expired (negative)
    return Warning(candidate.key, candidate.label, candidate.expires_at, days, candidate.source, candidate.action_url,
                   candidate.kind)  # fmt: skip


def _organisation_credentials(tenant: Tenant) -> list[_Candidate]:
    """The organisation-wide connections switched on (one switched off syncs nobody, whatever its credential)."""
    found = []
    microsoft = MicrosoftOrganisation.objects.filter(tenant=tenant, enabled=True, credential_expires_at__isnull=False)
    if (microsoft := microsoft.first()) is not None:
        found.append(_microsoft(microsoft))
    google = GoogleWorkspace.objects.filter(tenant=tenant, enabled=True, key_created_at__isnull=False).first()
    if google is not None:
        found.append(_google(google))
    exchange = ExchangeServer.objects.filter(tenant=tenant, enabled=True, password_expires_on__isnull=False).first()
    if exchange is not None:
        found.append(_exchange(exchange))
    return found


_MICROSOFT_SOURCES = {
    "certificate": "read from the certificate",
    "graph": "read from the app registration in Microsoft Graph",
    "admin": "the date an admin entered",
}


def _microsoft(organisation: MicrosoftOrganisation) -> _Candidate:
    assert organisation.credential_expires_at is not None
    what = (f"certificate {organisation.certificate_thumbprint}" if organisation.certificate_thumbprint
            else "client secret")  # fmt: skip
    return _Candidate("microsoft", f"The Microsoft 365 app's {what}", organisation.credential_expires_at,
                      _MICROSOFT_SOURCES.get(organisation.credential_expiry_source, "unknown"),
                      reverse("integrations:microsoft_organisation"))  # fmt: skip


def _google(workspace: GoogleWorkspace) -> _Candidate:
    assert workspace.key_created_at is not None
    rotation = settings.GOOGLE_KEY_ROTATION_DAYS
    return _Candidate("google", f"The Google Workspace service account key ({workspace.client_email})",
                      workspace.key_created_at + timedelta(days=rotation),
                      f"uploaded {workspace.key_created_at:%d %b %Y}; rotate every {rotation} days",
                      reverse("integrations:google_workspace"), ROTATION)  # fmt: skip


def _exchange(server: ExchangeServer) -> _Candidate:
    assert server.password_expires_on is not None
    ends = datetime.combine(server.password_expires_on, time.min, tzinfo=UTC)
    return _Candidate("exchange", f"The Exchange sync account's password ({server.username})", ends,
                      "the date an admin entered", reverse("integrations:exchange_organisation"))  # fmt: skip


def _token_days(provider: str) -> int | None:
    if provider == Provider.MICROSOFT:
        return MICROSOFT_TOKEN_DAYS
    if provider == Provider.GOOGLE:
        return GOOGLE_TESTING_TOKEN_DAYS if settings.GOOGLE_OAUTH_TESTING else GOOGLE_TOKEN_DAYS
    return None


def _token_credentials(tenant: Tenant, now: datetime, limit: int | None) -> list[_Candidate]:
    """Active users' own sign-ins (not the organisation's app or service account) whose token lapses within the
    window: an automatic integration renews its token all the time, so these are mostly the paused (kept: they
    resume on it) and manual ones. One query per provider, soonest first, at most `limit` rows each."""
    found: list[_Candidate] = []
    for provider in (Provider.MICROSOFT, Provider.GOOGLE):
        days = _token_days(provider)
        assert days is not None
        lapsing = Integration.objects.for_tenant(tenant).filter(
            provider=provider, config__auth="oauth", user__is_active=True,
            token_refreshed_at__lte=now + timedelta(days=WINDOW_DAYS - days),
            token_refreshed_at__gte=now - timedelta(days=SILENT_AFTER_DAYS + days),
        )  # fmt: skip
        rows = lapsing.select_related("user").only(*_TOKEN_FIELDS).order_by("token_refreshed_at", "pk")[:limit]
        found += [c for c in map(_token, rows) if c is not None]
    return found


_TOKEN_FIELDS = ("pk", "provider", "config", "token_refreshed_at", "remote_calendar_name", "user__email")


_TOKEN_SOURCES = {
    "microsoft": "Microsoft ends a sign-in unused for 90 days",
    "google": "Google ends a sign-in unused for six months",
    "google-testing": "the Google app is in Testing, where a sign-in ends after 7 days",
}


def _token(integration: Integration) -> _Candidate | None:
    lapses = token_lapses_at(integration)
    if lapses is None:
        return None
    return _Candidate(
        f"token:{integration.pk}",
        f"{integration.user.email}'s sign-in to {Provider(integration.provider).label} "
        f"({integration.remote_calendar_name})",
        lapses,
        _TOKEN_SOURCES["google-testing" if integration.provider == Provider.GOOGLE and settings.GOOGLE_OAUTH_TESTING
                       else integration.provider],
        # Only its owner can sign in again (nobody connects on someone else's behalf); admins see its runs.
        f"{reverse('integrations:admin_logs')}?integration={integration.pk}",
    )  # fmt: skip
