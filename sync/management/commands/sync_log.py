from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from accounts.management.base import OperatorCommand

from ._common import integration_in_tenant, run_json


class Command(OperatorCommand):
    help = "Print an integration's recent sync runs and what each did."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--integration", type=int, required=True, help="The integration's id.")
        parser.add_argument("--limit", type=int, default=10, help="How many runs (default 10).")

    def handle(self, *args: Any, **options: Any) -> None:
        integration = integration_in_tenant(options["tenant"], options["integration"])
        runs = list(integration.runs.prefetch_related("entries")[: options["limit"]])
        data = [{**run_json(run), "log": [_entry(e) for e in run.entries.all()]} for run in runs]
        lines = []
        for run in runs:
            lines.append(
                f"{run.created_at:%Y-%m-%d %H:%M:%S} {run.get_trigger_display():<16} {run.get_status_display()}"
            )
            lines += [f"    {e.action:<9} {e.message}" for e in run.entries.all()]
        self.emit(options, data, "\n".join(lines) or "No syncs yet.")


def _entry(entry: Any) -> dict[str, Any]:
    return {
        "at": entry.created_at,
        "level": entry.level,
        "action": entry.action,
        "uid": entry.uid,
        "message": entry.message,
    }
