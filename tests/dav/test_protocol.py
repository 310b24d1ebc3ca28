"""calsync's CalDAV server, request by request: discovery, reads, writes, reports, and every way to get it wrong."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from defusedxml.ElementTree import fromstring
from django.utils import timezone

from events.ical import parse_item
from events.models import Calendar, Event, Tombstone
from events.services import item_save
from events.tombstones import tombstones_prune

from .conftest import vevent

D, C = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"
PROPFIND = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop>{}</d:prop></d:propfind>'  # noqa: E501


def home(user) -> str:  # type: ignore[no-untyped-def]
    return f"/caldav/calendars/{user.email}/"


def cal_path(calendar: Calendar) -> str:
    return f"/caldav/calendars/{calendar.owner.email}/{calendar.dav_name}/"


def responses(dav, response) -> dict[str, ET.Element]:  # type: ignore[no-untyped-def]
    assert response.status_code == 207, dav.body(response)
    root = fromstring(dav.body(response))
    return {r.findtext(f"{D}href"): r for r in root.findall(f"{D}response")}


def prop(node: ET.Element, name: str) -> ET.Element | None:
    for propstat in node.findall(f"{D}propstat"):
        if "200" in (propstat.findtext(f"{D}status") or ""):
            found = propstat.find(f"{D}prop/{name}")
            if found is not None:
                return found
    return None


# --- discovery ---------------------------------------------------------------------------------


def test_well_known_and_bare_host_lead_to_the_principal(dav, member) -> None:
    redirect = dav.client.get("/.well-known/caldav")
    assert redirect.status_code == 301 and redirect["Location"] == "/caldav/"
    for path in ("/", "/caldav/"):
        found = responses(dav, dav.propfind(path, PROPFIND.format("<d:current-user-principal/>")))
        principal = prop(next(iter(found.values())), f"{D}current-user-principal")
        assert principal is not None and principal.findtext(f"{D}href") == f"/caldav/principals/{member.email}/"


def test_principal_names_home_and_addresses(dav, member) -> None:
    body = PROPFIND.format("<c:calendar-home-set/><c:calendar-user-address-set/><d:displayname/><d:resourcetype/>")
    node = responses(dav, dav.propfind(f"/caldav/principals/{member.email}/", body))[
        f"/caldav/principals/{member.email}/"
    ]
    assert prop(node, f"{C}calendar-home-set").findtext(f"{D}href") == home(member)
    addresses = [h.text for h in prop(node, f"{C}calendar-user-address-set").findall(f"{D}href")]
    assert f"mailto:{member.email}" in addresses
    assert prop(node, f"{D}resourcetype").find(f"{D}principal") is not None


def test_home_lists_only_own_calendars_with_their_properties(dav, member, calendar, outsider) -> None:
    Calendar.objects.create(tenant=outsider.tenant, owner=outsider, name="Theirs")
    body = PROPFIND.format(
        "<d:displayname/><d:resourcetype/><d:sync-token/><c:supported-calendar-component-set/>"
        '<cs:getctag xmlns:cs="http://calendarserver.org/ns/"/><d:current-user-privilege-set/>'
    )
    found = responses(dav, dav.propfind(home(member), body, depth="1"))
    names = {prop(n, f"{D}displayname").text for href, n in found.items() if href != home(member)}
    assert names == {"Work"}
    node = found[cal_path(calendar)]
    assert prop(node, f"{D}resourcetype").find(f"{C}calendar") is not None
    assert {c.get("name") for c in prop(node, f"{C}supported-calendar-component-set")} == {"VEVENT", "VTODO"}
    privileges = {p[0].tag for p in prop(node, f"{D}current-user-privilege-set")}
    assert f"{D}write-content" in privileges
    assert prop(node, f"{D}sync-token").text.startswith("urn:calsync:sync:")


def test_principal_is_read_only(dav, member) -> None:
    node = responses(
        dav, dav.propfind(f"/caldav/principals/{member.email}/", PROPFIND.format("<d:current-user-privilege-set/>"))
    )
    privileges = {p[0].tag for p in prop(next(iter(node.values())), f"{D}current-user-privilege-set")}
    assert f"{D}read" in privileges and f"{D}write" not in privileges


def test_options_announces_calendar_access_without_credentials(client) -> None:
    response = client.options("/caldav/")
    assert response.status_code == 200
    assert "calendar-access" in response["DAV"] and "REPORT" in response["Allow"]


def test_depth_infinity_is_refused(dav, member) -> None:
    response = dav.propfind(home(member), depth="infinity")
    assert response.status_code == 403 and "propfind-finite-depth" in dav.body(response)


# --- writes ------------------------------------------------------------------------------------


def test_put_get_update_with_etag_and_delete(dav, calendar) -> None:
    path = cal_path(calendar) + "meeting.ics"
    created = dav.put(path, vevent("meeting-1"), If_None_Match="*")
    assert created.status_code == 201
    etag = created["ETag"]
    fetched = dav.client.get(path, HTTP_AUTHORIZATION=dav.request("GET", path).request["HTTP_AUTHORIZATION"])
    assert fetched.status_code == 200 and "UID:meeting-1" in fetched.content.decode() and fetched["ETag"] == etag

    again = dav.put(path, vevent("meeting-1"), If_None_Match="*")
    assert again.status_code == 412

    stale = dav.put(path, vevent("meeting-1", summary="Mine"), If_Match='"999"')
    assert stale.status_code == 412
    assert Event.objects.get(uid="meeting-1").title == "Planning"

    updated = dav.put(path, vevent("meeting-1", summary="Moved"), If_Match=etag)
    assert updated.status_code == 204 and updated["ETag"] != etag
    assert Event.objects.get(uid="meeting-1").title == "Moved"
    reread = dav.request("GET", path)  # the rendered text is cached per version: the new one is served
    assert "SUMMARY:Moved" in reread.content.decode() and reread["ETag"] == updated["ETag"]
    assert dav.request("GET", path, If_None_Match=updated["ETag"]).status_code == 304

    assert dav.request("DELETE", path, If_Match=etag).status_code == 412
    assert dav.request("DELETE", path, If_Match=updated["ETag"]).status_code == 204
    assert dav.request("GET", path).status_code == 404
    assert not Event.objects.filter(uid="meeting-1").exists()


def test_uid_rules(dav, calendar) -> None:
    assert dav.put(cal_path(calendar) + "a.ics", vevent("same")).status_code == 201
    clash = dav.put(cal_path(calendar) + "b.ics", vevent("same"))
    assert clash.status_code == 403 and "no-uid-conflict" in clash.content.decode()
    changed = dav.put(cal_path(calendar) + "a.ics", vevent("other"))
    assert changed.status_code == 403 and "cannot change" in changed.content.decode()
    assert list(Event.objects.values_list("uid", "name")) == [("same", "a.ics")]


def test_tasks_and_task_only_calendars(dav, member) -> None:
    body = (
        '<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop>'
        '<d:displayname>Reminders</d:displayname><c:supported-calendar-component-set><c:comp name="VTODO"/>'
        "</c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>"
    )
    assert dav.request("MKCALENDAR", home(member) + "reminders/", body).status_code == 201
    tasks = Calendar.objects.get(owner=member, dav_name="reminders")
    assert (tasks.name, tasks.components) == ("Reminders", "VTODO")
    todo = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t1\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:Call back\r\nDUE:20261105T120000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"  # noqa: E501
    assert dav.put(home(member) + "reminders/t1.ics", todo).status_code == 201
    refused = dav.put(home(member) + "reminders/e1.ics", vevent("e1"))
    assert refused.status_code == 403 and "supported-calendar-component" in refused.content.decode()
    assert list(Event.objects.filter(calendar=tasks).values_list("kind", flat=True)) == ["VTODO"]


def test_mkcalendar_on_existing_address_is_refused(dav, calendar) -> None:
    assert dav.request("MKCALENDAR", cal_path(calendar)).status_code == 405
    assert Calendar.objects.filter(owner=calendar.owner).count() == 1


def test_proppatch_is_all_or_nothing(dav, calendar) -> None:
    ok = (
        '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/"><d:set><d:prop>'
        "<d:displayname>Team</d:displayname><a:calendar-color>#FF0000FF</a:calendar-color>"
        "<a:calendar-order>3</a:calendar-order></d:prop></d:set></d:propertyupdate>"
    )
    (node,) = responses(dav, dav.request("PROPPATCH", cal_path(calendar), ok)).values()
    assert [p.findtext(f"{D}status") for p in node.findall(f"{D}propstat")] == ["HTTP/1.1 200 OK"]
    assert len(node.find(f"{D}propstat/{D}prop")) == 3  # all three set
    calendar.refresh_from_db()
    assert (calendar.name, calendar.color) == ("Team", "#ff0000")
    order = responses(
        dav,
        dav.propfind(
            cal_path(calendar),
            '<d:propfind xmlns:d="DAV:"><d:prop><a:calendar-order xmlns:a="http://apple.com/ns/ical/"/></d:prop></d:propfind>',
        ),
    )
    assert prop(next(iter(order.values())), "{http://apple.com/ns/ical/}calendar-order").text == "3"

    bad = ok.replace("Team", "Renamed").replace("#FF0000FF", "not a colour")
    text = dav.body(dav.request("PROPPATCH", cal_path(calendar), bad))
    assert "403 Forbidden" in text and "424 Failed Dependency" in text
    calendar.refresh_from_db()
    assert calendar.name == "Team"


# --- reports -----------------------------------------------------------------------------------


def _query(start: str, end: str, kind: str = "VEVENT") -> str:
    return (
        '<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        '<d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
        f'<c:comp-filter name="{kind}"><c:time-range start="{start}" end="{end}"/></c:comp-filter>'
        "</c:comp-filter></c:filter></c:calendar-query>"
    )


@pytest.fixture
def weekly(calendar) -> Event:  # type: ignore[no-untyped-def]
    """Mondays 09:00 UTC from 2 Nov 2026, 6 times; the 16 Nov one moved to Thursday 19 Nov, 30 Nov cancelled."""
    body = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        "BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261102T090000Z\r\n"
        "DTEND:20261102T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE:20261130T090000Z\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20261101T000000Z\r\nRECURRENCE-ID:20261116T090000Z\r\n"
        "DTSTART:20261119T090000Z\r\nDTEND:20261119T100000Z\r\nSUMMARY:Standup (moved)\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    return item_save(calendar=calendar, item=parse_item(body), name="weekly.ics").event


@pytest.mark.parametrize(
    ("start", "end", "found"),
    [
        ("20261109T000000Z", "20261110T000000Z", True),  # an ordinary Monday
        ("20261116T000000Z", "20261117T000000Z", False),  # the moved Monday is empty
        ("20261119T000000Z", "20261120T000000Z", True),  # ... because it is on Thursday
        ("20261130T000000Z", "20261201T000000Z", False),  # cancelled
        ("20261207T000000Z", "20261208T000000Z", True),  # the last one
        ("20261214T000000Z", "20261215T000000Z", False),  # after COUNT
    ],
)
def test_calendar_query_expands_recurrence(dav, calendar, weekly, start, end, found) -> None:
    hrefs = responses(dav, dav.report(cal_path(calendar), _query(start, end)))
    assert (cal_path(calendar) + "weekly.ics" in hrefs) is found


def test_calendar_query_expand_returns_occurrences_in_utc(dav, calendar, weekly) -> None:
    body = _query("20261101T000000Z", "20261201T000000Z").replace(
        "<d:getetag/>", '<c:calendar-data><c:expand start="20261101T000000Z" end="20261201T000000Z"/></c:calendar-data>'
    )
    node = next(iter(responses(dav, dav.report(cal_path(calendar), body)).values()))
    data = prop(node, f"{C}calendar-data").text
    assert "RRULE" not in data and data.count("BEGIN:VEVENT") == 4  # 2, 9, 19 (moved), 23 Nov
    assert "DTSTART:20261119T090000Z" in data and "DTSTART:20261116T090000Z" not in data


def test_calendar_query_filters_kind_and_text(dav, calendar, weekly) -> None:
    dav.put(cal_path(calendar) + "lunch.ics", vevent("lunch", summary="Lunch with Ana"))
    assert responses(dav, dav.report(cal_path(calendar), _query("20261101T000000Z", "20261201T000000Z", "VTODO"))) == {}
    text = (
        '<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        '<d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
        '<c:prop-filter name="SUMMARY"><c:text-match>ANA</c:text-match></c:prop-filter>'
        "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"
    )
    assert set(responses(dav, dav.report(cal_path(calendar), text))) == {cal_path(calendar) + "lunch.ics"}


def test_multiget_returns_data_and_404s(dav, calendar, weekly, outsider) -> None:
    body = (
        '<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
        f"<d:href>{cal_path(calendar)}weekly.ics</d:href><d:href>{cal_path(calendar)}missing.ics</d:href>"
        f"<d:href>/caldav/calendars/{outsider.email}/x/y.ics</d:href></c:calendar-multiget>"
    )
    found = responses(dav, dav.report(cal_path(calendar), body))
    assert "UID:weekly" in prop(found[f"{cal_path(calendar)}weekly.ics"], f"{C}calendar-data").text
    assert "404" in found[f"{cal_path(calendar)}missing.ics"].findtext(f"{D}status")
    assert "404" in found[f"/caldav/calendars/{outsider.email}/x/y.ics"].findtext(f"{D}status")


def _sync(token: str = "", limit: int | None = None) -> str:
    limit_xml = f"<d:limit><d:nresults>{limit}</d:nresults></d:limit>" if limit else ""
    return (
        '<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>'
        f"{token}</d:sync-token><d:sync-level>1</d:sync-level>{limit_xml}<d:prop><d:getetag/></d:prop>"
        "</d:sync-collection>"
    )


def _token(dav, response) -> str:  # type: ignore[no-untyped-def]
    return fromstring(dav.body(response)).findtext(f"{D}sync-token")


def test_sync_collection_reports_changes_and_deletions(dav, calendar) -> None:
    base = cal_path(calendar)
    for uid in ("a", "b", "c"):
        dav.put(f"{base}{uid}.ics", vevent(uid))
    first = dav.report(base, _sync())
    assert set(responses(dav, first)) == {f"{base}{u}.ics" for u in "abc"}
    token = _token(dav, first)

    dav.put(f"{base}b.ics", vevent("b", summary="Changed"))
    dav.request("DELETE", f"{base}c.ics")
    dav.put(f"{base}d.ics", vevent("d"))
    second = dav.report(base, _sync(token))
    found = responses(dav, second)
    assert set(found) == {f"{base}b.ics", f"{base}c.ics", f"{base}d.ics"}
    assert "404" in found[f"{base}c.ics"].findtext(f"{D}status")

    quiet = dav.report(base, _sync(_token(dav, second)))
    assert responses(dav, quiet) == {}


def test_sync_collection_pages_with_limit(dav, calendar) -> None:
    base = cal_path(calendar)
    for uid in "abcde":
        dav.put(f"{base}{uid}.ics", vevent(uid))
    page = dav.report(base, _sync(limit=2))
    found = responses(dav, page)
    assert "507" in found[base].findtext(f"{D}status")
    seen = {h for h in found if h != base}
    while True:
        page = dav.report(base, _sync(_token(dav, page), limit=2))
        found = responses(dav, page)
        seen |= {h for h in found if h != base}
        if base not in found:
            break
    assert seen == {f"{base}{u}.ics" for u in "abcde"}


@pytest.mark.parametrize("token", ["nonsense", "urn:calsync:sync:999999:1", "urn:calsync:sync:{pk}:999"])
def test_unknown_sync_token_is_a_clear_error(dav, calendar, token) -> None:
    response = dav.report(cal_path(calendar), _sync(token.format(pk=calendar.pk)))
    assert response.status_code == 403 and "valid-sync-token" in response.content.decode()


def test_a_token_below_the_sync_floor_is_refused_and_a_full_listing_recovers(dav, calendar) -> None:
    base = cal_path(calendar)
    for uid in "abc":
        dav.put(f"{base}{uid}.ics", vevent(uid))
    old = _token(dav, dav.report(base, _sync()))
    dav.request("DELETE", f"{base}a.ics")
    after_delete = _token(dav, dav.report(base, _sync(old)))
    Tombstone.objects.update(deleted_at=timezone.now() - timedelta(days=365))
    assert tombstones_prune() == 1

    refused = dav.report(base, _sync(old))  # it would need the deletion of a.ics, which is gone
    assert refused.status_code == 403 and "valid-sync-token" in refused.content.decode()
    assert responses(dav, dav.report(base, _sync(after_delete))) == {}  # a token at the floor still works
    listing = dav.report(base, _sync())  # what clients do next (RFC 6578 3.2): list everything again
    assert set(responses(dav, listing)) == {f"{base}b.ics", f"{base}c.ics"}
    dav.put(f"{base}d.ics", vevent("d"))
    assert set(responses(dav, dav.report(base, _sync(_token(dav, listing))))) == {f"{base}d.ics"}


def test_free_busy_query(dav, calendar, weekly) -> None:
    body = (
        '<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
        '<c:time-range start="20261109T000000Z" end="20261110T000000Z"/></c:free-busy-query>'
    )
    response = dav.report(cal_path(calendar), body)
    text = response.content.decode()
    assert response.status_code == 200
    busy = [line for line in text.split("\r\n") if line.startswith("FREEBUSY")]
    assert len(busy) == 1 and "FBTYPE=BUSY" in busy[0] and busy[0].endswith(":20261109T090000Z/20261109T100000Z")


def test_unsupported_report_is_named(dav, calendar) -> None:
    response = dav.report(cal_path(calendar), '<?xml version="1.0"?><d:expand-property xmlns:d="DAV:"/>')
    assert response.status_code == 403 and "supported-report" in response.content.decode()


# --- changes from a CalDAV app travel on through integrations ------------------------------------


def test_changes_made_over_caldav_reach_connected_calendars(dav, member, calendar) -> None:
    from integrations.services import integration_create
    from sync import services as sync_services
    from tests.factories import CalendarFactory

    mirror = CalendarFactory(owner=member, tenant=member.tenant, name="Mirror")
    integration = integration_create(
        user=member, provider="calsync", calendar=calendar, remote_calendar_id=str(mirror.pk),
        remote_calendar_name="Mirror", direction="both", primary="calsync", auto_sync=False,
    )  # fmt: skip

    def sync() -> None:
        run = sync_services.sync_execute(
            run_id=sync_services.sync_request(integration=integration, trigger="manual").pk
        )
        assert run.status == "success", run.error

    assert dav.put(cal_path(calendar) + "iphone.ics", vevent("from-iphone", summary="Dentist")).status_code == 201
    sync()
    assert Event.objects.get(calendar=mirror, uid="from-iphone", parent=None).title == "Dentist"
    etag = dav.request("GET", cal_path(calendar) + "iphone.ics")["ETag"]
    assert dav.request("DELETE", cal_path(calendar) + "iphone.ics", If_Match=etag).status_code == 204
    sync()
    assert not Event.objects.filter(calendar=mirror, uid="from-iphone").exists()


def test_client_properties_are_bounded(dav, calendar) -> None:
    def patch(n: int) -> str:
        props = "".join(f"<x:p{i}>{i}</x:p{i}>" for i in range(n))
        return (
            '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:x="urn:example"><d:set><d:prop>'
            f"{props}</d:prop></d:set></d:propertyupdate>"
        )

    assert dav.request("PROPPATCH", cal_path(calendar), patch(50)).status_code == 207
    too_many = dav.request("PROPPATCH", cal_path(calendar), patch(51))
    assert too_many.status_code == 507 and "at most 50" in too_many.content.decode()
    calendar.refresh_from_db()
    assert len(calendar.dav_properties) == 50
    # MKCALENDAR with too many: the same answer, and no calendar is left half made.
    caldav = 'xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"'
    mk = patch(51).replace("d:propertyupdate", "c:mkcalendar").replace('xmlns:d="DAV:"', caldav)
    made = dav.request("MKCALENDAR", home(calendar.owner) + "crowded/", mk)
    assert made.status_code == 507 and not Calendar.objects.filter(dav_name="crowded").exists()


def test_delete_a_calendar_but_never_the_last_one(dav, member, calendar) -> None:
    assert dav.request("DELETE", cal_path(calendar)).status_code == 403  # as on the web page
    assert dav.request("MKCALENDAR", home(member) + "spare/").status_code == 201
    assert dav.request("DELETE", cal_path(calendar)).status_code == 204
    assert list(Calendar.objects.filter(owner=member).values_list("dav_name", flat=True)) == ["spare"]


def test_propfind_without_depth_is_depth_one(dav, member, calendar) -> None:
    found = responses(dav, dav.request("PROPFIND", home(member), PROPFIND.format("<d:displayname/>")))
    assert set(found) == {home(member), cal_path(calendar)}
