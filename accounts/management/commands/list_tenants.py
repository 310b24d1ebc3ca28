from __future__ import annotations

from typing import Any

from accounts.management.base import OperatorCommand, tenant_json
from accounts.models import Tenant


class Command(OperatorCommand):
    help = "List tenants."

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = list(Tenant.objects.order_by("slug"))
        text = "\n".join(f"{t.slug}\t{t.name}\t{t.timezone}" for t in tenants) or "No tenants."
        self.emit(options, [tenant_json(t) for t in tenants], text)
