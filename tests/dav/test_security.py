"""Who may reach what over CalDAV, and what bad requests get: a clear 4xx, never data, never a 500, nothing stored."""

from __future__ import annotations

import logging

import pytest
from django.core.management import call_command

from dav.models import AppPassword
from dav.services import app_password_create, app_password_revoke
from events.ical import parse_item
from events.models import Calendar, Event
from events.services import item_save
from tests.factories import PASSWORD, CalendarFactory, UserFactory

from .conftest import vevent
from .test_protocol import PROPFIND, cal_path


@pytest.fixture
def secret_event(outsider):  # type: ignore[no-untyped-def]
    calendar = CalendarFactory(owner=outsider, tenant=outsider.tenant, name="Board")
    item_save(calendar=calendar, item=parse_item(vevent("merger", summary="Secret merger")), name="merger.ics")
    return calendar


def _leaks(dav, response) -> bool:  # type: ignore[no-untyped-def]
    text = dav.body(response)
    return "Secret merger" in text or "Board" in text


# --- authentication -----------------------------------------------------------------------------


def test_no_credentials_asks_for_basic_auth(client) -> None:
    response = client.generic("PROPFIND", "/caldav/", "")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith('Basic realm="calsync"')


@pytest.mark.parametrize("which", ["wrong", "login password", "other user's app password"])
def test_wrong_credentials_are_refused(dav, member, admin_user, which, caplog) -> None:
    password = {
        "wrong": "aaaa-bbbb-cccc-dddd-eeee",
        "login password": PASSWORD,
        "other user's app password": app_password_create(user=admin_user, label="x").secret,
    }[which]
    with caplog.at_level(logging.WARNING, logger="dav.services"):
        response = dav.propfind("/caldav/", auth=(member.email, password))
    assert response.status_code == 401
    assert any(r.getMessage() == "caldav login failed" for r in caplog.records)
    assert password not in caplog.text  # failures are logged, secrets never


def test_app_password_is_case_and_dash_insensitive_and_records_use(dav, member, app_password) -> None:
    typed = app_password.secret.replace("-", "").upper()
    assert dav.propfind("/caldav/", auth=(member.email.upper(), typed)).status_code == 207
    used = AppPassword.objects.get(pk=app_password.app_password.pk)
    assert used.last_used_at is not None and used.last_used_from == "127.0.0.1"


def test_revoked_app_password_stops_working(dav, app_password) -> None:
    assert dav.propfind("/caldav/").status_code == 207
    app_password_revoke(app_password=app_password.app_password)
    assert dav.propfind("/caldav/").status_code == 401


def test_inactive_user_cannot_sign_in(dav, member) -> None:
    member.is_active = False
    member.save()
    assert dav.propfind("/caldav/").status_code == 401


# --- isolation ----------------------------------------------------------------------------------


def test_another_tenants_principal_home_calendar_and_event_are_not_found(dav, outsider, secret_event) -> None:
    for path in (
        f"/caldav/principals/{outsider.email}/",
        f"/caldav/calendars/{outsider.email}/",
        cal_path(secret_event),
        cal_path(secret_event) + "merger.ics",
    ):
        for method in ("PROPFIND", "GET", "REPORT", "DELETE"):
            response = dav.request(method, path, '<d:propfind xmlns:d="DAV:"/>', Depth="1")
            assert response.status_code == 404, (method, path)
            assert not _leaks(dav, response)
        put = dav.put(path + ("" if path.endswith(".ics") else "x.ics"), vevent("intruder"))
        assert put.status_code in (404, 409)
    assert Event.objects.filter(calendar=secret_event).count() == 1
    assert not Event.objects.filter(uid="intruder").exists()


def test_a_colleagues_calendar_in_the_same_tenant_is_not_found(dav, admin_user) -> None:
    theirs = CalendarFactory(owner=admin_user, tenant=admin_user.tenant, name="Board")
    item_save(calendar=theirs, item=parse_item(vevent("merger", summary="Secret merger")), name="merger.ics")
    # Even under one's own name, a colleague's calendar segment resolves to nothing.
    for path in (
        cal_path(theirs),
        cal_path(theirs) + "merger.ics",
        cal_path(theirs).replace(admin_user.email, "member@acme.test"),
    ):
        response = dav.propfind(path, depth="1")
        assert response.status_code == 404 and not _leaks(dav, response)


def test_multiget_of_a_foreign_href_reveals_nothing(dav, calendar, secret_event) -> None:
    body = (
        '<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        f"<d:prop><c:calendar-data/></d:prop><d:href>{cal_path(secret_event)}merger.ics</d:href></c:calendar-multiget>"
    )
    response = dav.report(cal_path(calendar), body)
    assert response.status_code == 207 and not _leaks(dav, response) and "404" in dav.body(response)


# --- malformed requests ---------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&lol3;</d:displayname></d:prop></d:propfind>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&xxe;</d:displayname></d:prop></d:propfind>"""


BAD_TIME_RANGE = (
    "<c:calendar-query xmlns:c='urn:ietf:params:xml:ns:caldav'><c:filter><c:comp-filter name='VCALENDAR'>"
    "<c:comp-filter name='VEVENT'><c:time-range start='yesterday'/></c:comp-filter></c:comp-filter>"
    "</c:filter></c:calendar-query>"
)
NO_UID = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:2026\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
BAD_DATE = vevent("x").replace("DTSTART:20261102T090000Z", "DTSTART:20261302T090000Z")
JOURNAL = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VJOURNAL\r\nUID:j\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n"


