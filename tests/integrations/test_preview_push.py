"""Nothing is written at the provider before the user confirms the first sync: no Google watch channel (nor its
renewal), no EWS streaming subscription; the channel is opened when the first sync is confirmed. Counted from the
requests the Google emulator received, not from listings."""

from __future__ import annotations

import pytest
from django.urls import reverse

from events import services as events
from integrations.exchange.leases import listened
from integrations.google.services import channels_renew
from integrations.models import Integration
from tests.factories import CalendarFactory
from tests.previews import confirm_first_sync
from tests.sync.items import event

from .test_google import sign_in

pytestmark = pytest.mark.django_db


def _writes(google) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(method, path) for method, path in google.state.calls if method != "GET"]


def _channels(google, integration: Integration) -> list[str]:  # type: ignore[no-untyped-def]
    """The open channels of this integration (calsync names them calsync-<integration id>-<nonce>)."""
    return [name for name in google.state.channels if name.startswith(f"calsync-{integration.pk}-")]


def test_a_google_channel_opens_only_once_the_first_sync_is_confirmed(member_client, calendar, google, monkeypatch,
                                                                      run_on_commit, settings) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    settings.GOOGLE_WEBHOOK_BASE_URL = "https://calsync.example.com"
    # No server here to receive Google's sync message; put back after the test: the emulator is shared.
    monkeypatch.setattr(google.state, "notify", None)
    email = "awaiting.push@example.com"
    events.item_save(calendar=calendar, item=event("c@test", "From calsync"))
    sign_in(member_client, google, email)
    form = {"remote": email, "calendar": calendar.pk, "sync_enabled": "on", "direction": "both",
            "primary": "calsync", "automatic": "true", "error_email": "alerts@acme.test"}  # fmt: skip
    google.state.calls.clear()
    with run_on_commit():
        assert member_client.post(reverse("integrations:google_choose"), form).status_code == 302
    integration = Integration.objects.get(provider="google")
    assert integration.previews.get().status == "ready"
    Integration.objects.filter(pk=integration.pk).update(push_expires_at="2000-01-01T00:00Z")  # due, as if failed
    channels_renew()
    # The preview and the renewal wrote nothing (the emulator is shared: other tests' channels may be open).
    assert _writes(google) == [] and _channels(google, integration) == []

    confirm_first_sync(member_client, integration, run_on_commit)
    watches = [call for call in _writes(google) if call[1].endswith("/events/watch")]
    assert len(watches) == 1 and len(_channels(google, integration)) == 1
    integration.refresh_from_db()
    assert integration.push_channel


def test_an_exchange_integration_awaiting_confirmation_holds_no_subscription(member) -> None:  # type: ignore[no-untyped-def]
    def exchange(**fields):  # type: ignore[no-untyped-def]
        calendar = CalendarFactory(owner=member)
        return Integration.objects.create(
            tenant=member.tenant, user=member, provider="exchange", calendar=calendar, remote_calendar_id="x", **fields
        )

    waiting, syncing = exchange(awaiting_confirmation=True), exchange()
    assert set(listened()) == {syncing}
    assert waiting not in listened()
