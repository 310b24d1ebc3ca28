"""Fetching a published calendar (an ICS feed) by its URL: one conditional GET, through the outbound guard.

The request carries the validators of the last copy (If-None-Match, If-Modified-Since; RFC 9110 13.1): a
feed that did not change answers 304 with no body. Every connection, the first and each redirect hop, goes
through `integrations.addresses.GuardedAdapter`, which refuses addresses inside calsync's own network. The body
is read up to the operator's ICS size limit and no further.
"""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings

from integrations.addresses import AddressRefused, GuardedAdapter
from sync.errors import PermanentError, TransientError, retry_seconds

CHUNK = 64 * 1024
MAX_REDIRECTS = 5
BODY_TIMEOUTS = 4  # the whole answer may take this many timeouts
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


class FeedGone(PermanentError):
    """The publisher says the feed no longer exists (404, 410)."""


@dataclass(frozen=True)
class Fetched:
    """One answer: `body` is None for a 304 (the copy calsync holds is still current)."""

    body: bytes | None
    etag: str = ""
    last_modified: str = ""
    max_age: int | None = None  # seconds the answer stays fresh (Cache-Control), if the server said

    @property
    def not_modified(self) -> bool:
        return self.body is None


def feed_url(text: str) -> str:
    """webcal:// and webcals:// are https:// by another name (how calendar apps are told to subscribe)."""
    text = text.strip()
    lowered = text.lower()
    for scheme in ("webcals://", "webcal://"):
        if lowered.startswith(scheme):
            return "https://" + text[len(scheme) :]
    return text


def host_of(url: str) -> str:
    """Host and port only, for messages: the rest of a feed's URL may be its only credential."""
    parts = urlsplit(url)
    host = parts.hostname or "the server"
    return f"{host}:{parts.port}" if parts.port else host


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the guard must see the real server
    session.max_redirects = MAX_REDIRECTS
    adapter = GuardedAdapter()
    for prefix in ("https://", "http://"):
        session.mount(prefix, adapter)
    return session


def _without_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """requests would send user:password@ as Basic authentication anyway; made explicit, so that it is never
    carried to another host by a redirect (requests drops auth when the host changes)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    plain = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return plain, (parts.username or "", parts.password or "")


def fetch(url: str, *, etag: str = "", last_modified: str = "", timeout: float | None = None) -> Fetched:
    """GET the feed, conditionally when validators are given. Raises FeedGone, TransientError (with the server's
    Retry-After), or PermanentError with a message safe to show (the host, never the URL). `timeout` bounds each
    wait (ICS_FEED_TIMEOUT_SECONDS unless given); the whole answer may take BODY_TIMEOUTS of them."""
    timeout = timeout or settings.ICS_FEED_TIMEOUT_SECONDS
    headers = {"Accept": "text/calendar, */*;q=0.5", "User-Agent": "calsync (ICS subscription)"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    plain, auth = _without_userinfo(url)
    host = host_of(url)
    try:
        with _session() as session:
            response = session.get(plain, headers=headers, auth=auth, stream=True,
                                   timeout=timeout)  # fmt: skip
            with response:
                return _answer(response, host, timeout)
    except AddressRefused as exc:
        raise PermanentError(str(exc)) from None
    except requests.exceptions.TooManyRedirects:
        raise PermanentError(f"The server at {host} redirects too many times.") from None
    except requests.exceptions.SSLError:
        raise PermanentError(f"The TLS certificate of {host} could not be verified.") from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        cause = exc.__context__ or exc.__cause__
        if isinstance(cause, AddressRefused) or "inside its own network" in str(exc):
            raise PermanentError(f"calsync cannot connect to {host}: the address is inside its own network.") from None
        raise TransientError(f"Could not reach {host} ({type(exc).__name__}).") from None
    except requests.exceptions.RequestException as exc:
        raise PermanentError(f"The calendar at {host} cannot be fetched ({type(exc).__name__}).") from None


def _answer(response: requests.Response, host: str, timeout: float) -> Fetched:
    status = response.status_code
    if status == 304:
        return Fetched(None, *_validators(response), max_age=_max_age(response))
    if status in (404, 410):
        raise FeedGone(f"The feed is gone: {host} answers {status} for this calendar's address.")
    if status in (429, 503) or status >= 500:
        raise TransientError(f"The server at {host} is busy or failing ({status}).", retry_after=_retry_after(response))
    if status in (401, 403):
        raise PermanentError(f"The server at {host} refuses access to this calendar ({status}).")
    if status != 200:
        raise PermanentError(f"The server at {host} answered {status} instead of the calendar.")
    return Fetched(_body(response, host, timeout), *_validators(response), max_age=_max_age(response))


def _body(response: requests.Response, host: str, timeout: float) -> bytes:
    limit = settings.ICS_IMPORT_MAX_BYTES
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PermanentError(_too_large(host, limit))
    chunks: list[bytes] = []
    size = 0
    # The timeout bounds each wait for a packet; a server that drips its answer is bounded by this deadline.
    deadline = time.monotonic() + timeout * BODY_TIMEOUTS
    for chunk in response.iter_content(CHUNK):
        size += len(chunk)
        if size > limit:
            raise PermanentError(_too_large(host, limit))
        if time.monotonic() > deadline:
            raise TransientError(f"The calendar at {host} took too long to arrive.")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(host: str, limit: int) -> str:
    return f"The calendar at {host} is larger than calsync accepts ({limit // 1024} KB)."


def _validators(response: requests.Response) -> tuple[str, str]:
    return response.headers.get("ETag", ""), response.headers.get("Last-Modified", "")


def _max_age(response: requests.Response) -> int | None:
    cache = response.headers.get("Cache-Control", "")
    if "no-store" in cache.lower() or "no-cache" in cache.lower():
        return 0
    found = _MAX_AGE.search(cache)
    return int(found.group(1)) if found else None


def _retry_after(response: requests.Response) -> float | None:
    """Seconds, or an HTTP date (RFC 9110 10.2.3)."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return retry_seconds(value)  # bounded (sync.errors): a hostile 99999999999999999999 is a day
    try:
        when: Any = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return retry_seconds(max((when - datetime.now(UTC)).total_seconds(), 0.0))
