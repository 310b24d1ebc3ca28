"""Rules that hold in one place each: a read-only calendar syncs into calsync only (Integration.effective_direction),
which integrations sync a calsync calendar (Integration.syncing), and what an address to connect to may be
(integrations.addresses.server_address, for CalDAV, Exchange and ICS feeds alike)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from events import services as events
from integrations.addresses import server_address
from integrations.controls_forms import directions_of
from integrations.forms import SettingsForm
from integrations.ics.services import SubscriptionError, subscription_url
from integrations.models import Integration
from integrations.selectors import calendar_integrations, removals_preview
from sync import services as sync_services
from sync.controls import Controls, Flow
from tests.factories import CalendarFactory
from tests.sync.items import event

from .test_controls import make, mapped

pytestmark = pytest.mark.django_db


def test_a_read_only_calendar_stored_both_ways_is_into_calsync_everywhere(member, calendar) -> None:
    """A row whose stored direction says both ways (connected before the calendar became read-only, or written
    by hand) is read as into calsync only by the sync, the pages, and the removal preview."""
    integration = make(member, calendar, remote_read_only=True, direction="both")
    assert integration.effective_direction == Integration.Direction.TO_CALSYNC
    assert sync_services._engine_settings(integration).direction == "to_calsync"
    assert directions_of(integration) == ["into"]
    assert SettingsForm.initial_for(integration)["direction"] == "to_calsync"
    events.item_save(calendar=calendar, item=event("lunch@x", "Lunch"))
    mapped(integration, "lunch@x", "calsync")  # a copy out of calsync: never made for a read-only calendar
    lunch = Flow(keywords=("lunch",))
    assert removals_preview(integration=integration, controls=Controls(out_of_calsync=lunch)) == []
    writable = make(member, calendar, name="writable", direction="both")
    assert writable.effective_direction == Integration.Direction.BOTH


def test_the_hub_lines_and_sync_soon_read_one_pairing(member, calendar) -> None:
    other = CalendarFactory(owner=member, name="Other")
    google = make(member, calendar, next_sync_at=timezone.now() + timedelta(hours=1))
    pairing = make(member, other, provider="calsync", name=str(calendar.pk),
                   next_sync_at=timezone.now() + timedelta(hours=1))  # fmt: skip
    Integration.objects.filter(pk=pairing.pk).update(remote_calendar_id=str(calendar.pk))
    make(member, other, provider="caldav", name="elsewhere", next_sync_at=timezone.now() + timedelta(hours=1))
    expected = {google.pk, pairing.pk}
    assert set(Integration.objects.filter(Integration.syncing(calendar.pk)).values_list("pk", flat=True)) == expected
    assert {i.pk for i in calendar_integrations(calendar_id=calendar.pk, user=member)} == expected
    assert sync_services.sync_soon(calendar_id=calendar.pk) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [("not a url", "Enter the calendar's address"), ("ftp://example.com/x.ics", "Enter the calendar's address"),
     ("https://example.com:99999/", "Enter the calendar's address"), ("http://[::1/x", "Enter the calendar's address")],
)  # fmt: skip
def test_a_feed_address_is_read_as_server_addresses_are(text, message) -> None:
    with pytest.raises(SubscriptionError, match=message):
        subscription_url(text)


def test_an_address_without_a_scheme_is_https_for_feeds_too(network) -> None:  # type: ignore[no-untyped-def]
    network.resolve("feed.example.test", "127.0.0.1")
    assert subscription_url("feed.example.test/holidays.ics") == "https://feed.example.test/holidays.ics"
    assert subscription_url("https://me:pw@feed.example.test/h.ics") == "https://me:pw@feed.example.test/h.ics"


@pytest.mark.parametrize("text", ["not a url", "https://caldav.example.com:99999/", "http://[::1/x"])
def test_a_server_address_that_is_no_address_says_so(text) -> None:
    with pytest.raises(ValueError, match=re.escape("Enter the server address, e.g. https://caldav.example.com/")):
        server_address(text, allow_http=True, example="https://caldav.example.com/")
