"""Connecting Google calendars: per user with OAuth, or organisation-wide with a Workspace service account;
disconnecting (the grant is revoked); push notification channels."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Tenant, User
from events.models import Calendar
from integrations import services as integration_services
from integrations.models import GoogleWorkspace, Integration
from integrations.providers import Provider
from sync.errors import AuthRevoked, SyncError
from sync.services import sync_request_push

from .client import GoogleApi, delegated_credentials, user_credentials_from

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GoogleCalendar:
    url: str  # the calendar id
    name: str
    writable: bool
    time_zone: str = "UTC"
    primary: bool = False

    @property
    def accepts_events(self) -> bool:
        return True


class GoogleConnectError(Exception):
    """Connecting failed; the message says why, for the user."""


def _calendars(credentials: Any) -> tuple[str, list[GoogleCalendar]]:
    """The account's address and its calendars, primary first."""
    api = GoogleApi(credentials)
    try:
        answer = api.execute(api.service.calendarList().list(maxResults=250))
    except AuthRevoked as exc:
        raise GoogleConnectError("Google did not accept calsync's access. Please connect again.") from exc
    except SyncError as exc:
        raise GoogleConnectError(f"Could not read your Google calendars: {exc}") from exc
    calendars = [_calendar(c) for c in answer.get("items", [])]
    calendars.sort(key=lambda c: (not c.primary, c.name.lower()))
    account = next((c.url for c in calendars if c.primary), "")
    return account, calendars


def _calendar(entry: dict[str, Any]) -> GoogleCalendar:
    return GoogleCalendar(
        url=entry["id"],
        name=entry.get("summaryOverride") or entry.get("summary", entry["id"]),
        writable=entry.get("accessRole") in ("owner", "writer"),
        time_zone=entry.get("timeZone", "UTC"),
        primary=bool(entry.get("primary")),
    )


def calendars_for_tokens(tokens: dict[str, Any]) -> tuple[str, list[GoogleCalendar]]:
    return _calendars(user_credentials_from(tokens))


def google_connect(
    *, user: User, account: str, auth: str, tokens: dict[str, Any] | None, remote: GoogleCalendar,
    calendar: Calendar, **sync_settings: Any,
) -> Integration:  # fmt: skip
    integration = integration_services.integration_create(
        user=user,
        provider=Provider.GOOGLE,
        calendar=calendar,
        remote_calendar_id=remote.url,
        remote_calendar_name=remote.name,
        config={"auth": auth, "account": account, "time_zone": remote.time_zone},
        credentials=tokens or {},
        remote_read_only=not remote.writable,
        signed_in=tokens is not None,
        **sync_settings,
    )
    if not integration.awaiting_confirmation:  # else once the user confirms its first sync (registry.confirmed)
        transaction.on_commit(lambda: channel_open(integration_id=integration.pk))
    return integration


def google_reconnect(*, integration: Integration, account: str, tokens: dict[str, Any]) -> Integration:
    """New tokens for an integration that needs reconnecting: the same Google account only."""
    if account.lower() != integration.config.get("account", "").lower():
        raise GoogleConnectError(
            f"You signed in as {account}, but this calendar belongs to {integration.config.get('account')}. "
            "Sign in with that account."
        )
    return integration_services.integration_credentials_replaced(integration=integration, credentials=tokens,
                                                                 signed_in=True)  # fmt: skip


def google_farewell(*, integration: Integration) -> None:
    """Before disconnecting: stop push, and revoke calsync's grant at Google unless another calendar of the
    same Google account still uses it."""
    channel_close(integration)
    others = Integration.objects.filter(
        user=integration.user, provider=Provider.GOOGLE, config__account=integration.config.get("account")
    ).exclude(pk=integration.pk)
    if integration.config.get("auth") == "oauth" and not others.exists():
        _revoke(integration.credentials.get("refresh_token", ""))


def _revoke(token: str) -> None:
    if not token:
        return
    with requests.Session() as session:
        session.trust_env = False
        try:
            response = session.post(settings.GOOGLE_REVOKE_URI, data={"token": token}, timeout=15,
                                    verify=settings.GOOGLE_CA_BUNDLE or True)  # fmt: skip
        except requests.RequestException as exc:
            log.warning("google token revocation failed", extra={"error": type(exc).__name__})
            return
    if response.status_code not in (200, 400):  # 400: already revoked or expired
        log.warning("google token revocation refused", extra={"status": response.status_code})


