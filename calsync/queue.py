"""Handing tasks to the Celery broker, and saying so when it cannot be reached.

The publish retry policy and the broker's socket timeouts (settings) bound how long this takes: a few
seconds, so a web request whose task cannot be queued answers instead of hanging.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.exceptions import KombuError

log = logging.getLogger(__name__)

UNREACHABLE = "Could not reach the task queue"


def publish(task: Any, *args: Any, countdown: float | None = None) -> bool:
    """Queue `task(*args)`; False (and a warning in the log) if the broker could not be reached."""
    try:
        task.apply_async(args, countdown=countdown)
    except (KombuError, OSError):
        log.warning("task queue unreachable", exc_info=True, extra={"task": task.name})
        return False
    return True
