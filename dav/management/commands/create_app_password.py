"""Provision a CalDAV app password without the browser: prints the address, username and password."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import CommandError, CommandParser

from accounts.management.base import OperatorCommand
from accounts.models import User
from dav.services import app_password_create


class Command(OperatorCommand):
    help = "Create an app password for a user's CalDAV clients (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("email", help="The user's email address (their calsync username).")
        parser.add_argument("--label", required=True, help='What the password is for, e.g. "iPhone".')

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=options["email"]).select_related("tenant").first()
        if user is None or user.tenant is None:
            raise CommandError(f"No user {options['email']!r} in any organisation. See `manage.py list_users`.")
        try:
            created = app_password_create(user=user, label=options["label"])
        except PermissionDenied as exc:
            raise CommandError(f"{exc} Grant it with `manage.py create_user` or on the admin page.") from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        data = {
            "server_url": created.server_url,
            "username": created.username,
            "password": created.secret,
            "label": created.app_password.label,
            "id": created.app_password.pk,
        }
        text = (
            f"Server address: {created.server_url}\nUser name:      {created.username}\n"
            f"Password:       {created.secret}\n(The password is shown only now.)"
        )
        self.emit(options, data, text)
