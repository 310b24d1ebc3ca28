"""Loaded into bench/load.py's Celery workers (`celery worker --include loadprobe`) and its dispatchers: counts
the database statements each process sends, and writes the totals to LOADPROBE_DIR for the benchmark to add up
(a worker after every task, a dispatcher when it exits).

Statements are counted where Django sends them (the same count as the other benchmarks' QueryCounter), in every
thread: a sync's heartbeat thread has a connection of its own.
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any

from celery.signals import task_postrun
from django.db.backends.signals import connection_created

totals = {"queries": 0, "tasks": 0, "connections": 0}


def _count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    totals["queries"] += 1
    return execute(sql, params, many, context)


def _wrap(sender: Any, connection: Any, **kwargs: Any) -> None:
    totals["connections"] += 1
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


def write(kind: str) -> None:
    """Replaced whole (rename), as the benchmark reads these files while the workers run."""
    path = Path(os.environ["LOADPROBE_DIR"], f"{kind}-{os.getpid()}.json")
    path.with_suffix(".tmp").write_text(json.dumps(totals))
    path.with_suffix(".tmp").replace(path)


def _task_done(sender: Any = None, args: Any = None, **kwargs: Any) -> None:
    """A sync ran: a message of polled syncs (sync_scheduled_many) counts once per sync in it."""
    several = getattr(sender, "name", "").endswith("sync_scheduled_many") and args
    totals["tasks"] += len(args[0]) if several else 1
    write("worker")


def count_until_exit(kind: str) -> None:
    atexit.register(write, kind)


connection_created.connect(_wrap)
task_postrun.connect(_task_done)
