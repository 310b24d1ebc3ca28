"""Calendar colours over CalDAV with real Radicale and Xandikos servers: read from the remote calendar when
connecting, PROPPATCHed to it after the user changes the colour in calsync (on the form or from a CalDAV app on
calsync's own server)."""

from __future__ import annotations

import pytest
from caldav.elements.ical import CalendarColor
from django.urls import reverse

from events import services as events
from integrations.caldav.client import CalDAVClient

from .test_caldav import connect, sync_now

pytestmark = pytest.mark.django_db


def remote_color(server, url: str) -> str:  # type: ignore[no-untyped-def]
    """What the server now says, read by the caldav library (not calsync's client)."""
    import caldav

    client = caldav.DAVClient(url=server.base_url, username=server.username, password=server.password)
    return str(client.calendar(url=url).get_property(CalendarColor()) or "")


def test_connecting_takes_the_remote_calendars_colour(member, calendar, remote, run_on_commit):
    server, url, cal = remote
    cal.set_properties([CalendarColor("#FF8800FF")])

    integration = connect(member, calendar, server, url, run_on_commit)

    calendar.refresh_from_db()
    integration.refresh_from_db()
    assert calendar.color == "#ff8800"
    assert integration.config["color"] == "#ff8800"
    assert remote_color(server, url).upper() == "#FF8800FF"  # nothing pushed back


def test_a_colour_changed_in_calsync_goes_to_the_remote_calendar(member, member_client, calendar, remote,
                                                                 run_on_commit):  # fmt: skip
    server, url, cal = remote
    cal.set_properties([CalendarColor("#FF8800FF")])
    integration = connect(member, calendar, server, url, run_on_commit)

    with run_on_commit():
        response = member_client.post(
            reverse("events:calendar_edit", args=[calendar.pk]),
            {"name": calendar.name, "color": "#0d9488", "description": ""},
        )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.next_sync_at is not None  # the change asked for a sync soon

    sync_now(integration, run_on_commit)

    assert remote_color(server, url).upper().startswith("#0D9488")
    integration.refresh_from_db()
    assert integration.config["color"] == "#0d9488"


def test_one_way_from_calsync_keeps_calsyncs_colour(member, calendar, remote, run_on_commit):
    server, url, cal = remote
    cal.set_properties([CalendarColor("#FF8800FF")])
    calendar.color = "#9333ea"
    calendar.save()

    connect(member, calendar, server, url, run_on_commit, direction="from_calsync")

    calendar.refresh_from_db()
    assert calendar.color == "#9333ea"
    assert remote_color(server, url).upper().startswith("#9333EA")  # the first sync pushed it


def test_one_way_to_calsync_never_repaints_the_remote(member, calendar, remote, run_on_commit):
    server, url, cal = remote
    cal.set_properties([CalendarColor("#FF8800FF")])
    integration = connect(member, calendar, server, url, run_on_commit, direction="to_calsync")
    events.calendar_update(calendar=calendar, name=calendar.name, color="#16a34a", description="")
    integration.refresh_from_db()

    sync_now(integration, run_on_commit)

    assert remote_color(server, url).upper() == "#FF8800FF"


def test_an_integration_from_before_colours_travelled_is_not_repainted(member, calendar, remote, run_on_commit):
    server, url, cal = remote
    cal.set_properties([CalendarColor("#FF8800FF")])
    integration = connect(member, calendar, server, url, run_on_commit)
    integration.config = {k: v for k, v in integration.config.items() if k != "color"}
    integration.save(update_fields=["config"])
    calendar.color = "#dc2626"
    calendar.save()
    integration.refresh_from_db()

    sync_now(integration, run_on_commit)

    assert remote_color(server, url).upper() == "#FF8800FF"
    integration.refresh_from_db()
    assert integration.config["color"] == "#dc2626"  # agreed from now on: a later change travels


def test_the_client_reads_and_writes_the_colour(remote):
    server, url, _cal = remote
    client = CalDAVClient(url=server.base_url, username=server.username, password=server.password)
    assert client.color_set(url, "#4f46e5") is True
    assert next(c for c in client.calendars() if c.url == url).color.lower() == "#4f46e5"
