"""A sync that writes into a calsync calendar moves the calendar's sync-token and CTag in the same commit, so
calsync's own CalDAV clients see the change at their very next request: a sync-collection REPORT from the caldav
library, over HTTP, returns it at once."""

from __future__ import annotations

import caldav
import pytest
from caldav.elements import dav
from caldav.elements.base import ValuedBaseElement

from dav.resources import calendar_href
from dav.services import app_password_create
from events import services as events
from integrations.models import Integration
from sync import services as sync
from tests.factories import CalendarFactory
from tests.sync.items import event

pytestmark = pytest.mark.django_db(transaction=True)


class GetCTag(ValuedBaseElement):  # CalendarServer's collection tag; the caldav library has no element for it
    tag = "{http://calendarserver.org/ns/}getctag"


def test_a_sync_into_a_calsync_calendar_is_seen_by_its_caldav_clients_at_once(member, calendar, live_server) -> None:  # type: ignore[no-untyped-def]
    login = app_password_create(user=member, label="phone")
    client = caldav.DAVClient(url=live_server.url + "/caldav/", username=login.username, password=login.secret)
    client.session.trust_env = False
    remote = client.calendar(url=live_server.url + calendar_href(member, calendar))
    token, ctag = remote.get_property(dav.SyncToken()), remote.get_property(GetCTag())
    known = remote.objects_by_sync_token(load_objects=False)
    assert list(known) == []

    source = CalendarFactory(owner=member, tenant=member.tenant, name="Google")
    events.item_save(calendar=source, item=event("from-sync@x", "Brought by a sync"))
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="calsync", calendar=calendar,
                                             remote_calendar_id=str(source.pk))  # fmt: skip
    run = sync.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    assert run is not None and run.to_calsync["created"] == 1

    assert remote.get_property(dav.SyncToken()) != token and remote.get_property(GetCTag()) != ctag
    changed = remote.objects_by_sync_token(sync_token=known.sync_token, load_objects=True)
    assert [str(o.icalendar_component["UID"]) for o in changed] == ["from-sync@x"]