# --- organisation-wide (Google Workspace) -------------------------------------------------------

_KEY_FIELDS = ("type", "client_email", "private_key", "private_key_id")


def parse_key(text: str) -> dict[str, Any]:
    """A service account's JSON key file, checked: ValidationError saying what is wrong with it."""
    try:
        key = json.loads(text)
    except ValueError:
        raise ValidationError("This is not a JSON key file. Download the key as JSON in Google Cloud.") from None
    missing = [f for f in _KEY_FIELDS if not isinstance(key, dict) or not key.get(f)]
    if missing:
        raise ValidationError(f"The key file lacks {', '.join(missing)}: upload the service account's JSON key.")
    if key["type"] != "service_account":
        raise ValidationError("This key is not a service account key (its type is not service_account).")
    try:
        delegated_credentials(key, "check@example.com")
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"The key's private key cannot be read ({type(exc).__name__}).") from None
    return key


def workspace_save(*, tenant: Tenant, key_text: str, enabled: bool) -> GoogleWorkspace:
    from calsync import crypto

    workspace = GoogleWorkspace.objects.filter(tenant=tenant).first()
    if key_text.strip():
        key = parse_key(key_text)
        same_key = workspace is not None and workspace.key.get("private_key_id") == key["private_key_id"]
        workspace = workspace or GoogleWorkspace(tenant=tenant)
        workspace.client_email, workspace.key_encrypted = key["client_email"], crypto.encrypt(key)
        # The key file does not say when it was made; its first upload is the nearest date calsync knows
        # (operations.radar). The same key uploaded again is no younger.
        if not (same_key and workspace.key_created_at):
            workspace.key_created_at = timezone.now()
        workspace.tested_at, workspace.test_ok, workspace.test_message = None, False, ""
    if workspace is None:
        raise ValidationError("Upload the service account's JSON key file first.")
    workspace.enabled = enabled
    workspace.save()
    log.info("google workspace settings saved", extra={"tenant": tenant.pk, "enabled": enabled})
    return workspace


def workspace_test(*, workspace: GoogleWorkspace, admin: User) -> GoogleWorkspace:
    """Impersonate the admin's own address and read their calendars; record and return what happened."""
    try:
        address, calendars = _delegated_calendars_explained(workspace, admin)
    except GoogleConnectError as exc:
        workspace.record_test(False, str(exc))
    else:
        workspace.record_test(True, f"Works: calsync acted as {address} and saw {len(calendars)} calendars.")
    log.info("google workspace tested", extra={"tenant": workspace.tenant_id, "ok": workspace.test_ok,
                                               "client_email": workspace.client_email})  # fmt: skip
    return workspace


def _delegated_calendars_explained(workspace: GoogleWorkspace, user: User) -> tuple[str, list[GoogleCalendar]]:
    """The user's calendars through the workspace key, with Google's refusals turned into what the admin must fix."""
    tenant = user.tenant
    assert tenant is not None
    problems = []
    for address in tenant.addresses_for(user.email):
        credentials = delegated_credentials(workspace.key, address)
        try:
            _, calendars = _calendars(credentials)  # every refusal arrives as GoogleConnectError
            return address, calendars
        except GoogleConnectError as exc:
            problems.append(_explain(address, exc))
    raise GoogleConnectError(" ".join(dict.fromkeys(problems)))


