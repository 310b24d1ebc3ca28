"""Microsoft Graph over plain `requests`.

Why not msgraph-sdk: calsync needs a handful of calendar calls, delta links
used verbatim, JSON batching, If-Match, and exact control of throttling
(Retry-After, at most four requests at a time per mailbox). The SDK is
asynchronous, generated and large; a small synchronous client is easier to
read and test, and it is the Graph's documented REST surface either way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from integrations import quota
from sync.errors import (
    AuthRevoked,
    CursorExpired,
    ItemRejected,
    NotFound,
    PermanentError,
    PreconditionFailed,
    TransientError,
    retry_seconds,
)

BATCH = 20  # requests in one JSON batch: https://learn.microsoft.com/graph/json-batching


def gate(mailbox: str) -> quota.Gate:
    """Graph's limits per app per mailbox, shared by every worker: 10,000 requests per 10 minutes, 4 at a time.
    https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits"""
    limit = settings.MICROSOFT_QUOTA_PER_MAILBOX_PER_10_MINUTES
    slots = quota.Slots(quota.scope("graph", "slots", mailbox), settings.MICROSOFT_QUOTA_CONCURRENT_PER_MAILBOX)
    return quota.Gate((quota.within(quota.scope("graph", "mailbox", mailbox), limit, 600),), slots, "Microsoft")


class GraphClient:
    def __init__(self, token: Callable[[], str], mailbox: str = "me", sleep: Callable[[float], None] | None = None,
                 owner: str = "") -> None:  # fmt: skip
        """`mailbox` is "me" (signed in as its owner) or an address (the organisation's app); `owner` names the
        mailbox behind "me", so requests to one mailbox share its four slots whichever way they come."""
        self.token = token
        self.prefix = "/me" if mailbox == "me" else f"/users/{mailbox}"
        self.owner = (owner or mailbox).lower()
        # A client that does not say whose mailbox "me" is shares its limits with no other.
        self.gate = gate(self.owner if self.owner != "me" else uuid.uuid4().hex)
        self.base = settings.MICROSOFT_GRAPH_URL.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE and proxies of the machine are not for Graph
        self.session.verify = settings.MICROSOFT_CA_BUNDLE or True
        self.sleep = sleep or (lambda seconds: time.sleep(seconds))

    def url(self, path: str) -> str:
        """A path under the Graph base, or an absolute link Graph returned (@odata.nextLink, deltaLink), which
        must point at Graph itself: the access token goes with it."""
        if path.startswith("http"):
            link, base = urlsplit(path), urlsplit(self.base)
            if (link.scheme, link.netloc) != (base.scheme, base.netloc):
                raise PermanentError("Microsoft Graph answered with a link to another host; calsync did not follow.")
            return path
        if path.startswith("/v1.0/") or path.startswith("/beta/"):
            parts = urlsplit(self.base)
            return f"{parts.scheme}://{parts.netloc}{path}"
        return f"{self.base}{path}"

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None, missing: type[Exception] = NotFound, size: int = 1,
             invited: bool = False) -> Any:  # fmt: skip
        """One Graph request: throttling (429/503 with Retry-After) waited out a few times, errors as sync errors.

        Every attempt passes the mailbox's gate (`size`: the requests a JSON batch carries; each counts, and Graph
        runs up to four of them at once); Graph's own Retry-After pauses the mailbox for every worker, and the
        retry it invites (`invited`) is let through that pause.
        """
        for attempt in range(settings.MICROSOFT_RETRIES + 1):
            with quota.passing(self.gate, cost=size, width=size, invited=invited):
                try:
                    response = self.session.request(
                        method, self.url(path), json=json, params=params, timeout=settings.MICROSOFT_TIMEOUT_SECONDS,
                        headers={"Authorization": f"Bearer {self.token()}", **(headers or {})},
                    )  # fmt: skip
                except requests.RequestException as exc:
                    raise TransientError(f"Microsoft Graph could not be reached ({type(exc).__name__}).") from exc
            if response.status_code in (429, 503, 504):
                wait = _retry_after(response)
                quota.pause(self.gate, wait if "Retry-After" in response.headers else 0)
                if attempt < settings.MICROSOFT_RETRIES and wait <= settings.MICROSOFT_MAX_WAIT_SECONDS:
                    self.sleep(wait)
                    invited = True
                    continue
                raise TransientError(f"Microsoft asked calsync to slow down ({response.status_code}).", wait)
            if invited:
                quota.resume(self.gate)
            return _result(response, missing)
        raise AssertionError("unreachable")

    def values(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        """A collection's items with its further pages: Outlook collections come 10 at a time unless $top asks for
        more, the rest behind @odata.nextLink. https://learn.microsoft.com/graph/paging"""
        values = list(answer.get("value", []))
        while answer.get("@odata.nextLink"):
            answer = self.call("GET", answer["@odata.nextLink"])
            values.extend(answer.get("value", []))
        return values

    def batch(self, requests_: list[dict[str, Any]]) -> list[tuple[int, Any]]:
        """JSON batching, 20 requests per round trip; throttled ones are sent again after their Retry-After."""
        results: dict[str, tuple[int, Any]] = {}
        pending = [{**r, "id": str(i)} for i, r in enumerate(requests_)]
        invited = False
        for _ in range(settings.MICROSOFT_RETRIES + 1):
            throttled, wait = [], 0.0
            for start in range(0, len(pending), BATCH):
                chunk = pending[start : start + BATCH]
                answer = self.call("POST", "/$batch", json={"requests": chunk}, size=len(chunk), invited=invited)
                for item in answer.get("responses", []):
                    if item["status"] in (429, 503):
                        throttled.append(next(r for r in chunk if r["id"] == item["id"]))
                        wait = max(wait, retry_seconds((item.get("headers") or {}).get("Retry-After")) or 1.0)
                    else:
                        results[item["id"]] = (item["status"], item.get("body"))
            if not throttled:
                break
            quota.pause(self.gate, wait)
            self.sleep(min(wait, settings.MICROSOFT_MAX_WAIT_SECONDS))
            pending, invited = throttled, True
        else:
            raise TransientError("Microsoft kept throttling a batch.", wait)
        return [results[str(i)] for i in range(len(requests_))]


