"""The CalDAV namespace: which resource a path names, and the properties each kind of resource has.

    /caldav/                                   root (current-user-principal points on)
    /caldav/principals/<email>/                a user's principal
    /caldav/calendars/<email>/                 their calendar home
    /caldav/calendars/<email>/<calendar>/      one calendar (Calendar.dav_name)
    /caldav/calendars/<email>/<calendar>/<x>   one event or task (Event.name)

A path under another user's name resolves to nothing: it is answered exactly
like a path that does not exist, so nothing tells one tenant about another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element

import icalendar
from defusedxml.ElementTree import fromstring
from django.conf import settings
from django.utils.http import http_date

from accounts.models import User
from accounts.tenancy import Scope
from events.ical import PRODID
from events.limits import earliest, latest
from events.models import Calendar, Event

from .caching import LISTING_FIELDS, item_ics
from .xml import CALDAV, CS, DAV, ICAL, PUSH, element, tag

ROOT = "/caldav/"
_SAFE = "@:+!$&'()*,;="


def q(segment: str) -> str:
    return quote(segment, safe=_SAFE)


def principal_href(user: User) -> str:
    return f"{ROOT}principals/{q(user.email)}/"


def home_href(user: User) -> str:
    return f"{ROOT}calendars/{q(user.email)}/"


def calendar_href(user: User, calendar: Calendar) -> str:
    return f"{home_href(user)}{q(calendar.dav_name)}/"


def sync_token(calendar: Calendar, seq: int | None = None) -> str:
    return f"urn:calsync:sync:{calendar.pk}:{calendar.change_seq if seq is None else seq}"


def ctag(calendar: Calendar) -> str:
    return f'"{calendar.change_seq}-{int(calendar.changed_at.timestamp() * 1_000_000)}"'


@dataclass
class Target:
    kind: str  # root | principals | principal | calendars | home | calendar | item | registration
    user: User
    href: str
    calendar: Calendar | None = None
    segment: str = ""  # the calendar's or item's own path segment
    event: Event | None = None

    @property
    def exists(self) -> bool:
        if self.kind == "calendar":
            return self.calendar is not None
        if self.kind == "item":
            return self.event is not None
        return True


def resolve(user: User, path: str, root: str = ROOT) -> Target | None:
    """What the (already percent-decoded) path below /caldav/ names for this user; None if nothing of theirs.

    `root` is the address the client used for the root: the site root too, for bare-host discovery.
    """
    parts = [p for p in path.split("/") if p]
    if not parts:
        return Target("root", user, root)
    head, rest = parts[0], parts[1:]
    if head == "principals":
        if not rest:
            return Target("principals", user, f"{ROOT}principals/")
        if len(rest) == 1 and rest[0].lower() == user.email.lower():
            return Target("principal", user, principal_href(user))
        return None
    if head == "push-registrations" and len(rest) == 1:  # WebDAV-Push (dav/push_views.py): only DELETE
        return Target("registration", user, f"{ROOT}{head}/{q(rest[0])}", segment=rest[0])
    if head != "calendars":
        return None
    if not rest:
        return Target("calendars", user, f"{ROOT}calendars/")
    if rest[0].lower() != user.email.lower() or len(rest) > 3:
        return None
    if len(rest) == 1:
        return Target("home", user, home_href(user))
    if len(rest) == 2:
        calendar = Scope(user).calendars().filter(dav_name=rest[1]).first()
        href = f"{home_href(user)}{q(rest[1])}/"
        return Target("calendar", user, href, calendar=calendar, segment=rest[1])
    return _item_target(user, calendar_name=rest[1], name=rest[2])


# What the item paths read of an item's row (ETags, conditions, a delete's meeting check); a write reads it whole.
ITEM_FIELDS = (*LISTING_FIELDS, "tenant_id", "calendar_id", "parent_id", "attendees")
_CALENDAR_FIELDS = [f.name for f in Calendar._meta.concrete_fields]


def _item_target(user: User, *, calendar_name: str, name: str) -> Target:
    """One query for an item that exists (its row joined with its calendar's); a second one only when it does not."""
    found = Scope(user).events().filter(calendar__dav_name=calendar_name, parent=None, name=name)
    row = found.select_related("calendar").only(*ITEM_FIELDS, *(f"calendar__{f}" for f in _CALENDAR_FIELDS))
    event = next(iter(row.order_by()[:1]), None)
    calendar = event.calendar if event is not None else Scope(user).calendars().filter(dav_name=calendar_name).first()
    if calendar is None:
        return Target("item", user, "", segment=name)
    href = calendar_href(user, calendar) + q(name)
    return Target("item", user, href, calendar=calendar, segment=name, event=event)


# --- properties ---------------------------------------------------------------------------

Value = Element | str | list[Element] | None
Getter = Callable[[], Value]

READ_PRIVILEGES = ("read", "read-current-user-privilege-set")
ALL_PRIVILEGES = (*READ_PRIVILEGES, "write", "write-properties", "write-content", "bind", "unbind")

# What events/limits.py refuses, told to clients before they try (RFC 4791 5.2.6-5.2.9).
LIMIT_PROPERTIES: dict[str, Getter] = {
    "min-date-time": lambda: f"{earliest():%Y%m%dT%H%M%SZ}",
    "max-date-time": lambda: f"{latest():%Y%m%dT%H%M%SZ}",
    "max-instances": lambda: str(settings.ICAL_MAX_INSTANCES),
    "max-attendees-per-instance": lambda: str(settings.ICAL_MAX_ATTENDEES),
}

# Properties a client may not set (RFC 4918 15, RFC 4791 5.2, RFC 6578 4).
PROTECTED = {
    tag(DAV, name)
    for name in (
        "resourcetype", "getetag", "getcontenttype", "getcontentlength", "getlastmodified", "sync-token", "owner",
        "current-user-principal", "current-user-privilege-set", "supported-report-set", "principal-URL",
        "creationdate", "lockdiscovery", "supportedlock",
    )
} | {tag(CALDAV, n) for n in ("supported-calendar-component-set", "supported-calendar-data", "max-resource-size",
                             "calendar-home-set", "calendar-user-address-set", "calendar-data", *LIMIT_PROPERTIES)} | {
    tag(CS, "getctag")
} | {tag(PUSH, n) for n in ("transports", "topic", "supported-triggers")}  # fmt: skip


CALENDAR_REPORTS = [
    (CALDAV, "calendar-query"),
    (CALDAV, "calendar-multiget"),
    (DAV, "sync-collection"),
    (CALDAV, "free-busy-query"),
]


def _href(url: str) -> Element:
    return element(tag(DAV, "href"), url)


def _resourcetype(*kinds: str) -> Element:
    return element(tag(DAV, "resourcetype"), children=[element(k) for k in kinds])


def _privileges(names: tuple[str, ...]) -> list[Element]:
    return [element(tag(DAV, "privilege"), children=[element(tag(DAV, n))]) for n in names]


def _reports(*names: tuple[str, str]) -> list[Element]:
    return [
        element(tag(DAV, "supported-report"), children=[element(tag(DAV, "report"), children=[element(tag(ns, n))])])
        for ns, n in names
    ]


class Properties:
    """Every property one resource has: name -> getter. Getters run only for properties asked for."""

    # Not part of allprop (RFC 4791 9.6; RFC 4918 9.1: expensive or large).
    NOT_IN_ALLPROP = {tag(CALDAV, "calendar-data"), tag(DAV, "getcontentlength")}

    def __init__(self, target: Target) -> None:
        self.target = target
        self.user = target.user
        self.getters: dict[str, Getter] = {
            tag(DAV, "current-user-principal"): lambda: [_href(principal_href(self.user))],
            tag(DAV, "principal-collection-set"): lambda: [_href(f"{ROOT}principals/")],
        }
        getattr(self, f"_{target.kind}")()

    def _root(self) -> None:
        self.getters |= {
            tag(DAV, "resourcetype"): lambda: [element(tag(DAV, "collection"))],
            tag(DAV, "displayname"): lambda: "calsync",
            tag(DAV, "current-user-privilege-set"): lambda: _privileges(READ_PRIVILEGES),
        }

    _principals = _calendars = _root

    def _principal(self) -> None:
        user = self.user
        self.getters |= {
            tag(DAV, "resourcetype"): lambda: [element(tag(DAV, "collection")), element(tag(DAV, "principal"))],
            tag(DAV, "displayname"): lambda: user.get_full_name() or user.email,
            tag(DAV, "principal-URL"): lambda: [_href(principal_href(user))],
            tag(DAV, "current-user-privilege-set"): lambda: _privileges(READ_PRIVILEGES),
            tag(CALDAV, "calendar-home-set"): lambda: [_href(home_href(user))],
            tag(CALDAV, "calendar-user-address-set"): lambda: [
                _href(f"mailto:{user.email}"),
                _href(principal_href(user)),
            ],
            tag(CALDAV, "calendar-user-type"): lambda: "INDIVIDUAL",
            tag(CS, "email-address-set"): lambda: [element(tag(CS, "email-address"), user.email)],
        }

    def _home(self) -> None:
        self.getters |= {
            tag(DAV, "resourcetype"): lambda: [element(tag(DAV, "collection"))],
            tag(DAV, "displayname"): lambda: "Calendars",
            tag(DAV, "owner"): lambda: [_href(principal_href(self.user))],
            tag(DAV, "current-user-privilege-set"): lambda: _privileges((*READ_PRIVILEGES, "bind", "unbind")),
        }

    def _calendar(self) -> None:
        calendar = self.target.calendar
        assert calendar is not None
        self.getters |= {
            tag(DAV, "resourcetype"): lambda: [element(tag(DAV, "collection")), element(tag(CALDAV, "calendar"))],
            tag(DAV, "displayname"): lambda: calendar.name,
            tag(DAV, "owner"): lambda: [_href(principal_href(self.user))],
            tag(DAV, "current-user-privilege-set"): lambda: _privileges(ALL_PRIVILEGES),
            tag(DAV, "supported-report-set"): lambda: _reports(*CALENDAR_REPORTS),
            tag(DAV, "sync-token"): lambda: sync_token(calendar),
            tag(DAV, "getlastmodified"): lambda: http_date(calendar.changed_at.timestamp()),
            tag(CS, "getctag"): lambda: ctag(calendar),
            tag(ICAL, "calendar-color"): lambda: calendar.color.upper() + "FF",
            tag(CALDAV, "calendar-description"): lambda: calendar.description,
            tag(CALDAV, "calendar-timezone"): lambda: _vtimezone(calendar.timezone),
            tag(CALDAV, "supported-calendar-component-set"): lambda: [
                _comp(kind) for kind in calendar.components.split(",")
            ],
            tag(CALDAV, "supported-calendar-data"): lambda: [_calendar_data_type()],
            tag(CALDAV, "max-resource-size"): lambda: str(_max_size()),
            **{tag(CALDAV, name): value for name, value in LIMIT_PROPERTIES.items()},
            **_push_properties(calendar),
        }
        for key, text in calendar.dav_properties.items():
            self.getters.setdefault(key, _dead(text))

    def _item(self) -> None:
        self.getters |= item_getters(self.target.event)  # type: ignore[arg-type]
        self.getters[tag(DAV, "owner")] = lambda: [_href(principal_href(self.user))]
        self.getters[tag(DAV, "current-user-privilege-set")] = lambda: _privileges(ALL_PRIVILEGES)

    def allprop(self) -> list[str]:
        return [name for name in self.getters if name not in self.NOT_IN_ALLPROP]


class ItemProperties:
    """The properties of one item inside a listing: the cheap ones from the row, the body only if asked."""

    def __init__(self, event: Event, body: str | None = None) -> None:
        self.getters = item_getters(event, body)

    def allprop(self) -> list[str]:
        return [name for name in self.getters if name not in Properties.NOT_IN_ALLPROP]


def item_getters(event: Event, text: str | None = None) -> dict[str, Getter]:
    body = _Lazy(lambda: text if text is not None else item_ics(event))
    kind = event.kind.lower()
    return {
        tag(DAV, "resourcetype"): lambda: [],
        tag(DAV, "getetag"): lambda: event.etag,
        tag(DAV, "getcontenttype"): lambda: f"text/calendar; charset=utf-8; component={kind}",
        tag(DAV, "getlastmodified"): lambda: http_date(event.updated_at.timestamp()),
        tag(DAV, "getcontentlength"): lambda: str(len(body.value.encode())),
        tag(CALDAV, "calendar-data"): lambda: body.value,
    }


class _Lazy:
    def __init__(self, compute: Callable[[], str]) -> None:
        self._compute = compute

    @cached_property
    def value(self) -> str:
        return self._compute()


def _comp(name: str) -> Element:
    node = element(tag(CALDAV, "comp"))
    node.set("name", name)
    return node


def _calendar_data_type() -> Element:
    node = element(tag(CALDAV, "calendar-data"))
    node.set("content-type", "text/calendar")
    node.set("version", "2.0")
    return node


def _max_size() -> int:
    return int(settings.DAV_MAX_BODY_BYTES)


def _vtimezone(zone: str) -> str:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    try:
        calendar.add_component(icalendar.Timezone.from_tzid(zone))
    except Exception:  # an unknown zone: a calendar without a default zone
        return ""
    return calendar.to_ical().decode()


def _push_properties(calendar: Calendar) -> dict[str, Getter]:
    """WebDAV-Push's collection properties (draft-bitfire-webdav-push, Collection Properties): Web Push is the
    transport, the topic names the calendar in push messages, content updates of its members are pushed."""
    from .push import topic

    sync_level = element(tag(DAV, "sync-level"), "1")
    return {
        tag(PUSH, "transports"): lambda: [element(tag(PUSH, "web-push"))],
        tag(PUSH, "topic"): lambda: topic(calendar.pk),
        tag(PUSH, "supported-triggers"): lambda: [element(tag(PUSH, "content-update"), children=[sync_level])],
    }


def _dead(text: str) -> Getter:
    def value() -> Value:
        node = fromstring(text, forbid_dtd=True)
        return list(node) or (node.text or "")

    return value


def render_property(name: str, value: Any) -> Element:
    if isinstance(value, Element) and value.tag == name:
        return value
    node = element(name)
    if isinstance(value, str):
        node.text = value
    elif isinstance(value, list):
        node.extend(value)
    return node
