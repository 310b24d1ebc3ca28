"""Connecting through a page previews the first sync (sync.previews): tests that connect so confirm it, as a user
would, before they look at what the first sync did."""

from __future__ import annotations

from django.urls import reverse

from integrations.models import Integration


def confirm_first_sync(client, integration: Integration, run_on_commit) -> Integration:  # type: ignore[no-untyped-def]
    """Confirm the integration's first-sync preview through its page; the first sync then runs (eagerly)."""
    preview = integration.previews.get(reason="first", status="ready")
    with run_on_commit():
        answer = client.post(reverse("integrations:preview_confirm", args=[integration.pk, preview.pk]))
    assert answer.status_code == 302, answer.content.decode()[:500]
    integration.refresh_from_db()
    assert not integration.awaiting_confirmation
    return integration
