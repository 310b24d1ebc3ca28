"""Exchange Web Services through exchangelib: one Account per mailbox, and EWS errors as sync errors.

calsync names the EWS URL itself (autodiscover is skipped: on-premises servers often publish EWS without
it), asks for the Exchange 2013 SP1 schema (understood by Exchange 2013, 2016, 2019 and Exchange Online),
and lets exchangelib pick the authentication scheme the server offers (NTLM on most on-premises servers,
Basic where it is enabled). At most four connections per server login, as Exchange's default throttling
policy allows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from exchangelib import DELEGATE, IMPERSONATION, Account, Build, Configuration, Credentials, EWSTimeZone, Version
from exchangelib import errors as ews
from exchangelib.protocol import BaseProtocol, FailFast

from integrations import quota
from integrations.addresses import AddressRefused, GuardedAdapter, server_address
from sync.errors import (
    AuthRevoked,
    CursorExpired,
    ItemRejected,
    NotFound,
    PermanentError,
    PreconditionFailed,
    TransientError,
)

log = logging.getLogger(__name__)


class _FailFast(FailFast):
    """Fail at once (the sync retries the run later), but say "busy, come back after Retry-After" for 429 and
    503: exchangelib's FailFast drops Retry-After, and takes a 429 (IIS or a load balancer throttling) for a
    malformed response."""

    def raise_response_errors(self, response: requests.Response) -> None:
        if response.status_code in (429, 503):
            seconds = response.headers.get("Retry-After", "")
            raise ews.ErrorServerBusy(
                f"HTTP {response.status_code}", back_off=int(seconds) if seconds.isdigit() else None
            )
        super().raise_response_errors(response)


CONNECTIONS_PER_LOGIN = 4
REQUEST_VERSION = Version(build=Build(15, 0, 847, 0))  # Exchange2013_SP1

BaseProtocol.USERAGENT = "calsync"
BaseProtocol.HTTP_ADAPTER_CLS = GuardedAdapter  # every EWS connection through the outbound guard


class Access:
    OWN = "own"  # the login's own mailbox
    IMPERSONATION = "impersonation"  # ApplicationImpersonation role: any mailbox in the organisation
    DELEGATE = "delegate"  # the mailbox owner gave the login access to the calendar


@dataclass(frozen=True)
class Server:
    """Where and as whom calsync logs in to Exchange."""

    ews_url: str
    username: str
    password: str = field(repr=False)  # never in tracebacks or logs
    domain: str = ""  # NetBIOS domain; joined as DOMAIN\\username unless the username is a UPN
    access: str = Access.OWN

    @property
    def login(self) -> str:
        if self.domain and "\\" not in self.username and "@" not in self.username:
            return f"{self.domain}\\{self.username}"
        return self.username


def ews_url(text: str) -> str:
    """People type 'mail.example.com' or the whole EWS address; EWS wants https://host/EWS/Exchange.asmx."""
    parts = server_address(text, allow_http=settings.EXCHANGE_ALLOW_HTTP, example="mail.example.com")
    path = parts.path.rstrip("/")
    if not path.lower().endswith(".asmx"):
        path += "/EWS/Exchange.asmx"
    url = f"{parts.scheme}://{parts.netloc}{path}"
    if len(url) > 500:
        raise ValueError("This address is too long for a server address.")
    return url


def account(server: Server, mailbox: str, *, gated: bool = True) -> Account:
    """The mailbox as calsync reaches it through this server login. Sends nothing yet. `gated=False` leaves the
    login's shared request quota out only while no gated Account of the same login exists in this process
    (exchangelib shares one protocol per server and login): tests use it; a request that must bypass the gate (the
    notification listener's hanging GetStreamingEvents) is sent `with ungated():` instead."""
    config = Configuration(
        service_endpoint=server.ews_url,
        credentials=Credentials(server.login, server.password),
        version=REQUEST_VERSION,
        max_connections=CONNECTIONS_PER_LOGIN,
        retry_policy=_FailFast(),
    )
    access = IMPERSONATION if server.access == Access.IMPERSONATION else DELEGATE
    mailbox_account = Account(
        primary_smtp_address=mailbox,
        config=config,
        autodiscover=False,
        access_type=access,
        default_timezone=EWSTimeZone("UTC"),
    )
    # exchangelib waits 120 s for an answer by default, holding a sync (and its lock) that long per request.
    mailbox_account.protocol.TIMEOUT = settings.EXCHANGE_TIMEOUT_SECONDS
    if gated:
        _gate_sessions(mailbox_account.protocol, gate(server))
    return mailbox_account


def gate(server: Server) -> quota.Gate:
    """The login's share of the server, for every worker: EWS throttles per caller, by its throttling policy's
    budget and concurrent connections, and answers ErrorServerBusy with BackOffMilliseconds when over.
    https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange"""
    caller = f"{server.ews_url} {server.login}"
    return quota.Gate(
        (quota.within(quota.scope("ews", "login", caller), settings.EXCHANGE_QUOTA_PER_LOGIN_PER_MINUTE, 60),),
        quota.Slots(quota.scope("ews", "slots", caller), settings.EXCHANGE_QUOTA_CONCURRENT_PER_LOGIN),
        "Exchange",
    )


# The gate of the login this thread last sent a request for: where Exchange's "server busy" pauses (translated).
_last_gate: ContextVar[quota.Gate | None] = ContextVar("ews_gate", default=None)
_ungated: ContextVar[bool] = ContextVar("ews_ungated", default=False)


@contextmanager
def ungated() -> Iterator[None]:
    """A request sent in here takes no room in the login's gate: only the listener's GetStreamingEvents, which stays
    open for many minutes and which EWS limits apart (HangingConnectionLimit). Exchange's "busy" on it still pauses
    the gate."""
    token = _ungated.set(True)
    try:
        yield
    finally:
        _ungated.reset(token)


