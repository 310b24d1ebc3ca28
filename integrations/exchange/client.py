"""Exchange Web Services through exchangelib: one Account per mailbox, and EWS errors as sync errors.

calsync names the EWS URL itself (autodiscover is skipped: on-premises servers often publish EWS without
it), asks for the Exchange 2013 SP1 schema (understood by Exchange 2013, 2016, 2019 and Exchange Online),
and lets exchangelib pick the authentication scheme the server offers (NTLM on most on-premises servers,
Basic where it is enabled). At most four connections per server login, as Exchange's default throttling
policy allows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from django.conf import settings
from exchangelib import DELEGATE, IMPERSONATION, Account, Build, Configuration, Credentials, EWSTimeZone, Version
from exchangelib import errors as ews
from exchangelib.protocol import BaseProtocol, FailFast

from integrations.addresses import server_address
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

CONNECTIONS_PER_LOGIN = 4
REQUEST_VERSION = Version(build=Build(15, 0, 847, 0))  # Exchange2013_SP1

BaseProtocol.USERAGENT = "calsync"


class Access:
    OWN = "own"  # the login's own mailbox
    IMPERSONATION = "impersonation"  # ApplicationImpersonation role: any mailbox in the organisation
    DELEGATE = "delegate"  # the mailbox owner gave the login access to the calendar


@dataclass(frozen=True)
class Server:
    """Where and as whom calsync logs in to Exchange."""

    ews_url: str
    username: str
    password: str
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
    return f"{parts.scheme}://{parts.netloc}{path}"


def account(server: Server, mailbox: str) -> Account:
    """The mailbox as calsync reaches it through this server login. Sends nothing yet."""
    config = Configuration(
        service_endpoint=server.ews_url,
        credentials=Credentials(server.login, server.password),
        version=REQUEST_VERSION,
        max_connections=CONNECTIONS_PER_LOGIN,
        retry_policy=FailFast(),
    )
    access = IMPERSONATION if server.access == Access.IMPERSONATION else DELEGATE
    return Account(
        primary_smtp_address=mailbox,
        config=config,
        autodiscover=False,
        access_type=access,
        default_timezone=EWSTimeZone("UTC"),
    )


@contextmanager
def translated(what: str = "Exchange") -> Iterator[None]:
    """EWS failures as the sync engine's errors, with messages fit for the user and no secrets."""
    try:
        yield
    except ews.UnauthorizedError as exc:
        raise AuthRevoked("Exchange refused the username or password. Use Update credentials.") from exc
    except ews.ErrorImpersonateUserDenied as exc:
        raise AuthRevoked(
            "The sync account may not impersonate this mailbox: it needs the ApplicationImpersonation role."
        ) from exc
    except ews.ErrorNonExistentMailbox as exc:
        raise PermanentError(f"{what} has no mailbox with this address.") from exc
    except ews.ErrorAccessDenied as exc:
        raise AuthRevoked(
            "Exchange denied access to this calendar. The mailbox owner must give the sync account "
            "access (delegate), or the account needs the ApplicationImpersonation role."
        ) from exc
    except ews.ErrorServerBusy as exc:
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
    except (
        ews.ErrorCalendarOccurrenceIsDeletedFromRecurrence,
        ews.ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
        ews.ErrorCalendarEndDateIsEarlierThanStartDate,
        ews.ErrorSchemaValidation,
        ews.ErrorInvalidPropertySet,
    ) as exc:
        raise ItemRejected(f"Exchange refused this event ({type(exc).__name__[5:]}).") from exc
    except ews.ResponseMessageError as exc:
        log.warning("Exchange answered %s", type(exc).__name__)
        raise TransientError(f"Exchange answered {type(exc).__name__}.") from exc
    except (ews.TransportError, ews.RateLimitError, requests.RequestException, OSError) as exc:
        raise TransientError(f"Exchange could not be reached ({type(exc).__name__}).") from exc
