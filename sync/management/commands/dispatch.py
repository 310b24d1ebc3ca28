from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.db import DatabaseError, close_old_connections

from accounts.management.base import OperatorCommand
from sync.dispatch import dispatch_due

log = logging.getLogger(__name__)


class Command(OperatorCommand):
    help = (
        "Queue due syncs until stopped: claim and queue a batch at a time while any is due, then wait "
        "SYNC_DISPATCH_IDLE_SECONDS and look again. Any number may run at once (none queues a sync twice); "
        "SIGTERM or Ctrl-C stops it after the batch under way. --once queues what is due now and exits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--once", action="store_true", help="Queue what is due now, then exit.")
        parser.add_argument("--batch", type=int, default=settings.SYNC_DISPATCH_BATCH, help="Claimed per query.")
        parser.add_argument("--idle", type=float, default=settings.SYNC_DISPATCH_IDLE_SECONDS,
                            help="Seconds to wait when nothing is due.")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            queued = dispatch_due(batch=options["batch"])
            self.emit(options, {"queued": queued}, f"Queued {queued} due syncs.")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        queued = 0
        while not stop.is_set():
            queued += self._round(options["batch"], stop)
            stop.wait(options["idle"])
        self.emit(options, {"queued": queued}, f"Stopped; queued {queued} syncs in all.")

    def _round(self, batch: int, stop: threading.Event) -> int:
        """Claim and queue batches until none is due (or a stop was asked for). A database that went away is
        waited out, not fatal: the loop looks again after the pause."""
        queued = 0
        try:
            while not stop.is_set() and (sent := dispatch_due(batch=batch, batches=1)):
                queued += sent
        except DatabaseError:
            log.warning("dispatch: database unavailable", exc_info=True)
            close_old_connections()
        return queued
