from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts.management.base import OperatorCommand, day_argument, tenant_by_slug
from business.rules import selectors, services


class Command(OperatorCommand):
    help = (
        "Apply the organisation's assignment rules to the events of a date range (days in the organisation's "
        "zone): empty client, project and activity are filled; --overwrite replaces what a rule matches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--from", dest="start", required=True, help="First day, e.g. 2026-11-01.")
        parser.add_argument("--to", dest="end", required=True, help="Last day (included), e.g. 2026-11-30.")
        parser.add_argument("--overwrite", action="store_true", help="Replace fields already set where a rule matches.")
        parser.add_argument("--dry-run", action="store_true", help="Only say what would change.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"])
        start, end = day_argument(options["start"]), day_argument(options["end"])
        try:
            if options["dry_run"]:
                found = selectors.preview(tenant=tenant, start=start, end=end, overwrite=options["overwrite"],
                                          bounded=False)  # fmt: skip
                self._preview(options, found)
                return
            run = services.rule_run_create(tenant=tenant, user=None, start=start, end=end,
                                           overwrite=options["overwrite"], queue=False)  # fmt: skip
        except selectors.RangeInvalid as exc:
            raise CommandError(str(exc)) from None
        run = services.rule_run_execute(run_id=run.pk)
        data = {"run": run.pk, "checked": run.checked_count, "changed": run.changed_count}
        self.emit(options, data, f"Checked {run.checked_count} events, changed {run.changed_count}.")

    def _preview(self, options: dict[str, Any], preview: selectors.Preview) -> None:
        data = {"checked": preview.checked, "would_change": preview.changed,
                "by_rule": [{"rule": rule, "fields": count} for rule, count in preview.by_rule]}  # fmt: skip
        lines = [f"Would change {preview.changed} of {preview.checked} events."]
        lines += [f"  {count:6d}  {rule}" for rule, count in preview.by_rule]
        self.emit(options, data, "\n".join(lines))
