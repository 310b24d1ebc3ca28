"""The few ways a calendar side can fail, whatever the provider.

Adapters turn provider quirks (HTTP statuses, error bodies) into these; the
engine and the sync service decide what each means for the run.
"""

from __future__ import annotations

import math

# The longest a provider's "come back later" (Retry-After, a back-off) may defer a run: a larger value, or one too
# large to be a number of seconds at all, is a server's mistake or hostility, not a reason to stop syncing for
# years (or to fail computing the date).
MAX_RETRY_AFTER_SECONDS = 86400


class SyncError(Exception):
    """Base class; the message is safe to show to the user (no secrets, no tokens)."""


class TransientError(SyncError):
    """Try again later: throttling, 5xx, timeouts. `retry_after` is in seconds when the provider said, at most
    MAX_RETRY_AFTER_SECONDS; whatever the provider sent (a number, the text of a header), see retry_seconds."""

    def __init__(self, message: str, retry_after: float | str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_seconds(retry_after)


def retry_seconds(value: object) -> float | None:
    """A delay a provider asked for, as seconds calsync may wait: None for no usable value (missing, negative,
    not a number), at most MAX_RETRY_AFTER_SECONDS (huge or infinite values included)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, float(MAX_RETRY_AFTER_SECONDS))


class Throttled(TransientError):
    """calsync held a request back to stay under the provider's limits (integrations/quota.py): not a failure of
    the run, which is retried once there is room, without using up one of its attempts."""


class PermanentError(SyncError):
    """Retrying will not help until someone changes something (settings, calendar, permissions)."""


class AuthRevoked(PermanentError):
    """The credentials no longer work: the user must reconnect."""


class CursorExpired(SyncError):
    """The side no longer knows our cursor (410 Gone, invalid sync token): list everything again."""


class PreconditionFailed(SyncError):
    """The item changed since the version we based a write on (If-Match mismatch)."""


class NotFound(SyncError):
    """The item is not there (any more)."""


class ItemRejected(SyncError):
    """The side refuses this one item (invalid data, unsupported feature); the rest of the run goes on."""


class OwnerOnly(ItemRejected):
    """The side keeps a version only someone else may change (a meeting copy: its owner's time and title)."""


class SafetyStop(SyncError):
    """The run stopped itself rather than do something that looks like a mistake (mass deletion)."""


class QueueUnavailable(SyncError):
    """The task queue (the Celery broker) could not be reached, so a requested sync was not started."""


# What converting a provider's payload raises on data calsync did not expect (a missing key, a value of the wrong
# type, a date that overflows in a time zone): that item is reported "Not synced" and the run goes on.
UNREADABLE: tuple[type[Exception], ...] = (ValueError, KeyError, TypeError, OverflowError)
