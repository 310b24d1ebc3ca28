"""Connecting Exchange calendars over EWS: with the user's own login, or through the organisation's sync account."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import PermissionDenied, ValidationError
from exchangelib.folders import Calendar, FolderCollection, Root

from accounts.models import Tenant, User
from calsync import crypto
from events.models import Calendar as CalsyncCalendar
from integrations import services as integration_services
from integrations.addresses import check_public_address
from integrations.connecting import MailboxCalendar
from integrations.models import ExchangeServer, Integration
from integrations.providers import Provider
from sync.errors import AuthRevoked, PermanentError, SyncError

from .client import Access, LoginRefused, Server, account, ews_url, translated

log = logging.getLogger(__name__)


class ExchangeConnectError(Exception):
    """Connecting failed; the message says why, for the user."""


# What to do about a refused login, in the words of the page that shows it.
RETRY_CONNECT = "Check the server, domain, username and password, then press Test Exchange Settings again."
RETRY_UPDATE = "Check the server, domain, username and password, then press Check and save again."
RETRY_ORGANISATION = "Check the sync account's username and password, then press Test Exchange Settings again."
# Also the integration page's, for a calendar reached through the organisation's sync account: it has no button.
ASK_ADMIN = "Ask an admin of your organisation to check its Exchange settings."


def _explain(exc: SyncError, server: Server) -> str:
    host = urlsplit(server.ews_url).hostname or server.ews_url
    text = str(exc)
    if isinstance(exc, LoginRefused) and host.endswith("office365.com"):
        return ("Exchange Online no longer accepts passwords over EWS. Use “Connect to MS Exchange”, which signs "
                "in with Microsoft.")  # fmt: skip
    if "could not be reached" in text:
        return f"calsync could not reach {host}. Check the server name, and that EWS is published to the internet."
    return text


def calendars_for(server: Server, mailbox: str, *, refused: str) -> list[MailboxCalendar]:
    """The mailbox's calendar folders as this login sees them: the "Test Exchange Settings" check.
    `refused`: what the page showing the error offers to do about a refused login."""
    ews = account(server, mailbox)
    try:
        with translated(refused=refused):
            default = Calendar.get_distinguished(root=Root(account=ews))
            others = list(FolderCollection(account=ews, folders=[default]).find_folders())
    except SyncError as exc:
        raise ExchangeConnectError(_explain(exc, server)) from exc
    calendars = [MailboxCalendar(default.id, default.name or "Calendar", _writable(default), default=True)]
    calendars += sorted(
        (MailboxCalendar(f.id, f.name, _writable(f)) for f in others if isinstance(f, Calendar)),
        key=lambda c: c.name.lower(),
    )
    return calendars


def _writable(folder: Any) -> bool:
    rights = folder.effective_rights
    return rights is None or bool(rights.create_contents and rights.modify and rights.delete)


def server_from(*, url: str, domain: str, username: str, password: str) -> Server:
    try:
        address = ews_url(url)  # the address itself is checked by the outbound guard when calsync connects
    except ValueError as exc:
        raise ExchangeConnectError(str(exc)) from exc
    return Server(address, username.strip(), password, domain.strip().upper())


def exchange_connect(*, user: User, server: Server, mailbox: str, remote: MailboxCalendar,
                     calendar: CalsyncCalendar, **sync_settings: Any) -> Integration:  # fmt: skip
    """With the user's own Exchange login (their mailbox, or one they were given delegate access to)."""
    config = {"auth": "password", "account": mailbox, "url": server.ews_url, "domain": server.domain,
              "username": server.username}  # fmt: skip
    return _connect(user, remote, calendar, config, {"password": server.password}, **sync_settings)


def exchange_connect_organisation(*, user: User, address: str, remote: MailboxCalendar, calendar: CalsyncCalendar,
                                  **sync_settings: Any) -> Integration:  # fmt: skip
    """Through the organisation's sync account: the user's own mailbox only (found by their address)."""
    config = {"auth": "organisation", "account": address}
    return _connect(user, remote, calendar, config, None, **sync_settings)


def _connect(user: User, remote: MailboxCalendar, calendar: CalsyncCalendar, config: dict[str, str],
             credentials: dict[str, str] | None, **sync_settings: Any) -> Integration:  # fmt: skip
    return integration_services.integration_create(
        user=user, provider=Provider.EXCHANGE, calendar=calendar, remote_calendar_id=remote.url,
        remote_calendar_name=remote.name, config=config, credentials=credentials,
        remote_read_only=not remote.writable, **sync_settings,
    )  # fmt: skip


def exchange_update_credentials(*, integration: Integration, url: str, domain: str, username: str,
                                password: str) -> Integration:  # fmt: skip
    """New login details (the server too, if it moved), checked against the integration's own calendar first."""
    server = server_from(url=url, domain=domain, username=username, password=password)
    mailbox = integration.config["account"]
    found = {c.url for c in calendars_for(server, mailbox, refused=RETRY_UPDATE)}
    if integration.remote_calendar_id not in found:
        raise ExchangeConnectError(
            f"That login works, but it does not reach the calendar “{integration.remote_calendar_name}” of {mailbox}. "
            "Check the server, or connect the calendar again."
        )
    config = {**integration.config, "url": server.ews_url, "domain": server.domain, "username": server.username}
    return integration_services.integration_credentials_replaced(
        integration=integration, credentials={"password": server.password}, config=config
    )