def _retry_after(response: requests.Response) -> float:
    """Graph's Retry-After in seconds, bounded (sync.errors.retry_seconds); 1 when missing or unreadable."""
    seconds = retry_seconds(response.headers.get("Retry-After"))
    return 1.0 if seconds is None else seconds


def _result(response: requests.Response, missing: type[Exception]) -> Any:
    status = response.status_code
    if status < 300:
        return response.json() if response.content else None
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    code, message = error.get("code", ""), error.get("message", "")
    raise error_for(status, code, message, missing)


def batch_error(status: int, body: Any) -> Exception:
    """The error a request of a JSON batch failed with, as `call` would raise it for that request alone."""
    error = (body or {}).get("error", {})
    return error_for(status, error.get("code", ""), error.get("message", ""))


def error_for(status: int, code: str, message: str, missing: type[Exception] = NotFound) -> Exception:
    if status == 401:
        return AuthRevoked("Microsoft no longer accepts calsync's access to this mailbox. Reconnect it.")
    if status == 403:
        return PermanentError("Microsoft refuses: calsync may not change this calendar (read-only or no access).")
    if status == 410 or code in ("SyncStateNotFound", "SyncStateInvalid", "resyncRequired"):
        return CursorExpired("Microsoft forgot the sync position; listing everything again.")
    if status == 404:
        return missing("Microsoft has no such event (any more).")
    if status in (409, 412):
        return PreconditionFailed("The event changed in Outlook since calsync read it.")
    if status == 400:
        return ItemRejected(f"Microsoft refused the event: {message or code}.")
    return TransientError(f"Microsoft answered {status}" + (f" {code}." if code else "."))
