"""The OAuth 2 web flow for "Sign in with Google", with google-auth-oauthlib.

`state` is kept in the session and checked on return, PKCE (S256) protects the
code, and offline access with prompt=consent makes Google issue a refresh
token. Only the calendar scope is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from .client import SCOPE


class OAuthFailed(Exception):
    """The sign-in did not give calsync usable access; the message says why, for the user."""


def _flow(redirect_uri: str, **kwargs: Any) -> Flow:
    config = {
        "web": {
            "client_id": settings.GOOGLE_CLIENT_ID,
            "client_secret": settings.GOOGLE_CLIENT_SECRET,
            "auth_uri": settings.GOOGLE_AUTH_URI,
            "token_uri": settings.GOOGLE_TOKEN_URI,
            "redirect_uris": [redirect_uri],
        }
    }
    flow = Flow.from_client_config(config, scopes=[SCOPE], redirect_uri=redirect_uri, **kwargs)
    flow.oauth2session.trust_env = False  # the machine's proxy and CA variables are not for Google's endpoints
    if settings.GOOGLE_CA_BUNDLE:
        flow.oauth2session.verify = settings.GOOGLE_CA_BUNDLE
    return flow


@dataclass(frozen=True)
class Start:
    url: str
    state: str
    code_verifier: str


def start(redirect_uri: str, login_hint: str = "") -> Start:
    flow = _flow(redirect_uri)
    extra = {"login_hint": login_hint} if login_hint else {}
    url, state = flow.authorization_url(access_type="offline", prompt="consent", include_granted_scopes="false",
                                        **extra)  # fmt: skip
    return Start(url=url, state=state, code_verifier=flow.code_verifier)


def finish(*, redirect_uri: str, state: str, code_verifier: str, query: dict[str, str]) -> dict[str, Any]:
    """Exchange the code for tokens; OAuthFailed with a clear reason for every way it can go wrong."""
    if query.get("error"):
        if query["error"] == "access_denied":
            raise OAuthFailed("You did not allow calsync to use your Google Calendar, so nothing was connected.")
        raise OAuthFailed(f"Google did not sign you in ({query['error']}).")
    if not state or query.get("state") != state:
        raise OAuthFailed("This sign-in did not start here (its state does not match). Please try again.")
    if not query.get("code"):
        raise OAuthFailed("Google sent no authorisation code. Please try again.")
    flow = _flow(redirect_uri, state=state, code_verifier=code_verifier, autogenerate_code_verifier=False)
    try:
        flow.fetch_token(code=query["code"])
    except OAuth2Error as exc:
        raise OAuthFailed(f"Google refused the sign-in ({exc.error}). Please start again.") from exc
    except (ValueError, Warning, OSError) as exc:
        raise OAuthFailed(f"The sign-in with Google failed ({type(exc).__name__}). Please try again.") from exc
    credentials = flow.credentials
    if not credentials.refresh_token:
        raise OAuthFailed(
            "Google did not grant calsync lasting access (no refresh token). Remove calsync under “Third-party "
            "access” in your Google Account, then connect again."
        )
    if SCOPE not in (credentials.granted_scopes or credentials.scopes or []):
        raise OAuthFailed("Google did not grant access to your calendars. Connect again and allow it.")
    return {
        "token": credentials.token,
        "refresh_token": credentials.refresh_token,
        "expiry": credentials.expiry.isoformat() if credentials.expiry else "",
    }
