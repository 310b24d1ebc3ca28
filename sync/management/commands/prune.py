from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from accounts.management.base import OperatorCommand, tenant_by_slug
from sync import retention


class Command(OperatorCommand):
    help = (
        "Delete sync runs, their logs and other finished history older than each organisation keeps them, in "
        "bounded batches, as beat does every RETENTION_PRUNE_SECONDS. Run it again while it says more is left."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", help="Only this tenant (its slug).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"]) if options["tenant"] else None
        done = retention.prune(tenant=tenant, dry_run=options["dry_run"])
        counts = done.counts
        verb = "Would delete" if options["dry_run"] else "Deleted"
        text = (
            f"{verb} {counts['runs']} sync runs, {counts['entries']} log entries, {counts['imports']} imports and "
            f"{counts['rule_runs']} rule runs."
        )
        if not done.complete:
            text += " More is left: run it again (beat goes on at its next run)."
        self.emit(options, {**counts, "dry_run": options["dry_run"], "complete": done.complete}, text)
