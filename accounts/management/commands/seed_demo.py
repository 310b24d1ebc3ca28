from __future__ import annotations

import json
import secrets
import zoneinfo
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import services
from accounts.management.base import OperatorCommand
from accounts.models import Tenant, User


class Command(OperatorCommand):
    help = (
        "Create the demo tenant with an admin and a member (once) and print their credentials. "
        "The generated passwords are kept in var/demo-credentials.json, readable only by you."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        path = settings.VAR_DIR / "demo-credentials.json"
        if Tenant.objects.filter(slug="demo").exists() and path.exists():
            credentials = json.loads(path.read_text())
        else:
            credentials = self._create()
            path.write_text(json.dumps(credentials, indent=2))
            path.chmod(0o600)
        lines = [f"  {c['role']:<7} {c['email']:<22} password: {c['password']}" for c in credentials["users"]]
        self.emit(options, credentials, "Demo accounts (tenant 'demo'):\n" + "\n".join(lines))

    @transaction.atomic
    def _create(self) -> dict[str, Any]:
        tenant = Tenant.objects.filter(slug="demo").first() or services.tenant_create(
            slug="demo", name="Demo Company", timezone="Europe/London"
        )
        users = []
        for role, email in ((User.Role.ADMIN, "admin@demo.test"), (User.Role.MEMBER, "member@demo.test")):
            password = secrets.token_urlsafe(12)
            user = User.objects.filter(email=email).first()
            if user is None:
                user = services.user_create(tenant=tenant, email=email, password=password, role=role)
                self._sample_events(user)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            users.append({"role": role, "email": email, "password": password})
        return {"tenant": tenant.slug, "users": users}

    def _sample_events(self, user: User) -> None:
        from events.ical import Component, Item
        from events.services import item_save, new_uid

        calendar = user.calendars.first()
        zone = zoneinfo.ZoneInfo(user.timezone)
        today = timezone.now().astimezone(zone).date()
        start = datetime.combine(today + timedelta(days=1), time(10), tzinfo=zone)
        for title, offset in (("Team meeting", 0), ("Client call", 2)):
            begin = start + timedelta(days=offset)
            component = Component(
                uid=new_uid(), summary=title, start=begin, end=begin + timedelta(hours=1), status="CONFIRMED"
            )
            item_save(calendar=calendar, item=Item(master=component))
