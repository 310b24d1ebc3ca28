from __future__ import annotations

from typing import Any

from accounts.management.base import OperatorCommand
from sync import liveness


class Command(OperatorCommand):
    help = (
        "End sync runs that will never finish (their worker stopped, or no worker started their task) and free "
        "their integrations, as beat does every SYNC_SWEEP_SECONDS."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        ended = liveness.sweep()
        self.emit(options, {"ended": ended}, f"Ended {ended} sync runs that would never have finished.")