@pytest.mark.parametrize(
    ("method", "body", "content_type", "status", "says"),
    [
        ("PROPFIND", BILLION_LAUGHS, "application/xml", 400, "DTD"),
        ("PROPFIND", EXTERNAL_ENTITY, "application/xml", 400, "DTD"),
        ("PROPFIND", "<d:propfind xmlns:d='DAV:'><d:prop>", "application/xml", 400, "well-formed"),
        ("PROPFIND", "<d:propfind xmlns:d='DAV:'/>", "application/json", 415, "XML"),
        ("REPORT", "", "application/xml", 400, "REPORT needs a body"),
        ("REPORT", "<c:calendar-query xmlns:c='urn:ietf:params:xml:ns:caldav'><c:filter>"
                   "<c:comp-filter name='VEVENT'/></c:filter></c:calendar-query>", "application/xml", 403, "VCALENDAR"),
        ("REPORT", BAD_TIME_RANGE, "application/xml", 403, "UTC date-time"),
        ("PROPPATCH", "<d:propfind xmlns:d='DAV:'/>", "application/xml", 400, "propertyupdate"),
    ],
)  # fmt: skip
def test_malformed_xml_gets_a_clear_4xx(dav, calendar, method, body, content_type, status, says) -> None:
    before = Calendar.objects.get(pk=calendar.pk).name
    response = dav.request(method, cal_path(calendar), body, content_type=content_type, Depth="1")
    assert response.status_code == status, dav.body(response)
    assert says in dav.body(response)
    assert Calendar.objects.get(pk=calendar.pk).name == before


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        ("this is not iCalendar", "text/calendar", 403, "not valid iCalendar"),
        (NO_UID, "text/calendar", 403, "UID"),
        (BAD_DATE, "text/calendar", 403, "valid-calendar-data"),
        (vevent("a") + vevent("b"), "text/calendar", 403, "one event or task"),
        (JOURNAL, "text/calendar", 403, "supported-calendar-component"),
        (vevent("x"), "application/json", 415, "text/calendar"),
        (vevent("x").encode("utf-16").decode("latin-1"), "text/calendar", 403, "not valid iCalendar"),
    ],
)  # fmt: skip
def test_malformed_events_are_refused_and_nothing_is_stored(dav, calendar, body, content_type, status, says) -> None:
    response = dav.request("PUT", cal_path(calendar) + "bad.ics", body, content_type=content_type)
    assert response.status_code == status, response.content
    assert says in response.content.decode()
    assert not Event.objects.filter(calendar=calendar).exists()


def test_huge_bodies_are_refused_before_reading(dav, calendar, settings) -> None:
    settings.DAV_MAX_BODY_BYTES = 10_000
    huge = vevent("big", f"DESCRIPTION:{'x' * 20_000}")
    response = dav.put(cal_path(calendar) + "big.ics", huge)
    assert response.status_code == 413 and "larger than 10000 bytes" in response.content.decode()
    report = dav.report(cal_path(calendar), "<x>" + "<y/>" * 5000 + "</x>")
    assert report.status_code == 413
    assert not Event.objects.filter(calendar=calendar).exists()


def test_unsupported_method_says_what_is_allowed(dav, calendar) -> None:
    response = dav.request("LOCK", cal_path(calendar))
    assert response.status_code == 405 and "PROPFIND" in response["Allow"]


# --- provisioning -----------------------------------------------------------------------------------


def test_app_passwords_need_the_right_to_set_up_integrations(tenant) -> None:
    from django.core.exceptions import PermissionDenied

    limited = UserFactory(tenant=tenant, can_setup_integrations=False)
    with pytest.raises(PermissionDenied):
        app_password_create(user=limited, label="iPhone")
    assert not AppPassword.objects.exists()


def test_app_passwords_are_stored_hashed(app_password) -> None:
    stored = AppPassword.objects.get(pk=app_password.app_password.pk)
    assert app_password.secret not in (stored.digest, stored.hint, stored.label)
    assert len(stored.digest) == 64


def test_create_app_password_command_prints_json_that_works(client, member, capsys) -> None:
    import json

    from .conftest import Dav

    call_command("create_app_password", member.email, "--label", "provisioned", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["username"] == member.email and data["server_url"].endswith(f"/caldav/principals/{member.email}/")
    dav = Dav(client, data["username"], data["password"])
    assert dav.propfind("/caldav/", PROPFIND.format("<d:current-user-principal/>")).status_code == 207


def test_behind_a_proxy_failures_count_per_real_client(dav, settings) -> None:
    settings.PROXY_HOPS, settings.DAV_MAX_FAILURES_PER_ADDRESS = 1, 2
    for n in range(2):
        assert (
            dav.propfind("/caldav/", auth=(f"x{n}@example.test", "x"), X_Forwarded_For="203.0.113.7").status_code == 401
        )
    assert dav.propfind("/caldav/", auth=("y@example.test", "x"), X_Forwarded_For="203.0.113.7").status_code == 429
    # Another client behind the same proxy is not locked out by the first one's failures.
    assert dav.propfind("/caldav/", X_Forwarded_For="198.51.100.9").status_code == 207
