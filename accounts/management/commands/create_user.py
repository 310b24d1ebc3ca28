from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from accounts import services
from accounts.management.base import OperatorCommand, read_password, tenant_by_slug, user_json
from accounts.models import User


class Command(OperatorCommand):
    help = "Create a user in a tenant. The password comes from an environment variable or stdin."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", choices=User.Role.values, default=User.Role.MEMBER)
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument(
            "--can-setup-integrations",
            choices=["yes", "no"],
            help="Grant or withhold the right to set up integrations (default: the tenant's default).",
        )
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--password-env", metavar="NAME", help="Read the password from this environment variable.")
        source.add_argument(
            "--password-stdin", action="store_true", help="Read the password from the first line of stdin."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"])
        right = options["can_setup_integrations"]
        try:
            user = services.user_create(
                tenant=tenant,
                email=options["email"],
                password=read_password(options),
                role=options["role"],
                can_setup_integrations=None if right is None else right == "yes",
                first_name=options["first_name"],
                last_name=options["last_name"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.emit(options, user_json(user), f"Created {user.role} {user.email} in {tenant.slug}.")
