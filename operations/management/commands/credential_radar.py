"""What the credential radar sees (the organisations' credentials that end within 30 days), and, with --send, the
warning emails the daily beat task would send now."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from accounts.management.base import OperatorCommand, tenant_by_slug
from accounts.models import Tenant
from operations import alerts, radar


class Command(OperatorCommand):
    help = "List credentials that expire within 30 days; --send re-reads Microsoft 365 dates and emails the admins."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--tenant", help="One organisation (its slug); default: all.")
        parser.add_argument("--send", action="store_true", help="Email the admins (once per threshold, as beat).")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_by_slug(options["tenant"]) if options["tenant"] else None
        sent = None
        if options["send"]:
            alerts.radar_refresh(tenant=tenant)
            sent = alerts.radar_notify(tenant=tenant)
        now = timezone.now()
        tenants = [tenant] if tenant is not None else list(Tenant.objects.order_by("slug"))
        found = {t.slug: radar.warnings(t, now) for t in tenants}
        data = {"warnings": {slug: [asdict(w) for w in ws] for slug, ws in found.items() if ws}, "emails_sent": sent}
        lines = [f"{slug}: {w.label}: {'expired' if w.expired else f'{w.days_left} days left'} "
                 f"({w.expires_at:%Y-%m-%d}; {w.source})" for slug, ws in found.items() for w in ws]  # fmt: skip
        text = "\n".join(lines) or "No credential expires within 30 days."
        if sent is not None:
            text += f"\nEmails sent: {sent}."
        self.emit(options, data, text)
