"""What every operator command shares: a --json switch and clear errors instead of tracebacks."""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Tenant, User


class OperatorCommand(BaseCommand):
    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def emit(self, options: dict[str, Any], data: Any, text: str) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=str) if options["json"] else text)


def tenant_by_slug(slug: str) -> Tenant:
    try:
        return Tenant.objects.get(slug=slug)
    except Tenant.DoesNotExist:
        raise CommandError(f"No tenant with slug {slug!r}. See `manage.py list_tenants`.") from None


def day_argument(text: str) -> date:
    """A --from/--to date given on the command line; a clear error for anything else."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date like 2026-11-30 (YYYY-MM-DD).") from None


def read_password(options: dict[str, Any]) -> str:
    """From --password-env NAME or --password-stdin; never from the command line, where `ps` would show it."""
    if options.get("password_env"):
        value = os.environ.get(options["password_env"])
        if not value:
            raise CommandError(f"The environment variable {options['password_env']} is not set or empty.")
        return value
    if options.get("password_stdin"):
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise CommandError("No password on standard input.")
        return value
    raise CommandError("Give the password with --password-env NAME or --password-stdin.")


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "email": user.email,
        "tenant": user.tenant.slug if user.tenant else None,
        "role": user.role,
        "can_setup_integrations": user.may_set_up_integrations,
        "is_active": user.is_active,
        "timezone": user.timezone,
    }


def tenant_json(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.pk,
        "slug": tenant.slug,
        "name": tenant.name,
        "timezone": tenant.timezone,
        "allowed_providers": tenant.allowed_providers,
        "default_can_setup_integrations": tenant.default_can_setup_integrations,
    }