def _gate_sessions(protocol: Any, login_gate: quota.Gate) -> None:
    """exchangelib sends each request on a session it takes from the protocol's pool (one protocol per server and
    login, shared by its Accounts) and gives back when the answer is read, or closes when the request failed: the
    gate is passed there, its slot held as long as the session is out."""
    first = not hasattr(protocol, "calsync_gate")
    protocol.calsync_gate = login_gate  # limits as the settings say now
    if not first:
        return
    cls, holders = type(protocol), dict[int, list[str]]()

    def get_session() -> Any:
        if _ungated.get():
            _last_gate.set(protocol.calsync_gate)
            return cls.get_session(protocol)
        held = quota.enter(protocol.calsync_gate)
        try:
            session = cls.get_session(protocol)
        except BaseException:
            quota.leave(protocol.calsync_gate, held)
            raise
        holders[id(session)] = held
        _last_gate.set(protocol.calsync_gate)
        return session

    def handing_back(method: Any) -> Any:
        def hand_back(session: Any) -> Any:
            held = holders.pop(id(session), None)
            if held is not None:  # not for an ungated session
                quota.leave(protocol.calsync_gate, held)
            return method(protocol, session)

        return hand_back

    protocol.get_session = get_session
    protocol.release_session = handing_back(cls.release_session)
    protocol.close_session = handing_back(cls.close_session)


# Exchange says these when it is overloaded, moving the mailbox or restarting: worth trying again later.
_TRANSIENT = (ews.ErrorTimeoutExpired, ews.ErrorInternalServerTransientError, ews.ErrorMailboxStoreUnavailable,
              ews.ErrorMailboxMoveInProgress, ews.ErrorConnectionFailed, ews.ErrorTooManyObjectsOpened,
              ews.ErrorInternalServerError, ews.ErrorExceededConnectionCount)  # fmt: skip


LOGIN_REFUSED = "Exchange refused the username or password."
UPDATE_CREDENTIALS = "Use Update credentials."  # the remedy the integration page offers for a login of its own


class LoginRefused(AuthRevoked):
    """The login itself was refused; the message names the remedy the page that shows it offers."""


@contextmanager
def translated(what: str = "Exchange", *, writing: bool = False, refused: str = UPDATE_CREDENTIALS) -> Iterator[None]:
    """EWS failures as the sync engine's errors, with messages fit for the user and no secrets.

    `writing`: a write of one item. What Exchange refuses then (an occurrence moved past its neighbour, a
    meeting someone else organises, a value exchangelib finds too long) concerns that item only, so the rest
    of the run goes on. `refused`: what to do about a refused login, in the words of the page that shows it.
    """
    try:
        yield
    except AddressRefused as exc:
        raise PermanentError(str(exc)) from exc
    except ews.UnauthorizedError as exc:
        raise LoginRefused(f"{LOGIN_REFUSED} {refused}") from exc
    except ews.ErrorImpersonateUserDenied as exc:
        raise AuthRevoked(
            "The sync account may not impersonate this mailbox: it needs the ApplicationImpersonation role."
        ) from exc
    except ews.ErrorNonExistentMailbox as exc:
        raise PermanentError(f"{what} has no mailbox with this address.") from exc
    except ews.ErrorAccessDenied as exc:
        if writing:
            raise ItemRejected("Exchange does not let calsync change this event (access denied).") from exc
        raise AuthRevoked(
            "Exchange denied access to this calendar. The mailbox owner must give the sync account "
            "access (delegate), or the account needs the ApplicationImpersonation role."
        ) from exc
    except ews.ErrorServerBusy as exc:
        login_gate = _last_gate.get()
        if login_gate is not None and exc.back_off:
            quota.pause(login_gate, exc.back_off)  # every worker holds back this login as long
        raise TransientError("Exchange is busy and asked calsync to wait.", retry_after=exc.back_off) from exc
    except ews.ErrorInvalidSyncStateData as exc:
        raise CursorExpired("Exchange no longer knows calsync's sync state.") from exc
    except ews.ErrorItemNotFound as exc:
        raise NotFound("The event is not in Exchange any more.") from exc
    except ews.ErrorIrresolvableConflict as exc:
        raise PreconditionFailed("The event changed in Exchange since calsync read it.") from exc
    except ews.ErrorFolderNotFound as exc:
        raise PermanentError("This calendar no longer exists in Exchange.") from exc
    except ews.ErrorInvalidServerVersion as exc:
        raise PermanentError("This Exchange server is older than Exchange 2013, which calsync needs.") from exc
    except _TRANSIENT as exc:
        raise TransientError(f"Exchange is not available right now ({type(exc).__name__[5:]}).") from exc
    except ews.ResponseMessageError as exc:
        log.warning("Exchange answered %s", type(exc).__name__)
        if writing:
            raise ItemRejected(f"Exchange refused this event ({type(exc).__name__[5:]}).") from exc
        raise TransientError(f"Exchange answered {type(exc).__name__}.") from exc
    except (ews.TransportError, ews.RateLimitError, requests.RequestException, OSError) as exc:
        raise TransientError(f"Exchange could not be reached ({type(exc).__name__}).") from exc
    except (ValueError, TypeError) as exc:
        if not writing:
            raise
        # exchangelib checks values before sending (a subject over 255 characters, an attendee without address).
        reason = re.sub(r"'[^']{30,}'", "'…'", str(exc))[:200]  # not the whole overlong value
        raise ItemRejected(f"Exchange cannot hold this event ({reason}).") from exc
