"""Connecting Outlook / Microsoft 365 calendars over Microsoft Graph."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from events.models import Calendar
from integrations import services as integration_services
from integrations.connecting import MailboxCalendar
from integrations.models import Integration
from integrations.providers import Provider
from sync.errors import SyncError

from .client import GraphClient
from .oauth import Tokens, token_provider


class MicrosoftConnectError(Exception):
    """Connecting failed; the message says why, for the user."""


def mailbox_calendars(client: GraphClient) -> list[MailboxCalendar]:
    """The mailbox's calendars, the default first; SyncError when Graph refuses."""
    answer = client.call("GET", f"{client.prefix}/calendars", params={"$top": "100"})
    calendars = [
        MailboxCalendar(c["id"], c.get("name", c["id"]), bool(c.get("canEdit")), bool(c.get("isDefaultCalendar")))
        for c in client.values(answer)
    ]
    calendars.sort(key=lambda c: (not c.default, c.name.lower()))
    return calendars


def calendars_for(tokens: Tokens) -> list[MailboxCalendar]:
    client = GraphClient(token_provider({"cache": tokens.cache, "account": tokens.account}), owner=tokens.address)
    try:
        return mailbox_calendars(client)
    except SyncError as exc:
        raise MicrosoftConnectError(f"Could not read your Outlook calendars: {exc}") from exc


def microsoft_connect(*, user: User, tokens: Tokens, remote: MailboxCalendar, calendar: Calendar,
                      **sync_settings: Any) -> Integration:  # fmt: skip
    config = {"auth": "oauth", "account": tokens.address}
    credentials = {"cache": tokens.cache, "account": tokens.account}
    return _connect(user, remote, calendar, config, credentials, **sync_settings)


def microsoft_reconnect(*, integration: Integration, tokens: Tokens) -> Integration:
    if tokens.address != integration.config.get("account", "").lower():
        raise MicrosoftConnectError(
            f"You signed in as {tokens.address}, but this calendar belongs to {integration.config.get('account')}. "
            "Sign in with that account."
        )
    return integration_services.integration_credentials_replaced(
        integration=integration, credentials={"cache": tokens.cache, "account": tokens.account}, signed_in=True
    )


def microsoft_connect_organisation(*, user: User, address: str, remote: MailboxCalendar, calendar: Calendar,
                                   **sync_settings: Any) -> Integration:  # fmt: skip
    """Through the organisation's app: the user's own mailbox only (found by their address)."""
    return _connect(user, remote, calendar, {"auth": "organisation", "account": address}, None, **sync_settings)


def _connect(user: User, remote: MailboxCalendar, calendar: Calendar, config: dict[str, str],
             credentials: dict[str, str] | None, **sync_settings: Any) -> Integration:  # fmt: skip
    return integration_services.integration_create(
        user=user, provider=Provider.MICROSOFT, calendar=calendar, remote_calendar_id=remote.url,
        remote_calendar_name=remote.name, config=config, credentials=credentials,
        remote_read_only=not remote.writable, signed_in=credentials is not None, **sync_settings,
    )  # fmt: skip
