from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts.management.base import OperatorCommand, tenant_by_slug
from events.models import Calendar
from reports import index, summary


class Command(OperatorCommand):
    help = (
        "Rebuild the reports' time index and day sums from the events: once after deploying the reports app "
        "(events written before it have no rows), or for one organisation with --tenant. Each batch of items is "
        "one transaction, so the site stays up; progress goes to standard error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", metavar="SLUG", help="Only this organisation's calendars.")
        parser.add_argument("--batch", type=int, default=index.BATCH, help="Items per transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1.")
        calendars = Calendar.objects.all()
        if options["tenant"]:
            calendars = calendars.for_tenant(tenant_by_slug(options["tenant"]))
        ids = list(calendars.order_by("pk").values_list("pk", flat=True))
        began = time.monotonic()

        def progress(done: int, rows: int) -> None:
            self.stderr.write(f"{done}/{len(ids)} calendars, {rows:,} rows ({time.monotonic() - began:.0f} s)")

        rebuilt = index.reindex_calendars(
            ids, batch=options["batch"], progress=progress, complete=not options["tenant"]
        )
        for tenant_id in set(calendars.values_list("tenant_id", flat=True)):
            summary.settle(tenant_id)
        data = {"calendars": rebuilt.calendars, "items": rebuilt.items, "rows": rebuilt.rows,
                "seconds": round(time.monotonic() - began, 1)}  # fmt: skip
        self.emit(options, data, f"Indexed {rebuilt.items:,} items of {rebuilt.calendars} calendars: "
                                 f"{rebuilt.rows:,} rows in {data['seconds']} s.")  # fmt: skip
