""" "Connect to MS Exchange": the authorization code flow with PKCE and state, through msal.

msal keeps the tokens in a serializable cache; calsync stores that cache
encrypted on the integration and asks msal for a token before each run, which
refreshes it silently. A refusal (invalid_grant, consent revoked) means the
user must reconnect.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import msal
import msal.exceptions
import requests
from django.conf import settings

from sync.errors import AuthRevoked, TransientError

SCOPES = ["Calendars.ReadWrite", "User.Read"]  # msal adds offline_access, openid and profile itself


class OAuthFailed(Exception):
    """The sign-in did not give calsync usable access; the message says why, for the user."""


def _http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # the machine's proxy and CA variables are not for Microsoft's endpoints
    session.verify = settings.MICROSOFT_CA_BUNDLE or True
    return session


# msal's cache of the authority's metadata, shared in the process: a sync does not re-read it every run.
_HTTP_CACHE: dict[Any, Any] = {}


def application(cache: msal.SerializableTokenCache | None = None, tenant: str = "common", client_id: str = "",
                credential: Any = None) -> Any:  # fmt: skip
    """calsync's app ("Connect to MS Exchange"), or with client_id and credential an organisation's own app.

    msal's http cache keeps the authority's metadata, but also replays a refused token request for a while;
    an organisation's app goes without it, so Test settings sees admin consent granted a moment ago.
    """
    host = settings.MICROSOFT_AUTHORITY_HOST
    return msal.ConfidentialClientApplication(
        client_id or settings.MICROSOFT_CLIENT_ID,
        client_credential=credential or settings.MICROSOFT_CLIENT_SECRET,
        authority=f"{host}/{tenant}",
        token_cache=cache,
        http_client=_http(),
        # Only Microsoft's own host is in Microsoft's instance list; the emulator is not.
        instance_discovery=host == "https://login.microsoftonline.com",
        http_cache=None if client_id else _HTTP_CACHE,
    )


def start(redirect_uri: str, login_hint: str = "") -> dict[str, Any]:
    """The flow to keep in the session (state, nonce, PKCE verifier) and its auth_uri to send the browser to."""
    # The code comes back in the query string: a form_post answer is a cross-site POST, on which the browser
    # does not send calsync's SameSite session cookie, so the flow kept in the session could not be found.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
        return application().initiate_auth_code_flow(  # type: ignore[no-any-return]
            SCOPES, redirect_uri=redirect_uri, login_hint=login_hint or None, prompt="select_account",
            response_mode="query",
        )  # fmt: skip


@dataclass(frozen=True)
class Tokens:
    cache: str  # msal's serialized token cache
    account: str  # msal's home_account_id
    address: str  # the mailbox's address


def finish(flow: dict[str, Any] | None, query: dict[str, str]) -> Tokens:
    if not flow:
        raise OAuthFailed("This sign-in did not start here. Please try again.")
    if query.get("error"):
        if query["error"] == "access_denied":
            raise OAuthFailed("You did not allow calsync to use your Outlook calendar, so nothing was connected.")
        raise OAuthFailed(f"Microsoft did not sign you in ({query['error']}).")
    cache = msal.SerializableTokenCache()
    app = application(cache)
    try:
        result = app.acquire_token_by_auth_code_flow(flow, query, scopes=SCOPES)
    except ValueError:  # msal: state missing or mismatched
        raise OAuthFailed("This sign-in did not start here (its state does not match). Please try again.") from None
    except requests.RequestException as exc:
        raise OAuthFailed(f"Microsoft's sign-in service could not be reached ({type(exc).__name__}).") from exc
    if "error" in result:
        raise OAuthFailed(f"Microsoft refused the sign-in: {result.get('error_description') or result['error']}")
    if not result.get("refresh_token"):
        raise OAuthFailed("Microsoft did not grant calsync lasting access (offline_access). Connect again.")
    claims = result.get("id_token_claims") or {}
    accounts = app.get_accounts()
    if not accounts:
        raise OAuthFailed("Microsoft did not say which account signed in. Please try again.")
    address = claims.get("preferred_username") or accounts[0].get("username", "")
    return Tokens(cache=cache.serialize(), account=accounts[0]["home_account_id"], address=address.lower())


def token_provider(credentials: dict[str, Any], on_change: Any = None) -> Any:
    """A callable giving a current access token from the stored cache, refreshing it silently when needed."""
    cache = msal.SerializableTokenCache()
    cache.deserialize(credentials["cache"])
    app = application(cache)

    def token() -> str:
        account = next((a for a in app.get_accounts() if a["home_account_id"] == credentials["account"]), None)
        if account is None:
            raise AuthRevoked("calsync no longer holds access to this mailbox. Reconnect it.")
        try:
            result = app.acquire_token_silent_with_error(SCOPES, account=account)
        except (requests.RequestException, msal.exceptions.MsalError) as exc:
            raise TransientError("Microsoft's sign-in service could not be reached or failed.") from exc
        if not result or "access_token" not in result:
            error = (result or {}).get("error", "")
            if (
                error in ("invalid_grant", "interaction_required", "invalid_client", "unauthorized_client")
                or not result
            ):
                raise AuthRevoked("Microsoft no longer accepts calsync's access to this mailbox. Reconnect it.")
            raise TransientError(f"Microsoft's sign-in service answered {error}.")
        if cache.has_state_changed and on_change is not None:
            on_change(cache.serialize())
            cache.has_state_changed = False
        return str(result["access_token"])

    return token
