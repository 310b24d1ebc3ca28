from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from accounts.management.base import OperatorCommand
from events.tombstones import tombstones_prune


class Command(OperatorCommand):
    help = (
        "Delete tombstones (records of deleted items) older than the retention period, in batches, as beat does "
        "hourly. Sync tokens older than what remains are then refused and their clients list the calendar again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--batch", type=int, default=None, help="Tombstones per transaction.")
        parser.add_argument("--max-batches", type=int, default=None, help="Stop after this many (default: all).")

    def handle(self, *args: Any, **options: Any) -> None:
        batch, most = options["batch"], options["max_batches"]
        if (batch is not None and batch < 1) or (most is not None and most < 1):
            raise CommandError("--batch and --max-batches must be at least 1.")
        batch = batch or settings.TOMBSTONE_PRUNE_BATCH
        total, batches = 0, 0
        while most is None or batches < most:
            pruned = tombstones_prune(batch=batch)
            total, batches = total + pruned, batches + 1
            if pruned < batch:
                break
        self.emit(options, {"pruned": total, "batches": batches}, f"Pruned {total} tombstones in {batches} batches.")
