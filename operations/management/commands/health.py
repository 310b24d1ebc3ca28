from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts.management.base import OperatorCommand, tenant_by_slug
from integrations.providers import Provider
from operations import health


class Command(OperatorCommand):
    help = "The health board of one organisation: every user, their integrations and how each stands."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        statuses = [*health.BoardStatus.values, health.NO_INTEGRATION]
        parser.add_argument("--status", default="", help=f"Only these: {', '.join(statuses)}.")
        parser.add_argument("--provider", default="", help=f"Only these: {', '.join(Provider.values)}.")
        parser.add_argument("--search", default="", help="Only users whose name or email contains this.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"])
        filters = health.BoardFilters.parse(options)
        for name in ("status", "provider"):
            if options[name] and getattr(filters, name) != options[name]:
                raise CommandError(f"Unknown {name} {options[name]!r}; see --help for the values.")
        board = health.board_json(tenant=tenant, filters=filters)
        self.emit(options, board, _text(board))


def _text(board: dict[str, Any]) -> str:
    counts = board["counts"]
    lines = [", ".join(f"{label}: {counts[value]}" for value, label in health.BoardStatus.choices)]
    lines.append(f"{counts['users']} users, {counts['without_integration']} without an integration")
    for user in board["users"]:
        lines.append(user["email"] + ("" if user["integrations"] else "\tno integration"))
        for i in user["integrations"]:
            synced = f"{i['last_synced_at']:%Y-%m-%d %H:%M}" if i["last_synced_at"] else "never"
            lines.append(f"    {i['id']}\t{i['provider']}\t{i['status']}\tlast synced {synced}\t"
                         f"{i['unsynced']} not synced\t{i['remote_calendar']}")  # fmt: skip
    return "\n".join(lines)
