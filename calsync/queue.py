"""Handing tasks to the Celery broker, and saying so when it cannot be reached.

The publish retry policy and the broker's socket timeouts (settings) bound how long this takes: a few
seconds, so a web request whose task cannot be queued answers instead of hanging.

Syncs go to queues of their own, so that workers can be given to each and a user's "Synchronize now" never
waits behind the dispatcher's backlog: SYNC_MANUAL (a user is watching: "Synchronize now", first syncs),
SYNC_PUSH (a change on either side asked for it), SYNC_POLLED (the dispatcher's scheduled syncs and retries).
Everything else (beat's housekeeping, imports) goes to Celery's default queue, "celery".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

from django.conf import settings
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

UNREACHABLE = "Could not reach the task queue"

SYNC_MANUAL, SYNC_PUSH, SYNC_POLLED = "sync_manual", "sync_push", "sync_polled"
SYNC_QUEUES = (SYNC_MANUAL, SYNC_PUSH, SYNC_POLLED)


def queue_name(queue: str) -> str:
    """The broker's name for one of SYNC_QUEUES: CELERY_QUEUE_PREFIX lets a test worker have its own set."""
    return f"{settings.CELERY_QUEUE_PREFIX}{queue}"


def publish(task: Any, *args: Any, countdown: float | None = None, queue: str | None = None) -> bool:
    """Queue `task(*args)` (on one of SYNC_QUEUES, or the default queue); False, and a warning in the log, if
    the broker could not be reached."""
    try:
        task.apply_async(args, countdown=countdown, queue=queue_name(queue) if queue else None)
    except (KombuError, OSError, RedisError):
        log.warning("task queue unreachable", exc_info=True, extra={"task": task.name})
        return False
    return True


def publish_many(task: Any, calls: Iterable[Sequence[Any]], *, queue: str, chunk: int = 500) -> int:
    """Queue `task(*args)` for each args in `calls` through one producer (one broker connection for the lot,
    not one checked out per message), `chunk` messages per round trip where the transport can batch them
    (Redis: one pipeline). Returns how many were queued: fewer than asked if the broker went away."""
    from calsync.celery import app

    sent = 0
    pending = iter(calls)
    try:
        with app.producer_or_acquire() as producer:
            while part := list(islice(pending, chunk)):
                with producer.batch(max_size=chunk):  # flushed at the block's end: counted once flushed
                    for args in part:
                        task.apply_async(tuple(args), queue=queue_name(queue), producer=producer)
                sent += len(part)
    except (KombuError, OSError, RedisError):
        log.warning("task queue unreachable", exc_info=True, extra={"task": task.name, "queued": sent})
    return sent
