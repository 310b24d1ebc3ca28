"""The "Not synced" list holds what is still waiting: an item leaves it when it syncs or is deleted, on either side."""

from __future__ import annotations

import caldav
import pytest

from events import services as events
from events.ical import Component, Item
from events.models import Event
from integrations.services import integration_create
from tests.factories import CalendarFactory
from tests.integrations.test_caldav import connect as caldav_connect
from tests.integrations.test_caldav import sync_now as _sync

pytestmark = pytest.mark.django_db


def _task(uid: str) -> Item:
    return Item(master=Component(kind="VTODO", uid=uid, summary="Call the bank"))


@pytest.fixture
def events_only(member):  # type: ignore[no-untyped-def]
    return CalendarFactory(owner=member, name="Events only", components="VEVENT")


@pytest.fixture
def paired(member, calendar, events_only, run_on_commit):  # type: ignore[no-untyped-def]
    """calendar ⇄ an events-only calendar, with a task in `calendar` the other refuses."""
    events.item_save(calendar=calendar, item=_task("task@calsync"))
    with run_on_commit():
        integration = integration_create(user=member, provider="calsync", calendar=calendar,
                                         remote_calendar_id=str(events_only.pk), remote_calendar_name="Events only",
                                         sync_enabled=True, direction="both", primary="calsync", automatic=False,
                                         error_email=member.email)  # fmt: skip
    unsynced = integration.unsynced_items.get()
    assert unsynced.uid == "task@calsync" and "holds only events" in unsynced.reason
    return integration


def test_an_unsynced_item_deleted_where_it_lives_leaves_the_list(paired, calendar, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="task@calsync"))
    run = _sync(paired, run_on_commit)
    assert run.status == "success" and not paired.unsynced_items.exists()


def test_an_unsynced_item_that_later_syncs_leaves_the_list(paired, events_only, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    events_only.components = "VEVENT,VTODO"
    events_only.save(update_fields=["components"])
    task = Event.objects.get(calendar=paired.calendar, uid="task@calsync")
    events.item_save(calendar=paired.calendar, item=_task("task@calsync"), name=task.name)  # touched: read again
    run = _sync(paired, run_on_commit)
    assert run.status == "success" and not paired.unsynced_items.exists()
    assert Event.objects.filter(calendar=events_only, uid="task@calsync").exists()


def test_an_unrelated_change_keeps_it_listed(paired, calendar, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    from tests.sync.items import event

    events.item_save(calendar=calendar, item=event("other@calsync", "Something else"))
    run = _sync(paired, run_on_commit)
    assert run.status == "success" and paired.unsynced_items.get().uid == "task@calsync"


def test_a_refused_server_item_deleted_on_the_server_leaves_the_list(member, events_only, radicale,
                                                                     run_on_commit) -> None:  # fmt: skip
    """The server names deletions by href, not UID: the list must still find the item."""
    url = radicale.new_calendar("Tasks and events")
    server = caldav.DAVClient(url=radicale.base_url, username=radicale.username, password=radicale.password)
    remote = server.calendar(url=url)
    todo = remote.save_todo(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VTODO\r\nUID:server-task\r\n"
        "DTSTAMP:20261101T000000Z\r\nSUMMARY:Server task\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
    integration = caldav_connect(member, events_only, radicale, url, run_on_commit)
    unsynced = integration.unsynced_items.get()
    assert (unsynced.side, unsynced.uid) == ("calsync", "server-task") and not unsynced.uid.endswith(".ics")
    todo.delete()
    run = _sync(integration, run_on_commit)
    assert run.status == "success" and not integration.unsynced_items.exists()
