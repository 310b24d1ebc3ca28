"""Calendar colours over CalDAV with real Radicale and Xandikos servers: read from the remote calendar when
connecting, PROPPATCHed to it after the user changes the colour in calsync (on the form or from a CalDAV app on
calsync's own server)."""

from __future__ import annotations

import pytest
from caldav.elements.ical import CalendarColor
from django.urls import reverse

from events import services as events
from integrations.caldav.client import CalDAVClient
from integrations.caldav.colors import color_push
from integrations.models import Integration
from sync.errors import TransientError
from tests.scripted_dav import MULTISTATUS, scripted_dav

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


def _propstat(status: str) -> str:
    return MULTISTATUS.format(
        "<d:response><d:href>/cals/work/</d:href><d:propstat><d:prop><ic:calendar-color "
        f"xmlns:ic='http://apple.com/ns/ical/'/></d:prop><d:status>HTTP/1.1 {status}</d:status></d:propstat>"
        "</d:response>"
    )


@pytest.mark.parametrize(
    ("status", "body", "kept"),
    [(207, _propstat("200 OK"), True), (207, _propstat("403 Forbidden"), False), (207, _propstat("409 Conflict"),
     False), (405, "", False), (403, "", False), (501, "", False)],
)  # fmt: skip
def test_a_server_that_refuses_the_colour_is_not_asked_again(member, calendar, status, body, kept):
    with scripted_dav() as server:
        server.answer("/cals/work/", status, body)
        client = CalDAVClient(url=server.url, username="alice", password="app-password-1")
        assert client.color_set(f"{server.url}cals/work/", "#16a34a") is kept
        integration = Integration.objects.create(
            tenant=member.tenant, user=member, calendar=calendar, provider="caldav",
            remote_calendar_id=f"{server.url}cals/work/", config={"color": "#ff8800"},
        )  # fmt: skip
        calendar.color = "#16a34a"
        calendar.save()

        color_push(integration=integration, client=client)
        color_push(integration=integration, client=client)

        assert len(server.bodies("PROPPATCH")) == 2  # the direct call above, then one push: never a second
        assert "<ic:calendar-color>#16A34AFF</ic:calendar-color>" in server.bodies("PROPPATCH")[-1]
    integration.refresh_from_db()
    assert integration.config["color"] == "#16a34a"


def test_a_server_failing_while_the_colour_is_pushed_retries_the_sync(member, calendar):
    with scripted_dav() as server:
        server.answer("/cals/work/", 503, "")
        client = CalDAVClient(url=server.url, username="alice", password="app-password-1")
        integration = Integration.objects.create(
            tenant=member.tenant, user=member, calendar=calendar, provider="caldav",
            remote_calendar_id=f"{server.url}cals/work/", config={"color": "#ff8800"},
        )  # fmt: skip
        with pytest.raises(TransientError):
            color_push(integration=integration, client=client)
    integration.refresh_from_db()
    assert integration.config["color"] == "#ff8800"  # still to be pushed


def test_agreeing_a_colour_keeps_config_keys_written_meanwhile(member, calendar):
    """The run read its integration before the user saved new sync controls (which mark the next run to compare
    everything): the colour agreed is added to the config stored now, so that mark is not lost."""
    with scripted_dav() as server:
        server.answer("/cals/work/", 207, _propstat("200 OK"))
        client = CalDAVClient(url=server.url, username="alice", password="app-password-1")
        integration = Integration.objects.create(
            tenant=member.tenant, user=member, calendar=calendar, provider="caldav",
            remote_calendar_id=f"{server.url}cals/work/", config={"color": "#ff8800"},
        )  # fmt: skip
        Integration.objects.filter(pk=integration.pk).update(config={"color": "#ff8800", "compare_all": True})
        calendar.color = "#16a34a"
        calendar.save()
        color_push(integration=integration, client=client)
    integration.refresh_from_db()
    assert integration.config == {"color": "#16a34a", "compare_all": True}
