from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from accounts.management.base import tenant_by_slug
from integrations.models import Integration
from sync.models import SyncRun


def integration_in_tenant(slug: str, pk: int) -> Integration:
    tenant = tenant_by_slug(slug)
    integration = Integration.objects.for_tenant(tenant).select_related("user", "calendar").filter(pk=pk).first()
    if integration is None:
        raise CommandError(f"Tenant {slug} has no integration {pk}.")
    return integration


def run_json(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "integration": run.integration_id,
        "trigger": run.trigger,
        "status": run.status,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "to_calsync": run.to_calsync,
        "to_remote": run.to_remote,
        "conflicts": run.conflicts,
        "unsynced": run.unsynced,
        "error": run.error,
    }
