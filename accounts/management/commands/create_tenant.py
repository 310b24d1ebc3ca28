from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from accounts import services
from accounts.management.base import OperatorCommand, tenant_json


class Command(OperatorCommand):
    help = "Create a tenant (organisation)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--slug", required=True, help="Short unique identifier, e.g. acme.")
        parser.add_argument("--name", required=True, help="Display name, e.g. 'Acme Ltd'.")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone (default UTC).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = services.tenant_create(slug=options["slug"], name=options["name"], timezone=options["timezone"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.emit(options, tenant_json(tenant), f"Created tenant {tenant.slug} ({tenant.name}).")
