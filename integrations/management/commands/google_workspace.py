"""Set up or check a tenant's organisation-wide Google Workspace sync without the browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from accounts.management.base import OperatorCommand, tenant_by_slug
from accounts.models import User
from integrations.google import services
from integrations.models import GoogleWorkspace


class Command(OperatorCommand):
    help = "Upload a service account key, switch Workspace sync on or off, set alias domains, and test it."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--key-file", type=Path, help="The service account's JSON key (stored encrypted).")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--enable", action="store_true")
        state.add_argument("--disable", action="store_true")
        parser.add_argument("--aliases", help="Other email domains, comma-separated (empty string: none).")
        parser.add_argument("--test-as", metavar="EMAIL", help="Impersonate this admin's address and read calendars.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"])
        workspace = GoogleWorkspace.objects.filter(tenant=tenant).first()
        if options["key_file"] or options["enable"] or options["disable"]:
            key_text = options["key_file"].read_text() if options["key_file"] else ""
            enabled = options["enable"] or (not options["disable"] and bool(workspace and workspace.enabled))
            try:
                workspace = services.workspace_save(tenant=tenant, key_text=key_text, enabled=enabled)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
        if options["aliases"] is not None:
            tenant.email_domain_aliases = [d.strip().lower() for d in options["aliases"].split(",") if d.strip()]
            tenant.save(update_fields=["email_domain_aliases"])
        if workspace is None:
            raise CommandError("No Google Workspace key for this tenant yet: give --key-file.")
        if options["test_as"]:
            admin = User.objects.filter(tenant=tenant, email__iexact=options["test_as"]).first()
            if admin is None or not admin.is_tenant_admin:
                raise CommandError(f"{options['test_as']} is not an admin of {tenant.slug}.")
            workspace = services.workspace_test(workspace=workspace, admin=admin)
        data = {"tenant": tenant.slug, "client_email": workspace.client_email, "enabled": workspace.enabled,
                "aliases": tenant.email_domain_aliases, "tested_at": workspace.tested_at,
                "test_ok": workspace.test_ok, "test_message": workspace.test_message}  # fmt: skip
        text = "\n".join(f"{k}: {v}" for k, v in data.items())
        self.emit(options, data, text)
        if options["test_as"] and not workspace.test_ok:
            raise CommandError("The test failed: " + workspace.test_message)