def _explain(address: str, exc: BaseException) -> str:
    texts = []
    while exc is not None:  # Google's own words are at the bottom of the chain
        texts.append(str(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = " ".join(texts)
    if "unauthorized_client" in text:
        return ("Google refuses the service account: domain-wide delegation is not enabled for its client id, or the "
                "calendar scope is not granted in the Admin console (Security › API controls).")  # fmt: skip
    if "invalid_grant" in text and ("Invalid email" in text or "User ID" in text):
        return f"Google has no user {address} in your Workspace."
    if "invalid_grant" in text or "Invalid JWT" in text:
        return "Google does not accept this key (deleted, or the clock is wrong). Upload a current key."
    return f"{address}: {texts[0]}"


def workspace_for(user: User) -> GoogleWorkspace | None:
    return GoogleWorkspace.usable_for(user)  # type: ignore[no-any-return]


def workspace_calendars(*, user: User) -> tuple[str, list[GoogleCalendar]]:
    """The user's own Google calendars through the organisation's service account (never anyone else's)."""
    workspace = workspace_for(user)
    if workspace is None:
        raise PermissionDenied("Your organisation has not set up Google Workspace sync.")
    return _delegated_calendars_explained(workspace, user)


# --- push notifications ---------------------------------------------------------------------------


def push_available() -> bool:
    return bool(settings.GOOGLE_WEBHOOK_BASE_URL)


def channel_open(*, integration_id: int) -> None:
    """Ask Google to call us when the calendar changes; without a public address, polling goes on as before."""
    integration = Integration.objects.filter(pk=integration_id, provider=Provider.GOOGLE).first()
    if integration is not None:
        _open_channel(integration)


def _open_channel(integration: Integration) -> bool:
    if not push_available():
        return False
    from .provider import credentials_for

    api = GoogleApi(credentials_for(integration))
    body = {
        "id": f"calsync-{integration.pk}-{secrets.token_hex(8)}",
        "type": "web_hook",
        "address": settings.GOOGLE_WEBHOOK_BASE_URL + reverse("integrations:google_push"),
        "token": secrets.token_urlsafe(24),
        "params": {"ttl": str(7 * 24 * 3600)},
    }
    try:
        answer = api.execute(api.service.events().watch(calendarId=integration.remote_calendar_id, body=body))
    except SyncError as exc:
        log.warning("google push channel not opened", extra={"integration": integration.pk, "error": str(exc)})
        # Due now: the hourly channels_renew (which reads push_expires_at) tries again.
        Integration.objects.filter(pk=integration.pk, push_channel=integration.push_channel).update(
            push_state=Integration.PushState.FAILED, push_expires_at=timezone.now()
        )
        return False
    old = integration.config.get("channel")
    channel = {"id": body["id"], "token": body["token"], "resource_id": answer["resourceId"],
               "expiration": int(answer.get("expiration", 0))}  # fmt: skip
    if not _record_channel(integration, channel):
        _stop(api, channel)  # another run replaced the channel we read first: theirs stands
        return False
    if old:
        _stop(api, old)
    return True


def _record_channel(integration: Integration, channel: dict[str, Any]) -> bool:
    """Only if the integration still holds the channel we read (of two racing renewals one wins). The pages say
    changes arrive at once (sync.live) until push_expires_at, which the renewal reads too (indexed)."""
    expires = datetime.fromtimestamp(channel["expiration"] / 1000, tz=UTC) if channel["expiration"] else None
    return integration.config_merge({"channel": channel}, holding={"push_channel": integration.push_channel},
                                    push_channel=channel["id"], push_state=Integration.PushState.ACTIVE,
                                    push_expires_at=expires)  # fmt: skip


def channel_close(integration: Integration) -> None:
    channel = integration.config.get("channel")
    if not channel:
        return
    from .provider import credentials_for

    try:
        _stop(GoogleApi(credentials_for(integration)), channel)
    except Exception:  # any failure: the channel expires on its own within a week
        log.warning("google push channel not stopped", extra={"integration": integration.pk})


def _stop(api: GoogleApi, channel: dict[str, Any]) -> None:
    with contextlib.suppress(SyncError):  # already gone at Google
        api.execute(api.service.channels().stop(body={"id": channel["id"], "resourceId": channel["resource_id"]}))


def channels_renew() -> int:
    """Channels expiring within a day get a successor, and channels that failed to open are tried again (beat runs
    this hourly); both are found by the indexed push_expires_at."""
    soon = timezone.now() + timedelta(hours=24)
    expiring = Integration.objects.filter(
        provider=Provider.GOOGLE, push_expires_at__lt=soon, awaiting_confirmation=False
    ).order_by("push_expires_at")
    return sum(_open_channel(integration) for integration in expiring.iterator())


def push_received(*, channel_id: str, token: str, resource_state: str) -> bool:
    """A notification from Google: a real change on a channel we opened starts a sync. False if not ours."""
    if not channel_id:
        return False
    integration = Integration.objects.filter(provider=Provider.GOOGLE, push_channel=channel_id).first()
    if integration is None:
        return False
    expected = str((integration.config.get("channel") or {}).get("token", ""))
    if not expected or not hmac.compare_digest(expected.encode(), token.encode()):
        return False
    if resource_state == "exists" and integration.sync_enabled:
        # On the push queue, with no run row unless the sync finds something; a queue that is down leaves the
        # integration due, so the next dispatch picks the change up.
        sync_request_push(integration=integration)
    return True
