from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts.management.base import OperatorCommand
from sync.errors import QueueUnavailable
from sync.models import SyncRun
from sync.services import sync_execute, sync_request_manual

from ._common import integration_in_tenant, run_json


class Command(OperatorCommand):
    help = "Start a sync of one integration now, as 'Synchronize now' does."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--integration", type=int, required=True, help="The integration's id.")
        how = parser.add_mutually_exclusive_group()
        how.add_argument("--wait", action="store_true", help="Wait for a worker to finish the run.")
        how.add_argument("--inline", action="store_true", help="Run it in this process (no worker needed).")
        parser.add_argument("--timeout", type=int, default=600, help="Seconds to --wait (default 600).")

    def handle(self, *args: Any, **options: Any) -> None:
        integration = integration_in_tenant(options["tenant"], options["integration"])
        if not integration.sync_enabled:
            raise CommandError("This integration is paused; its user must resume it first.")
        try:
            run = sync_request_manual(integration=integration, queue=not options["inline"])
        except QueueUnavailable as exc:
            raise CommandError(f"{exc} Is the broker (REDIS_URL) running? --inline syncs without it.") from exc
        if options["inline"] and not run.finished:
            run = sync_execute(run_id=run.pk)
        elif options["wait"]:
            run = self._wait(run, options["timeout"])
        summary = f"Sync {run.pk}: {run.get_status_display()}" + (f" ({run.error})" if run.error else "")
        self.emit(options, run_json(run), summary)

    def _wait(self, run: SyncRun, timeout: int) -> SyncRun:
        deadline = time.monotonic() + timeout
        while not run.finished:
            if time.monotonic() > deadline:
                raise CommandError(f"Sync {run.pk} has not finished after {timeout} s (is a worker running?).")
            time.sleep(0.5)
            run.refresh_from_db()
        return run
