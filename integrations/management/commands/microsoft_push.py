"""Graph change notifications for operators: how subscriptions stand, renew now, or subscribe everything anew."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts.management.base import OperatorCommand
from integrations.microsoft import push


class Command(OperatorCommand):
    help = "Show Microsoft push states; --renew-now runs the hourly renewal; --resubscribe after the address changed."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--renew-now", action="store_true", help="Renew what is due (one bounded batch).")
        resubscribe = "New subscriptions to MICROSOFT_WEBHOOK_BASE_URL for every enabled integration."
        action.add_argument("--resubscribe", action="store_true", help=resubscribe)

    def handle(self, *args: Any, **options: Any) -> None:
        if (options["renew_now"] or options["resubscribe"]) and not push.push_available():
            raise CommandError("MICROSOFT_WEBHOOK_BASE_URL is empty: push is off, nothing to subscribe.")
        data: dict[str, Any] = {}
        if options["renew_now"]:
            data["renewed"] = push.subscriptions_renew()
        if options["resubscribe"]:
            data["subscribed"], data["failed"] = push.subscriptions_resubscribe()
        data["states"] = push.push_status()
        text = "\n".join(f"{k}: {v}" for k, v in data.items())
        self.emit(options, data, text)
