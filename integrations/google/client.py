"""Talking to Google: credentials, the Calendar v3 service from the discovery document shipped with
google-api-python-client, and Google's errors turned into sync errors.

Endpoints come from settings (GOOGLE_*), so the same code talks to Google or
to the local emulator.
"""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from django.conf import settings
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from integrations import quota
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

SCOPE = "https://www.googleapis.com/auth/calendar"
_RATE_LIMITS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}


class DirectHttp(httplib2.Http):
    """httplib2 without the machine's proxy settings, trusting GOOGLE_CA_BUNDLE when it is set.

    Every Calendar API request (each retry too) passes `gate`, the quotas of its user and project shared by every
    worker; sign-in requests do not count against them. A batch counts once per request in it.
    """

    def __init__(self) -> None:
        super().__init__(timeout=settings.GOOGLE_TIMEOUT_SECONDS, proxy_info=None,
                         ca_certs=settings.GOOGLE_CA_BUNDLE or None)  # fmt: skip
        self.gate: quota.Gate | None = None
        self.cost = 1

    def request(self, uri: str, *args: Any, **kwargs: Any) -> Any:
        if self.gate is None or not uri.startswith((settings.GOOGLE_API_ENDPOINT, settings.GOOGLE_BATCH_URI)):
            return super().request(uri, *args, **kwargs)
        with quota.passing(self.gate, cost=self.cost):
            response, content = super().request(uri, *args, **kwargs)
        _pause_if_asked(self.gate, response, content)
        return response, content

    @contextmanager
    def counting(self, requests: int) -> Any:
        self.cost = requests
        try:
            yield
        finally:
            self.cost = 1


def gate(credentials: Any) -> quota.Gate:
    """Google's per-minute quotas: per user (the delegated user of a service account, or the grant of a signed-in
    user) and per project (the service account's project, or the OAuth client).
    https://developers.google.com/workspace/calendar/api/guides/quota"""
    if isinstance(credentials, service_account.Credentials):
        # The delegated user (`with_subject`); google-auth keeps it only in this attribute.
        user = getattr(credentials, "_subject", None) or credentials.service_account_email
        project = credentials.project_id or credentials.service_account_email
    else:
        user, project = credentials.refresh_token or credentials.token or "", credentials.client_id or ""
    return quota.Gate(
        (quota.within(quota.scope("google", "user", user), settings.GOOGLE_QUOTA_PER_USER_PER_MINUTE, 60),
         quota.within(quota.scope("google", "project", project), settings.GOOGLE_QUOTA_PER_PROJECT_PER_MINUTE, 60)),
        provider="Google",
    )  # fmt: skip


def _pause_if_asked(gate: quota.Gate, response: Any, content: bytes) -> None:
    """Google said "slow down" with a Retry-After: every worker holds back the user (or, over the project's daily
    quota, the project) as long."""
    seconds = str(response.get("retry-after", ""))
    if response.status not in (403, 429) or not seconds.isdigit():
        return
    why = _reason_of(content)
    if response.status == 403 and why not in _RATE_LIMITS:
        return
    user, project = gate.buckets
    quota.pause(quota.Gate((project if why == "quotaExceeded" else user,)), float(seconds))


class RefreshingCredentials(user_credentials.Credentials):
    """User credentials that report a refreshed access token, so it is stored (encrypted) for the next run."""

    on_refresh: Callable[[user_credentials.Credentials], None] | None = None

    def refresh(self, request: Any) -> None:
        super().refresh(request)
        if self.on_refresh is not None:
            self.on_refresh(self)


def user_credentials_from(data: dict[str, Any], on_refresh: Callable[[Any], None] | None = None) -> Any:
    expiry = datetime.fromisoformat(data["expiry"]).replace(tzinfo=None) if data.get("expiry") else None
    creds = RefreshingCredentials(
        token=data.get("token"),
        refresh_token=data.get("refresh_token"),
        token_uri=settings.GOOGLE_TOKEN_URI,
        client_id=settings.GOOGLE_CLIENT_ID,
        client_secret=settings.GOOGLE_CLIENT_SECRET,
        scopes=[SCOPE],
        expiry=expiry,
    )
    creds.on_refresh = on_refresh
    return creds


def delegated_credentials(key: dict[str, Any], subject: str) -> Any:
    """A Workspace service account acting as `subject` (domain-wide delegation)."""
    info = {**key, "token_uri": settings.GOOGLE_TOKEN_URI}
    return service_account.Credentials.from_service_account_info(info, scopes=[SCOPE], subject=subject)


