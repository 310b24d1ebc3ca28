"""Hostile XML bodies on calsync's CalDAV server (too deep, random, mutated): a 4xx, never a 500, nothing changed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dav.xml import MAX_DEPTH
from events.models import Calendar

from .test_protocol import cal_path, home

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
NS = 'xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:a="http://apple.com/ns/ical/"'
RANGE = '<c:time-range start="20261101T000000Z" end="20261201T000000Z"/>'
SEEDS = {
    "PROPFIND": [
        f"<d:propfind {NS}><d:prop><d:displayname/><d:getetag/><c:calendar-data/><d:sync-token/></d:prop></d:propfind>",
        f"<d:propfind {NS}><d:allprop/><d:include><c:calendar-timezone/></d:include></d:propfind>",
    ],
    "PROPPATCH": [
        f"<d:propertyupdate {NS}><d:set><d:prop><d:displayname>Team</d:displayname><a:calendar-color>#FF0000"
        "</a:calendar-color></d:prop></d:set><d:remove><d:prop><c:calendar-description/></d:prop></d:remove>"
        "</d:propertyupdate>",
    ],
    "REPORT": [
        f'<c:calendar-query {NS}><d:prop><d:getetag/><c:calendar-data><c:expand start="20261101T000000Z" '
        'end="20261201T000000Z"/></c:calendar-data></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
        f'<c:comp-filter name="VEVENT">{RANGE}<c:prop-filter name="SUMMARY"><c:text-match '
        'collation="i;unicode-casemap" negate-condition="yes">x</c:text-match></c:prop-filter></c:comp-filter>'
        "</c:comp-filter></c:filter></c:calendar-query>",
        f"<c:calendar-multiget {NS}><d:prop><d:getetag/><c:calendar-data/></d:prop>"
        "<d:href>/caldav/calendars/x/y/z.ics</d:href></c:calendar-multiget>",
        f"<d:sync-collection {NS}><d:sync-token/><d:sync-level>1</d:sync-level><d:limit><d:nresults>5"
        "</d:nresults></d:limit><d:prop><d:getetag/></d:prop></d:sync-collection>",
        f"<c:free-busy-query {NS}>{RANGE}</c:free-busy-query>",
        f"<d:principal-property-search {NS}><d:property-search><d:prop><d:displayname/></d:prop><d:match>me"
        "</d:match></d:property-search><d:prop><d:displayname/></d:prop></d:principal-property-search>",
    ],
    "MKCALENDAR": [
        f"<c:mkcalendar {NS}><d:set><d:prop><d:displayname>New</d:displayname><c:supported-calendar-component-set>"
        '<c:comp name="VEVENT"/></c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>',
    ],
}
WORDS = ["<", ">", "</d:prop>", "<d:prop>", '"', "&amp;", "&#0;", "]]>", "<![CDATA[", "xmlns:d=''", "\x00", "é",
         "99999999T999999Z", "-1", "0", "name=\"VTODO\"", "<c:comp-filter/>", "<d:href>../../</d:href>"]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, method: str) -> bytes:
    """A valid body of `method` with a few cuts, insertions and repetitions: the nearly-right bodies parsers trip on."""
    body = draw(st.sampled_from(SEEDS[method]))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        end = draw(st.integers(at, min(len(body), at + 40)))
        how = draw(st.sampled_from(["cut", "insert", "repeat"]))
        if how == "cut":
            body = body[:at] + body[end:]
        elif how == "insert":
            body = body[:at] + draw(st.sampled_from(WORDS) | st.text(max_size=8)) + body[at:]
        else:
            body = body[:at] + body[at:end] * draw(st.integers(2, 5)) + body[end:]
    return body.encode("utf-8", "surrogatepass") if draw(st.booleans()) else body.encode("utf-8", "replace")


NAMES = ["d:prop", "d:set", "d:remove", "d:href", "d:displayname", "d:getetag", "d:sync-token", "d:limit",
         "d:nresults", "c:filter", "c:comp-filter", "c:prop-filter", "c:param-filter", "c:text-match",
         "c:time-range", "c:calendar-data", "c:expand", "c:comp", "c:is-not-defined", "a:calendar-color"]  # fmt: skip
ATTRS = st.dictionaries(
    st.sampled_from(["name", "start", "end", "collation", "negate-condition", "test", "match-type"]),
    st.sampled_from(["VEVENT", "VCALENDAR", "20261101T000000Z", "2026", "yes", "anyof", "", "i;octet", "x" * 300]),
    max_size=3,
)


def _tree(draw: st.DrawFn, depth: int) -> str:
    name = draw(st.sampled_from(NAMES))
    attrs = "".join(f' {k}="{v}"' for k, v in draw(ATTRS).items())
    text = draw(st.sampled_from(["", "VEVENT", "20261101T000000Z", "1", "x"]))
    children = "".join(_tree(draw, depth + 1) for _ in range(draw(st.integers(0, 3 if depth < 5 else 0))))
    return f"<{name}{attrs}>{text}{children}</{name}>"


@st.composite
def generated(draw: st.DrawFn, method: str) -> bytes:
    """Well-formed bodies under the method's root elements, made of the DAV and CalDAV names in random places."""
    root = draw(
        st.sampled_from(
            {
                "PROPFIND": ["d:propfind"],
                "PROPPATCH": ["d:propertyupdate"],
                "MKCALENDAR": ["c:mkcalendar", "d:mkcol"],
                "REPORT": ["c:calendar-query", "c:calendar-multiget", "d:sync-collection", "c:free-busy-query"],
            }[method]
        )
    )
    children = "".join(_tree(draw, 1) for _ in range(draw(st.integers(0, 4))))
    return f"<{root} {NS}>{children}</{root}>".encode()


