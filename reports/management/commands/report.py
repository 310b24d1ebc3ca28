"""`manage.py report`: the report the reports page shows, printed as JSON or CSV for operators."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.management.base import day_argument, tenant_by_slug
from accounts.models import Tenant, User
from reports import engine


class Command(BaseCommand):
    help = (
        "Print a report: hours and counts over a date range, grouped (e.g. --group-by client,user), "
        "as an admin of the tenant sees it (or as --as EMAIL sees it)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--from", dest="first_day", required=True, help="First day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="last_day", required=True, help="Last day (included), YYYY-MM-DD.")
        parser.add_argument("--group-by", default="client", help=f"Comma-separated, of {', '.join(engine.GROUPS)}.")
        parser.add_argument("--format", choices=("json", "csv"), default="json", help="json (default) or csv.")
        parser.add_argument("--period", choices=engine.PERIODS, default="month", help="Periods of the time series.")
        parser.add_argument("--zone", help="IANA zone days are cut in (default: the tenant's).")
        parser.add_argument("--as", dest="viewer", help="Whose view: a person's email (default: the first admin).")
        parser.add_argument(
            "--filter", action="append", default=[], metavar="GROUP=ID",
            help="Only this client/project/... (repeatable; 'none' for unassigned, provider keys as text).",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"])
        query = engine.ReportQuery(
            tenant_id=tenant.pk,
            viewer_id=_viewer(tenant, options["viewer"]).pk,
            start=day_argument(options["first_day"]),
            end=day_argument(options["last_day"]),
            zone=options["zone"] or tenant.timezone,
            group_by=tuple(g.strip() for g in options["group_by"].split(",") if g.strip()),
            period=options["period"],
            filters=_filters(options["filter"]),
        )
        try:
            report = engine.report_run(query=query)
        except (engine.ReportError, PermissionDenied) as error:
            raise CommandError(str(error)) from None
        if options["format"] == "csv":
            self.stdout.write(engine.export_csv(report), ending="")
        else:
            self.stdout.write(json.dumps({"tenant": tenant.slug, **engine.report_data(report)}, indent=2))


def _viewer(tenant: Tenant, email: str | None) -> User:
    people = User.objects.filter(tenant=tenant, is_active=True)
    if email:
        found = people.filter(email__iexact=email.strip()).first()
        if found is None:
            raise CommandError(f"No active person {email!r} in {tenant.slug}.")
        return found
    admin = people.filter(role=User.Role.ADMIN).order_by("pk").first()
    if admin is None:
        raise CommandError(f"{tenant.slug} has no active admin: name whose view to print with --as EMAIL.")
    return admin


def _filters(given: list[str]) -> dict[str, tuple[int | str | None, ...]]:
    found: dict[str, list[int | str | None]] = {}
    for item in given:
        group, sep, raw = item.partition("=")
        group = group.strip()
        if not sep or group not in engine.GROUPS:
            raise CommandError(f"--filter {item!r}: use GROUP=ID with GROUP one of {', '.join(engine.GROUPS)}.")
        found.setdefault(group, []).append(_filter_value(group, raw.strip()))
    return {group: tuple(values) for group, values in found.items()}


def _filter_value(group: str, raw: str) -> int | str | None:
    if raw.lower() == "none":
        return None
    if group == "provider":
        return raw
    if not raw.isdigit():
        raise CommandError(f"--filter {group}={raw!r}: give the {group}'s id (a number) or 'none'.")
    return int(raw)