@dataclass
class GoogleApi:
    """The Calendar v3 service for one set of credentials, and the HTTP connection it counts requests on."""

    credentials: Any
    http: DirectHttp = field(default_factory=DirectHttp)

    def __post_init__(self) -> None:
        self.http.gate = gate(self.credentials)
        self.authorized = google_auth_httplib2.AuthorizedHttp(self.credentials, http=self.http)
        self.service = build(
            "calendar", "v3", http=self.authorized, static_discovery=True, cache_discovery=False,
            client_options={"api_endpoint": settings.GOOGLE_API_ENDPOINT},
        )  # fmt: skip

    def execute(self, request: Any) -> Any:
        """Run one request; rate limits and server errors are retried with exponential backoff and jitter."""
        with google_errors():
            return request.execute(num_retries=settings.GOOGLE_RETRIES)

    def batch(self, requests: list[Any]) -> list[tuple[Any, Exception | None]]:
        """Several requests in one HTTP round trip (Google's batch endpoint, 50 at a time)."""
        results: list[tuple[Any, Exception | None]] = []
        for start in range(0, len(requests), 50):
            answers: dict[str, tuple[Any, Exception | None]] = {}
            # An explicit batch_uri: the discovery document names Google's own address.
            batch = BatchHttpRequest(callback=_collector(answers), batch_uri=settings.GOOGLE_BATCH_URI)
            for request in requests[start : start + 50]:
                batch.add(request)
            with google_errors(), self.http.counting(len(requests[start : start + 50])):
                batch.execute(http=self.authorized)
            results.extend(answers[str(i + 1)] for i in range(len(answers)))
        return results


def _collector(answers: dict[str, tuple[Any, Exception | None]]) -> Callable[[str, Any, Exception | None], None]:
    def collect(request_id: str, response: Any, exception: Exception | None) -> None:
        answers[request_id] = (response, exception)

    return collect


def reason(exc: HttpError) -> str:
    return _reason_of(exc.content)


def _reason_of(content: bytes | None) -> str:
    try:
        body = json.loads(content or b"{}")
        errors = body.get("error", {}).get("errors") or [{}]
        return str(errors[0].get("reason") or body.get("error", {}).get("status") or "")
    except (ValueError, AttributeError):
        return ""


def translate(exc: HttpError, *, missing: type[Exception] = NotFound) -> Exception:
    """The sync error a Google error means. `missing` is what 404 and 410 mean for the call at hand."""
    status, why = exc.resp.status, reason(exc)
    retry_after = exc.resp.get("retry-after")
    wait = float(retry_after) if retry_after and str(retry_after).isdigit() else None
    if status in (429, 500, 502, 503, 504) or (status == 403 and why in _RATE_LIMITS):
        return TransientError(f"Google asked calsync to slow down or is unavailable ({status} {why}).", wait)
    if status == 401:
        return AuthRevoked("Google no longer accepts calsync's access to this account. Reconnect it.")
    if status == 403:
        return PermanentError("Google refuses: calsync may not change this calendar (read-only or no access).")
    if status == 410 and why == "fullSyncRequired":
        return CursorExpired("Google forgot the sync position; listing everything again.")
    if status in (404, 410):
        return missing("Google has no such event (any more).")
    if status in (409, 412):
        return PreconditionFailed("The event changed in Google since calsync read it.")
    if status == 400:
        return ItemRejected(f"Google refused the event: {exc.reason or why}.")
    return TransientError(f"Google answered {status} {why}.")


@contextmanager
def google_errors() -> Any:
    try:
        yield
    except HttpError as exc:
        raise translate(exc) from exc
    except google.auth.exceptions.RefreshError as exc:
        text = str(exc)
        if "invalid_grant" in text or "unauthorized_client" in text or "invalid_client" in text:
            raise AuthRevoked("Google no longer accepts calsync's access to this account. Reconnect it.") from exc
        raise TransientError("Google's sign-in service did not answer; trying again later.") from exc
    except (httplib2.HttpLib2Error, http.client.HTTPException, OSError) as exc:
        # HTTPException: a reply cut off in the middle (IncompleteRead), which httplib2 lets through as it is.
        raise TransientError(f"Google could not be reached ({type(exc).__name__}).") from exc
