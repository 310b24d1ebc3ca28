from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from accounts.management.base import OperatorCommand, tenant_by_slug, user_json


class Command(OperatorCommand):
    help = "List the users of one tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", required=True, help="The tenant's slug; only its users are listed.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"])
        users = list(tenant.users.select_related("tenant").order_by("email"))
        text = "\n".join(f"{u.email}\t{u.role}\t{'active' if u.is_active else 'inactive'}" for u in users)
        self.emit(options, [user_json(u) for u in users], text or f"No users in {tenant.slug}.")
