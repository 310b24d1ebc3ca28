"""Connecting to a CalDAV server whose replies are not what CalDAV promises: a clear form error, never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.caldav.client import ConnectError
from integrations.caldav.services import caldav_discover
from integrations.models import Integration
from tests.scripted_dav import MULTISTATUS, PRINCIPAL, found, scripted_dav

HTML = ("<html><body>Welcome to our intranet</body></html>", "text/html")
NOT_CALDAV = "No CalDAV service was found at this address"
NOT_207 = "not 207 Multi-Status: it does not behave like a CalDAV server"
NO_CALENDARS = "Signed in, but this account has no calendars"
HREFLESS = (
    "<d:response><d:propstat><d:prop><d:resourcetype><c:calendar/></d:resourcetype></d:prop></d:propstat></d:response>"
)

CASES = {
    # Discovery (the caldav library's current-user-principal and calendar-home-set requests).
    "discovery: 200 with an HTML page": ({"/": (200, *HTML)}, NOT_207),
    "discovery: 200 with an empty body": ({"/": (200, "", "application/xml")}, NOT_CALDAV),
    "discovery: 207 with an empty body": ({"/": (207, "", "application/xml")}, NOT_CALDAV),
    "discovery: 207 with binary junk": ({"/": (207, "\x01\x02 junk", "application/xml")}, NOT_CALDAV),
    "discovery: 207 without responses": ({"/": (207, MULTISTATUS.format(""), "application/xml")}, NO_CALENDARS),
    "discovery: home set is an HTML page": ({"/": (207, PRINCIPAL, "application/xml"), "/p/": (200, *HTML)}, NOT_207),
    # The calendar list, once discovery went well.
    "list: 200 with an HTML page": ({"/cals/": (200, *HTML)}, NOT_207),
    "list: 207 that is not XML": ({"/cals/": (207, "<<<", "application/xml")}, "a reply that is not valid XML"),
    "list: 207 with an empty body": ({"/cals/": (207, "", "application/xml")}, "a reply that is not valid XML"),
    "list: 207 whose root is not multistatus": ({"/cals/": (207, "<a/>", "text/xml")}, "without a DAV:multistatus"),
    "list: responses without hrefs": ({"/cals/": (207, MULTISTATUS.format(HREFLESS), "application/xml")}, NO_CALENDARS),
    "list: 404": ({"/cals/": (404, "", "text/plain")}, "has nothing at /cals/"),
    "list: 503": ({"/cals/": (503, "", "text/plain")}, "is busy or failing (503)"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_replies_that_are_not_caldav_are_a_form_error(member_client, calendar, case) -> None:
    replies, message = CASES[case]
    with scripted_dav() as server:
        if case.startswith("list"):
            server.discovers()
        for path, reply in replies.items():
            server.answer(path, *reply)
        form = {"url": server.url, "username": "alice", "password": "app-password-1"}
        response = member_client.post(reverse("integrations:caldav_connect"), form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "caldav_pending" not in member_client.session and not Integration.objects.exists()


def test_a_well_behaved_server_lists_only_its_calendars(member_client, calendar) -> None:
    """The same scripted server answering properly connects: the failures above are the replies, not the script."""
    with scripted_dav() as server:
        server.discovers()
        extra = found(
            "/cals/home/", "<d:resourcetype><c:calendar/></d:resourcetype><d:displayname>Home</d:displayname>"
        )
        server.answer("/cals/", 207, MULTISTATUS.format(HREFLESS + extra))
        form = {"url": server.url, "username": "alice", "password": "app-password-1"}
        response = member_client.post(reverse("integrations:caldav_connect"), form)
    assert response.status_code == 302
    assert [c["name"] for c in member_client.session["caldav_pending"]["calendars"]] == ["Home"]


PIECES = ["<d:response>", "</d:response>", "<d:href>/cals/x/</d:href>", "<d:href></d:href>", "<d:propstat>",
          "</d:propstat>", "<d:prop>", "</d:prop>", "<d:resourcetype><c:calendar/></d:resourcetype>",
          "<d:status>HTTP/1.1 200 OK</d:status>", "<c:comp/>", '<c:comp name="VEVENT"/>', "<d:displayname>",
          "</d:displayname>", "<d:current-user-privilege-set><d:privilege/></d:current-user-privilege-set>",
          "<d:current-user-principal><d:href>/p/</d:href></d:current-user-principal>", "<html>", "\x00", "&",
          "<c:calendar-home-set/>",
          "<d:supported-report-set><d:supported-report/></d:supported-report-set>"]  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(["/", "/p/", "/cals/"]),
    status=st.sampled_from([200, 207, 207, 301, 404, 500]),
    body=st.lists(st.sampled_from(PIECES), max_size=12).map("".join) | st.binary(max_size=100),
    wrapped=st.booleans(),
)
def test_any_reply_during_discovery_is_a_connect_error_or_calendars(where, status, body, wrapped) -> None:  # type: ignore[no-untyped-def]
    if wrapped and isinstance(body, str):
        body = MULTISTATUS.format(body)
    with scripted_dav() as server:
        server.discovers()
        server.answer(where, status, body)
        try:
            found = caldav_discover(url=server.url, username="alice", password="app-password-1")
        except ConnectError as exc:
            assert str(exc) and "app-password-1" not in str(exc)
        else:
            assert all(c.url.startswith(server.url) and c.name for c in found)
