from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import CommandError, CommandParser

from accounts.management.base import OperatorCommand, read_password, tenant_by_slug
from events.selectors import main_calendar
from integrations.caldav import services
from integrations.caldav.client import ConnectError
from sync.management.commands._common import run_json


class Command(OperatorCommand):
    help = (
        "Connect a CalDAV calendar for a user without the browser. The app password comes from an environment "
        "variable or stdin. Prints the integration (as JSON with --json)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--user", required=True, help="The calsync user's email address.")
        parser.add_argument("--url", required=True, help="The CalDAV server address.")
        parser.add_argument("--username", required=True, help="The CalDAV username.")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--password-env", metavar="NAME", help="Read the app password from this variable.")
        source.add_argument("--password-stdin", action="store_true", help="Read the app password from stdin.")
        parser.add_argument("--calendar", help="The CalDAV calendar's URL or name (needed when there are several).")
        parser.add_argument("--calsync-calendar", help="The calsync calendar's name (default: the user's first).")
        parser.add_argument("--direction", choices=["both", "to_calsync", "from_calsync"], default="both")
        parser.add_argument("--primary", choices=["calsync", "remote"], default="calsync")
        parser.add_argument("--manual", action="store_true", help="Sync only when asked (default: every 5 minutes).")
        parser.add_argument("--error-email", help="Where error notifications go (default: the user's email).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"])
        user = tenant.users.filter(email__iexact=options["user"]).first()
        if user is None:
            raise CommandError(f"Tenant {tenant.slug} has no user {options['user']}.")
        password = read_password(options)
        try:
            calendars = services.caldav_discover(url=options["url"], username=options["username"], password=password)
            remote = self._pick(calendars, options["calendar"])
            integration = services.caldav_connect(
                user=user, url=options["url"], username=options["username"], password=password, remote=remote,
                calendar=self._calsync_calendar(user, options["calsync_calendar"]), direction=options["direction"],
                primary=options["primary"], automatic=not options["manual"],
                error_email=options["error_email"] or user.email,
            )  # fmt: skip
        except (ConnectError, PermissionDenied, ValidationError) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from None
        data = {
            "id": integration.pk,
            "provider": integration.provider,
            "user": user.email,
            "calsync_calendar": integration.calendar.name,
            "remote_calendar": {"url": integration.remote_calendar_id, "name": integration.remote_calendar_name},
            "direction": integration.direction,
            "primary": integration.primary,
            "automatic": integration.automatic,
            "error_email": integration.error_email,
            "first_sync": run_json(integration.runs.first()) if integration.runs.exists() else None,
        }
        self.emit(
            options,
            data,
            f"Connected {integration.remote_calendar_name} for {user.email} (integration {integration.pk}).",
        )

    def _pick(self, calendars: list[Any], wanted: str | None) -> Any:
        usable = [c for c in calendars if c.writable and c.accepts_events]
        if wanted:
            match = [c for c in calendars if wanted in (c.url, c.name)]
            if not match:
                raise CommandError(f"No calendar {wanted!r}. Found: {', '.join(c.name for c in calendars)}.")
            return match[0]
        if len(usable) != 1:
            names = ", ".join(c.name for c in usable) or "none you can write to"
            raise CommandError(f"Choose the calendar with --calendar: {names}.")
        return usable[0]

    def _calsync_calendar(self, user: Any, name: str | None) -> Any:
        calendars = user.calendars.all()
        chosen = calendars.filter(name=name).first() if name else main_calendar(calendars)
        if chosen is None:
            raise CommandError(f"{user.email} has no calendar {name!r}.")
        return chosen