@st.composite
def nested(draw: st.DrawFn, method: str) -> bytes:
    """A valid body with a deep chain of elements put inside its first <d:prop>."""
    levels = draw(st.integers(1, 3000))
    chain = '<x:n xmlns:x="urn:x">' * levels + "</x:n>" * levels
    return draw(st.sampled_from(SEEDS[method])).replace("<d:prop>", f"<d:prop>{chain}", 1).encode()


def _bodies(method: str) -> st.SearchStrategy[bytes]:
    return mutated(method) | generated(method) | nested(method) | st.binary(max_size=200)


def _path(method: str, calendar: Calendar, suffix: int) -> str:
    return home(calendar.owner) + f"fuzz{suffix}/" if method == "MKCALENDAR" else cal_path(calendar)


@pytest.mark.parametrize("method", ["PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR"])
def test_random_and_mutated_bodies_never_answer_500(dav, calendar, method) -> None:
    made = iter(range(10_000))

    @FUZZ
    @given(body=_bodies(method), depth=st.sampled_from(["0", "1"]))
    def check(body: bytes, depth: str) -> None:
        # The test client re-raises whatever the view raised, so a 500 fails here with its traceback.
        response = dav.request(method, _path(method, calendar, next(made)), body, Depth=depth)
        assert response.status_code < 500, (response.status_code, body)

    check()


@pytest.mark.parametrize("method", ["PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR"])
@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 50_000])
def test_bodies_nested_too_deep_are_refused_and_change_nothing(dav, calendar, method, levels) -> None:
    root = {"PROPFIND": "d:propfind", "PROPPATCH": "d:propertyupdate", "REPORT": "c:calendar-query",
            "MKCALENDAR": "c:mkcalendar"}[method]  # fmt: skip
    deep = "<x:n>" * levels + "</x:n>" * levels
    body = (
        f'<{root} {NS} xmlns:x="urn:x"><d:set><d:prop><d:displayname>Renamed</d:displayname>{deep}'
        f"</d:prop></d:set></{root}>"
    )
    response = dav.request(method, _path(method, calendar, 0), body)
    assert response.status_code == 400
    assert f"more than {MAX_DEPTH} levels deep" in dav.body(response)
    calendar.refresh_from_db()
    assert calendar.name == "Work" and calendar.dav_properties == {}
    assert list(Calendar.objects.filter(owner=calendar.owner)) == [calendar]


def test_body_nested_to_the_limit_is_still_read(dav, calendar) -> None:
    deep = "<x:n>" * (MAX_DEPTH - 4) + "v" + "</x:n>" * (MAX_DEPTH - 4)
    body = f'<d:propertyupdate {NS} xmlns:x="urn:x"><d:set><d:prop>{deep}</d:prop></d:set></d:propertyupdate>'
    assert dav.request("PROPPATCH", cal_path(calendar), body).status_code == 207
    calendar.refresh_from_db()
    assert list(calendar.dav_properties) == ["{urn:x}n"]


def test_bodies_over_the_size_limit_are_refused(dav, calendar, settings) -> None:
    settings.DAV_MAX_BODY_BYTES = 1000
    props = "".join(f"<x:p{i}>{i}</x:p{i}>" for i in range(100))
    body = f'<d:propertyupdate {NS} xmlns:x="urn:x"><d:set><d:prop>{props}</d:prop></d:set></d:propertyupdate>'
    response = dav.request("PROPPATCH", cal_path(calendar), body)
    assert response.status_code == 413
    calendar.refresh_from_db()
    assert calendar.dav_properties == {}