def server_for(integration: Integration) -> Server:
    """How to log in for this integration: the organisation's sync account or the user's own login."""
    config = integration.config
    if config.get("auth") == "organisation":
        organisation = ExchangeServer.objects.filter(tenant_id=integration.tenant_id, enabled=True).first()
        if organisation is None:
            raise AuthRevoked("Your organisation turned off Exchange sync. Connect with your own Exchange login.")
        if not organisation.test_ok:
            # Changed settings are not used until an admin has tested them: no login goes to an unchecked server.
            raise PermanentError("Your organisation's Exchange settings changed; an admin must press "
                                 "Test Exchange Settings before calsync uses them.")  # fmt: skip
        return organisation_server(organisation)
    return Server(config["url"], config["username"], integration.credentials["password"], config.get("domain", ""))


# --- organisation-wide -------------------------------------------------------------------------------------


def organisation_server(organisation: ExchangeServer) -> Server:
    return Server(organisation.ews_url, organisation.username, organisation.password, organisation.domain,
                  Access.IMPERSONATION if organisation.access == ExchangeServer.Access.IMPERSONATION
                  else Access.DELEGATE)  # fmt: skip


def organisation_save(*, tenant: Tenant, url: str, domain: str, username: str, password: str, sync_email: str,
                      access: str, enabled: bool,
                      password_expires_on: date | None = None) -> ExchangeServer:  # fmt: skip
    try:
        url = ews_url(url)
        check_public_address(url)  # stored now, connected to later: say so on the form at once
    except ValueError as exc:
        raise ValidationError({"url": str(exc)}) from exc
    organisation = ExchangeServer.objects.filter(tenant=tenant).first() or ExchangeServer(tenant=tenant)
    if password:
        organisation.password_encrypted = crypto.encrypt({"password": password})
        if password_expires_on == organisation.password_expires_on:
            password_expires_on = None  # the old password's date, as the form showed it: not the new one's
    elif not organisation.password_encrypted:
        raise ValidationError({"password": "Enter the sync account's password."})
    before = (organisation.ews_url, organisation.domain, organisation.username, organisation.sync_email,
              organisation.access)  # fmt: skip
    organisation.ews_url, organisation.domain, organisation.username = url, domain.strip().upper(), username.strip()
    organisation.sync_email, organisation.access, organisation.enabled = sync_email.lower(), access, enabled
    organisation.password_expires_on = password_expires_on
    if before != (organisation.ews_url, organisation.domain, organisation.username, organisation.sync_email,
                  organisation.access) or password:  # fmt: skip
        organisation.tested_at, organisation.test_ok, organisation.test_message = None, False, ""
    organisation.save()
    log.info("exchange server settings saved", extra={"tenant": tenant.pk, "enabled": enabled})
    return organisation


def organisation_test(*, organisation: ExchangeServer, admin: User) -> ExchangeServer:
    """ "Test Exchange Settings": log in and read the sync account's calendar, then reach the admin's own calendar
    the way users' calendars will be reached (impersonation or delegate access)."""
    server = organisation_server(organisation)
    try:
        own = calendars_for(Server(server.ews_url, server.username, server.password, server.domain),
                            organisation.sync_email, refused=RETRY_ORGANISATION)  # fmt: skip
        address, calendars = mailbox_calendars(organisation, admin, refused=RETRY_ORGANISATION)
    except ExchangeConnectError as exc:
        organisation.record_test(False, str(exc))
    else:
        organisation.record_test(True, f"Works: calsync logged in as {server.login} ({len(own)} calendars) and "
                                       f"read {len(calendars)} calendars of {address}.")  # fmt: skip
    return organisation


def mailbox_calendars(organisation: ExchangeServer, user: User, *, refused: str) -> tuple[str, list[MailboxCalendar]]:
    """The user's own calendars, found under their address or an alias domain."""
    tenant = user.tenant
    assert tenant is not None
    problems = []
    server = organisation_server(organisation)
    for address in tenant.addresses_for(user.email):
        try:
            return address, calendars_for(server, address, refused=refused)
        except ExchangeConnectError as exc:
            problems.append(f"{address}: {exc}")
    raise ExchangeConnectError(f"No mailbox of {user.email} could be reached. " + " ".join(problems))


def active_for(user: User) -> ExchangeServer | None:
    return ExchangeServer.usable_for(user)  # type: ignore[no-any-return]


def calendars_for_user(user: User) -> tuple[str, list[MailboxCalendar]]:
    organisation = active_for(user)
    if organisation is None:
        raise PermissionDenied("Your organisation has not set up Exchange sync.")
    return mailbox_calendars(organisation, user, refused=ASK_ADMIN)
