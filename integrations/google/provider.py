"""Builds the Google side of an integration from its stored settings and (encrypted) credentials."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from integrations.models import GoogleWorkspace, Integration
from sync.errors import AuthRevoked

from .adapter import GoogleSide
from .client import GoogleApi, delegated_credentials, user_credentials_from


def credentials_for(integration: Integration) -> Any:
    if integration.config.get("auth") == "workspace":
        workspace = GoogleWorkspace.objects.filter(tenant_id=integration.tenant_id, enabled=True).first()
        if workspace is None:
            raise AuthRevoked("Your organisation turned off Google Workspace sync. Sign in with Google to go on.")
        return delegated_credentials(workspace.key, integration.config["account"])

    def keep(credentials: Any) -> None:
        # A refreshed access token is kept (encrypted), so the next run needs no refresh request. Using the refresh
        # token restarts its six months of disuse; an app in "Testing" gets tokens that lapse 7 days after the
        # sign-in whatever their use, so there only the sign-in counts (operations.radar).
        stored = integration.credentials
        stored.update(token=credentials.token, expiry=credentials.expiry.isoformat() if credentials.expiry else "")
        integration.set_credentials(stored)
        used = {} if settings.GOOGLE_OAUTH_TESTING else {"token_refreshed_at": timezone.now()}
        Integration.objects.filter(pk=integration.pk).update(
            credentials_encrypted=integration.credentials_encrypted, **used
        )

    return user_credentials_from(integration.credentials, on_refresh=keep)


def build_side(integration: Integration) -> GoogleSide:
    api = GoogleApi(credentials_for(integration))
    return GoogleSide(
        api,
        integration.remote_calendar_id,
        integration.config.get("time_zone", "UTC"),
        account=integration.config.get("account", ""),
    )


def confirmed(integration: Integration) -> None:
    from .services import channel_open

    channel_open(integration_id=integration.pk)


def before_disconnect(integration: Integration) -> None:
    from .services import google_farewell

    google_farewell(integration=integration)
