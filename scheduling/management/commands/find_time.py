from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from accounts.management.base import OperatorCommand, tenant_by_slug
from accounts.models import User
from scheduling import assistant


class Command(OperatorCommand):
    help = "Print the proposals the Find a time page shows for these people (as the first of them sees it)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--people", required=True, help="Comma-separated emails; the first one is the organiser.")
        parser.add_argument("--duration", type=int, default=30, help="Minutes (default 30).")
        parser.add_argument("--from", dest="first_day", type=_day, required=True, help="First day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="last_day", type=_day, required=True, help="Last day, YYYY-MM-DD.")
        parser.add_argument("--buffer", type=int, help="Minutes around other meetings (default: the organisation's).")

    def handle(self, *args: Any, **options: Any) -> None:
        people = _people(tenant_by_slug(options["tenant"]), options["people"])
        buffer = None if options["buffer"] is None else timedelta(minutes=options["buffer"])
        search = assistant.Search(people=people, duration=timedelta(minutes=options["duration"]),
                                  first_day=options["first_day"], last_day=options["last_day"], buffer=buffer,
                                  zone=people[0].timezone)  # fmt: skip
        try:
            result = assistant.find_time(viewer=people[0], search=search)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        lines = [f"{p['start']} – {p['end']}" for p in result.as_json()] or ["No time suits everyone."]
        self.emit(options, {"proposals": result.as_json(), "problems": result.problems}, "\n".join(lines))


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from None


def _people(tenant: Any, emails: str) -> list[User]:
    wanted = [e.strip().lower() for e in emails.split(",") if e.strip()]
    found = {u.email: u for u in User.objects.filter(tenant=tenant, is_active=True, email__in=wanted)}
    unknown = [e for e in wanted if e not in found]
    if unknown or not wanted:
        raise CommandError(f"Not people of {tenant.slug}: {', '.join(unknown) or '(none given)'}.")
    return [found[e] for e in dict.fromkeys(wanted)]
