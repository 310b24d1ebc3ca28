"""Builds the Microsoft side of an integration from its stored settings and (encrypted) token cache."""

from __future__ import annotations

from django.utils import timezone

from integrations.models import Integration, MicrosoftOrganisation
from sync.errors import AuthRevoked

from .adapter import MicrosoftSide
from .client import GraphClient
from .oauth import token_provider
from .organisation import token_provider as org_token_provider


def client_for(integration: Integration) -> GraphClient:
    """Graph as this integration reaches it: the organisation's app for its mailbox, or the user's own tokens."""
    if integration.config.get("auth") == "organisation":
        organisation = MicrosoftOrganisation.objects.filter(tenant_id=integration.tenant_id, enabled=True).first()
        if organisation is None:
            raise AuthRevoked("Your organisation turned off Microsoft 365 sync. Connect to MS Exchange yourself.")
        return GraphClient(org_token_provider(organisation), mailbox=integration.config["account"])
    credentials = integration.credentials

    def keep(cache: str) -> None:
        # msal refreshed the tokens: keep its cache (encrypted) for the next run. Microsoft gave a new refresh
        # token with it, good for another 90 days unused (operations.radar).
        integration.set_credentials({**credentials, "cache": cache})
        Integration.objects.filter(pk=integration.pk).update(
            credentials_encrypted=integration.credentials_encrypted, token_refreshed_at=timezone.now()
        )

    return GraphClient(token_provider(credentials, on_change=keep), owner=integration.config.get("account", ""))


def build_side(integration: Integration) -> MicrosoftSide:
    return MicrosoftSide(client_for(integration), integration.remote_calendar_id, integration.calendar.timezone)


def after_sync(integration: Integration) -> None:
    """After the first sync (its delta position read), subscribe to change notifications, when calsync has a
    public address; a failed subscription is retried by the hourly renewal, not after every sync."""
    from . import push

    if push.push_available() and not integration.push_channel and not integration.push_state:
        push.subscription_open(integration_id=integration.pk)


def before_disconnect(integration: Integration) -> None:
    from . import push

    push.subscription_close(integration)
