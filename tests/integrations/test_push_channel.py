"""The Google webhook finds its integration by the indexed `push_channel` column, and the data migration fills it
for channels opened before the column existed."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.urls import reverse

from integrations.google import services as google_services
from integrations.models import Integration
from tests.factories import CalendarFactory

migration = importlib.import_module("integrations.migrations.0006_integration_push_channel")

pytestmark = pytest.mark.django_db


def _google(member, name: str, channel: dict[str, str] | None = None, push_channel: str = "") -> Integration:  # type: ignore[no-untyped-def]
    calendar = CalendarFactory(owner=member)
    config = {"channel": channel} if channel else {}
    return Integration.objects.create(tenant=member.tenant, user=member, provider="google", calendar=calendar,
                                      remote_calendar_id=name, config=config, push_channel=push_channel)  # fmt: skip


def _notify(client, channel_id: str, token: str, state: str = "exists"):  # type: ignore[no-untyped-def]
    return client.post(reverse("integrations:google_push"), HTTP_X_GOOG_CHANNEL_ID=channel_id,
                       HTTP_X_GOOG_CHANNEL_TOKEN=token, HTTP_X_GOOG_RESOURCE_STATE=state)  # fmt: skip


def test_the_migration_fills_the_column_from_open_channels(member) -> None:
    opened = _google(member, "a@example.com", {"id": "calsync-1-aa", "token": "t1"})
    without = _google(member, "b@example.com")
    caldav = Integration.objects.create(tenant=member.tenant, user=member, provider="caldav",
                                        calendar=CalendarFactory(owner=member), remote_calendar_id="https://dav/x/",
                                        config={"channel": {"id": "not-google"}})  # fmt: skip
    migration.fill_from_config(apps, None)
    values = dict(Integration.objects.values_list("pk", "push_channel"))
    assert values == {opened.pk: "calsync-1-aa", without.pk: "", caldav.pk: ""}


def test_a_notification_finds_its_integration_by_the_column(member, client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pushed: list[int] = []
    monkeypatch.setattr(google_services, "sync_request_push", lambda *, integration: pushed.append(integration.pk))
    channel = {"id": "calsync-7-bb", "token": "secret-token"}
    ours = _google(member, "a@example.com", channel, push_channel=channel["id"])
    for n in range(3):  # integrations without a channel share the empty value: an empty id must match none
        _google(member, f"idle{n}@example.com")
    assert _notify(client, channel["id"], channel["token"]).status_code == 200  # a sync on the push queue
    assert pushed == [ours.pk]
    assert _notify(client, "", "").status_code == 404
    assert _notify(client, channel["id"], "a guess").status_code == 404  # the token check is unchanged
    assert pushed == [ours.pk]


def test_a_channel_only_in_the_json_config_is_not_looked_up_there(member) -> None:
    _google(member, "a@example.com", {"id": "calsync-9-cc", "token": "tok"})  # push_channel not filled
    assert google_services.push_received(channel_id="calsync-9-cc", token="tok", resource_state="exists") is False
