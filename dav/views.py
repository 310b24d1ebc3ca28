"""calsync's CalDAV server (RFC 4918, 4791, 6578), served by Django under /caldav/.

Every request authenticates with HTTP Basic: the user's email and one of their
app passwords. Writes go through events.services like the web pages' writes,
so a change made in Apple Calendar is an ordinary calsync change that the sync
engine carries on to Google, Microsoft and CalDAV integrations.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from itertools import islice
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element, tostring

import icalendar
from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from accounts.models import User
from accounts.tenancy import Scope
from calsync.http import client_address
from events import recurrence, selectors, services
from events.convert import item_from_event
from events.hidden import hidden_fields_kept
from events.ical import PRODID, ICalError, Item, items_to_calendar, parse_calendar, resolve_zone, serialise
from events.limits import check_calendar_text, check_resource_text
from events.models import Calendar, Event, Tombstone
from events.tombstones import token_expired

from . import filters
from .caching import LISTING_FIELDS, item_ics, render_written, rendered, whole_rows
from .expand import TRUNCATED, Expand, truncation
from .resources import (
    PROTECTED,
    ROOT,
    ItemProperties,
    Properties,
    Target,
    calendar_href,
    home_href,
    principal_href,
    q,
    render_property,
    resolve,
    sync_token,
)
from .services import Throttled, authenticate
from .xml import CALDAV, CS, DAV, ICAL, BadRequest, document, element, error, multistatus, parse, response, tag

log = logging.getLogger(__name__)

ALLOW = "OPTIONS, GET, HEAD, POST, PUT, DELETE, PROPFIND, PROPPATCH, REPORT, MKCALENDAR"
# Class 1 and 3 WebDAV (no locks) and calendar-access; sync-collection is announced by supported-report-set;
# webdav-push: calendars take WebDAV-Push registrations (draft-bitfire-webdav-push, Service Detection).
DAV_CLASSES = "1, 3, calendar-access, webdav-push"
_CHUNK = 500


class DavError(Exception):
    def __init__(self, status: int, condition: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.condition, self.message = status, condition, message


# --- entry points ---------------------------------------------------------------------------


@csrf_exempt
def well_known(request: HttpRequest) -> HttpResponse:
    """RFC 6764: clients given only the host name find the server here."""
    return HttpResponsePermanentRedirect("/caldav/")


@csrf_exempt
def dav(request: HttpRequest, path: str = "") -> HttpResponse:
    method = request.method or "GET"
    if method == "OPTIONS":
        return _options()
    try:
        user = _authenticated_user(request)
    except Throttled as exc:
        answer = error(429, None, str(exc))
        answer["Retry-After"] = str(exc.retry_after)
        return answer
    if user is None:
        answer = error(401, None, "Sign in with your calsync email address and an app password from Settings.")
        answer["WWW-Authenticate"] = 'Basic realm="calsync", charset="UTF-8"'
        return answer
    handler = _HANDLERS.get(method)
    if handler is None:
        answer = error(405, None, f"{method} is not supported here.")
        answer["Allow"] = ALLOW
        return answer
    target = resolve(user, path, root=request.path if request.path == "/" else ROOT)
    try:
        if target is None:
            raise DavError(404, None, "Nothing here.")
        if target.kind == "registration" and method != "DELETE":
            raise DavError(405, None, "A push registration can only be deleted.")
        answer = handler(request, target)
    except DavError as exc:
        answer = error(exc.status, exc.condition, exc.message)
    except BadRequest as exc:
        answer = error(400, None, str(exc))
    except filters.FilterError as exc:
        answer = error(403, tag(CALDAV, exc.condition), str(exc))
    answer["DAV"] = DAV_CLASSES
    return answer


def _options() -> HttpResponse:
    answer = HttpResponse(status=200)
    answer["Allow"] = ALLOW
    answer["DAV"] = DAV_CLASSES
    answer["Content-Length"] = "0"
    return answer


def _authenticated_user(request: HttpRequest) -> User | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        decoded = raw.decode()
    except UnicodeDecodeError:
        decoded = raw.decode("latin-1")
    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    return authenticate(username=username, password=password, address=client_address(request))


# --- request helpers -------------------------------------------------------------------------


def _body(request: HttpRequest) -> bytes:
    limit = settings.DAV_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise DavError(400, None, "The Content-Length header is not a number.") from None
    if declared > limit:
        raise DavError(413, tag(CALDAV, "max-resource-size"), f"The body is larger than {limit} bytes.")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise DavError(413, tag(CALDAV, "max-resource-size"), f"The body is larger than {limit} bytes.")
    return body


def _xml_body(request: HttpRequest) -> Element | None:
    body = _body(request)
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if body.strip() and content_type and not (content_type.endswith("/xml") or content_type.endswith("+xml")):
        raise DavError(415, None, f"Expected an XML body, got {content_type}.")
    return parse(body)


def _depth(request: HttpRequest, default: str = "1") -> int:
    """0 or 1. No Depth header means 1 here (as SabreDAV answers it, which clients are tuned to)."""
    depth = request.META.get("HTTP_DEPTH", default).strip().lower()
    if depth == "0":
        return 0
    if depth == "1":
        return 1
    if depth == "infinity":
        raise DavError(403, tag(DAV, "propfind-finite-depth"), "Depth: infinity is not supported; use 0 or 1.")
    raise DavError(400, None, f"Depth must be 0 or 1, not {depth!r}.")


def _minimal(request: HttpRequest) -> bool:
    prefer = request.META.get("HTTP_PREFER", "").lower()
    return "return=minimal" in prefer or request.META.get("HTTP_BRIEF", "").lower() == "t"


def _etag_value(header: str) -> int | None:
    """An ETag we issued ("<seq>") as its number; None for anything else (it cannot match)."""
    text = header.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    return int(text) if text.isdigit() else None


def _require(target: Target) -> None:
    if not target.exists:
        raise DavError(404, None, "Nothing here.")


# --- what a PROPFIND or REPORT asks for ------------------------------------------------------


class PropRequest:
    """Which properties to return: named ones, all of them, or just their names."""

    def __init__(self, node: Element | None) -> None:
        self.names: list[str] = []
        self.mode = "allprop"
        self.include: list[str] = []
        self.calendar_data: Element | None = None
        if node is None:
            return
        prop = node.find(tag(DAV, "prop"))
        if prop is not None:
            self.mode = "prop"
            self.names = [child.tag for child in prop]
            self.calendar_data = prop.find(tag(CALDAV, "calendar-data"))
        elif node.find(tag(DAV, "propname")) is not None:
            self.mode = "propname"
        else:
            include = node.find(tag(DAV, "include"))
            self.include = [child.tag for child in include] if include is not None else []

    @property
    def wants_body(self) -> bool:
        """Whether answering needs each item's iCalendar (and so its whole rows)."""
        costly = {tag(CALDAV, "calendar-data"), tag(DAV, "getcontentlength")}
        return bool(costly & {*self.names, *self.include})

    def answer(
        self, href: str, props: Properties | ItemProperties, minimal: bool, body: Callable[[], str] | None = None
    ) -> str:
        if self.mode == "propname":
            return response(href, [(200, [element(name) for name in props.getters])])
        names = self.names if self.mode == "prop" else [*props.allprop(), *self.include]
        found: list[Element] = []
        missing: list[Element] = []
        for name in dict.fromkeys(names):
            getter = props.getters.get(name)
            if name == tag(CALDAV, "calendar-data") and body is not None and getter is not None:
                getter = body
            value = getter() if getter is not None else None
            if value is None:
                missing.append(element(name))
            else:
                found.append(render_property(name, value))
        return response(href, [(200, found), (404, [] if minimal else missing)])


# --- PROPFIND -----------------------------------------------------------------------------------


def propfind(request: HttpRequest, target: Target) -> HttpResponse:
    _require(target)
    depth = _depth(request)
    node = _xml_body(request)
    if node is not None and node.tag != tag(DAV, "propfind"):
        raise DavError(400, None, "A PROPFIND body must be a DAV:propfind element.")
    wanted = PropRequest(node)
    minimal = _minimal(request)

    def responses() -> Iterator[str]:
        yield wanted.answer(target.href, Properties(target), minimal)
        if depth == 1:
            yield from _children(target, wanted, minimal)

    return multistatus(responses())


def _children(target: Target, wanted: PropRequest, minimal: bool) -> Iterator[str]:
    user = target.user
    if target.kind == "root":
        yield wanted.answer(principal_href(user), Properties(Target("principal", user, principal_href(user))), minimal)
        yield wanted.answer(home_href(user), Properties(Target("home", user, home_href(user))), minimal)
    elif target.kind == "principals":
        yield wanted.answer(principal_href(user), Properties(Target("principal", user, principal_href(user))), minimal)
    elif target.kind == "calendars":
        yield wanted.answer(home_href(user), Properties(Target("home", user, home_href(user))), minimal)
    elif target.kind == "home":
        for calendar in Scope(user).calendars():
            child = Target("calendar", user, calendar_href(user, calendar), calendar=calendar)
            yield wanted.answer(child.href, Properties(child), minimal)
    elif target.kind == "calendar":
        assert target.calendar is not None
        yield from _item_answers(target, _masters(target.calendar, wanted), wanted, minimal)


def _masters(calendar: Calendar, wanted: PropRequest | None = None) -> QuerySet[Event]:
    """Master rows: the few columns a listing needs (with bodies too: the render cache reads the rest on a miss
    only); whole rows with their overrides for a filter that reads every item."""
    masters = Event.objects.filter(calendar=calendar, parent=None)
    if wanted is None:
        return masters.prefetch_related(Prefetch("overrides", queryset=Event.objects.order_by("recurrence_id")))
    return masters.only(*LISTING_FIELDS)


def _item_answers(
    target: Target, masters: Iterable[Event], wanted: PropRequest, minimal: bool, expand: Expand | None = None
) -> Iterator[str]:
    base = calendar_href(target.user, target.calendar)  # type: ignore[arg-type]
    if isinstance(masters, QuerySet):
        masters = masters.order_by("id").iterator(chunk_size=_CHUNK)
    for chunk in _batches(masters, 100):
        if expand is not None:
            chunk = whole_rows(chunk)
        texts = rendered(list(chunk)) if wanted.wants_body and expand is None else {}
        for master in chunk:
            if wanted.wants_body and expand is None and master.pk not in texts:
                continue  # deleted since the listing read it
            body = (lambda m=master: expand.render(m)) if expand is not None else None
            yield wanted.answer(base + q(master.name), ItemProperties(master, texts.get(master.pk)), minimal, body)


def _batches(rows: Iterable[Event], size: int) -> Iterator[list[Event]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


# --- PROPPATCH ------------------------------------------------------------------------------------

_LIVE_SETTERS = {
    tag(DAV, "displayname"): "name",
    tag(ICAL, "calendar-color"): "color",
    tag(CALDAV, "calendar-description"): "description",
    tag(CALDAV, "calendar-timezone"): "zone",
}


_REMOVED = {"color": "#3b82f6", "description": ""}


def _live_value(field: str, node: Element) -> str:
    text = (node.text or "").strip()
    if field == "zone":
        return _zone_from_vtimezone(text)
    return text if field != "description" else (node.text or "")


def _zone_from_vtimezone(text: str) -> str:
    try:
        check_calendar_text(text)  # the same text rules as any calendar data, before icalendar reads it
        calendar = icalendar.Calendar.from_ical(text)
        zone = next(c for c in calendar.walk("VTIMEZONE"))
        tzid = str(zone["TZID"])
    except Exception:  # any parse failure: reported like an unknown zone
        return text[:64] or "?"
    resolved = resolve_zone(tzid)
    return resolved.key if resolved else tzid


def _property_changes(node: Element) -> list[tuple[str, Element, bool]]:
    """(property, element, remove?) in document order, from <set> and <remove> blocks."""
    changes: list[tuple[str, Element, bool]] = []
    for block in node:
        if block.tag not in (tag(DAV, "set"), tag(DAV, "remove")):
            continue
        prop = block.find(tag(DAV, "prop"))
        for child in prop if prop is not None else ():
            changes.append((child.tag, child, block.tag == tag(DAV, "remove")))
    return changes


def _calendar_changes(changes: list[tuple[str, Element, bool]]) -> tuple[services.CalendarChanges, dict[str, int]]:
    """The update to apply, and a status per property (403 for those that cannot change)."""
    fields: dict[str, str] = {}
    dead: dict[str, str | None] = {}
    status: dict[str, int] = {}
    for name, node, remove in changes:
        if name in PROTECTED or name == tag(DAV, "resourcetype"):
            status[name] = 403
        elif name in _LIVE_SETTERS:
            field = _LIVE_SETTERS[name]
            if remove and field in ("name", "zone"):
                status[name] = 403  # a calendar always has a name and a time zone
                continue
            fields[field] = _REMOVED[field] if remove else _live_value(field, node)
            status[name] = 200
        else:
            dead[name] = None if remove else tostring(node, encoding="unicode")
            status[name] = 200
    update = services.CalendarChanges(**fields, dead=dead or None)  # type: ignore[arg-type]
    problems = services.calendar_properties_check(update)
    field_names = {v: k for k, v in _LIVE_SETTERS.items()}
    for field in problems:
        if field in field_names:
            status[field_names[field]] = 403
        else:
            for key in dead:
                status[key] = 403
    return update, status


def proppatch(request: HttpRequest, target: Target) -> HttpResponse:
    _require(target)
    node = _xml_body(request)
    if node is None or node.tag != tag(DAV, "propertyupdate"):
        raise DavError(400, None, "A PROPPATCH body must be a DAV:propertyupdate element.")
    changes = _property_changes(node)
    if target.kind != "calendar":
        statuses = {name: 403 for name, _, _ in changes}
    else:
        update, statuses = _calendar_changes(changes)
        if all(code == 200 for code in statuses.values()):
            assert target.calendar is not None
            try:
                services.calendar_properties_update(calendar=target.calendar, changes=update)
            except ValueError as exc:  # too many client properties on one calendar
                raise DavError(507, None, str(exc)) from exc
        else:  # all or nothing (RFC 4918 9.2): the rest fail by dependency
            statuses = {name: code if code != 200 else 424 for name, code in statuses.items()}
    by_status: dict[int, list[Element]] = {}
    for name, code in statuses.items():
        by_status.setdefault(code, []).append(element(name))
    return multistatus([response(target.href, sorted(by_status.items()))])


# --- MKCALENDAR -----------------------------------------------------------------------------------


def mkcalendar(request: HttpRequest, target: Target) -> HttpResponse:
    if target.kind != "calendar":
        raise DavError(403, None, "Calendars can only be made directly inside your calendar home.")
    if target.exists:
        raise DavError(405, tag(DAV, "resource-must-be-null"), "A calendar already exists at this address.")
    name = target.segment
    if len(name) > 200:
        raise DavError(400, None, "A calendar's name in its address may be at most 200 characters.")
    node = _xml_body(request)
    if node is not None and node.tag not in (tag(CALDAV, "mkcalendar"), tag(DAV, "mkcol")):
        raise DavError(400, None, "A MKCALENDAR body must be a CALDAV:mkcalendar element.")
    changes = _property_changes(node) if node is not None else []
    component_set = tag(CALDAV, "supported-calendar-component-set")
    update, statuses = _calendar_changes([c for c in changes if c[0] != component_set])
    kinds = next((_component_kinds(n) for name, n, _ in changes if name == component_set), None)
    if kinds is not None:
        if not kinds or any(k not in services.ITEM_KINDS for k in kinds):
            raise DavError(
                403,
                tag(CALDAV, "supported-calendar-component"),
                "A calendar holds events (VEVENT), tasks (VTODO) or both.",
            )
        update = replace(update, components=kinds)
    if any(code != 200 for code in statuses.values()):
        failed = [element(n) for n, code in statuses.items() if code != 200]
        raise DavError(403, tag(DAV, "valid-resourcetype"), f"These properties cannot be set: {_names(failed)}.")
    try:
        with transaction.atomic():  # a calendar whose properties cannot all be kept is not made at all
            calendar = services.calendar_create(owner=target.user, name=update.name or name, dav_name=name)
            services.calendar_properties_update(calendar=calendar, changes=update)
    except services.NameConflict as exc:
        raise DavError(405, tag(DAV, "resource-must-be-null"), str(exc)) from exc
    except ValueError as exc:  # too many client properties, as PROPPATCH answers
        raise DavError(507, None, str(exc)) from exc
    log.info("caldav calendar created", extra={"user": target.user.pk, "calendar": calendar.pk})
    answer = HttpResponse(status=201)
    answer["Location"] = calendar_href(target.user, calendar)
    return answer


def _component_kinds(node: Element) -> tuple[str, ...]:
    return tuple((c.get("name") or "").upper() for c in node if c.tag == tag(CALDAV, "comp"))


def _names(nodes: list[Element]) -> str:
    return ", ".join(n.tag.split("}")[-1] for n in nodes)


# --- GET / HEAD / PUT / DELETE ------------------------------------------------------------------------


def get(request: HttpRequest, target: Target) -> HttpResponse:
    _require(target)
    if target.kind == "item":
        master = target.event
        assert master is not None
        if _etag_value(request.META.get("HTTP_IF_NONE_MATCH", "")) == master.seq:
            answer = HttpResponse(status=304)
        else:
            answer = HttpResponse(item_ics(master), content_type="text/calendar; charset=utf-8")
        answer["ETag"] = master.etag
        answer["Last-Modified"] = http_date(master.updated_at.timestamp())
        return answer
    if target.kind == "calendar":
        assert target.calendar is not None
        body = serialise(selectors.calendar_items([target.calendar]), name=target.calendar.name)
        return HttpResponse(body, content_type="text/calendar; charset=utf-8")
    text = "calsync CalDAV server. Add this address to your calendar app with your email and an app password."
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


def head(request: HttpRequest, target: Target) -> HttpResponse:
    answer = get(request, target)
    answer.content = b""
    return answer


def _with_overrides(master: Event) -> Event:
    """The item's whole row with its overrides (the path resolved only the columns its ETag checks need)."""
    rows = whole_rows([master])
    if not rows:  # deleted since this request found it
        raise DavError(412, None, "The item was deleted since you read it.")
    return rows[0]


def put(request: HttpRequest, target: Target) -> HttpResponse:
    if target.kind != "item":
        raise DavError(405, None, "Only events and tasks can be written with PUT; use MKCALENDAR for a calendar.")
    if target.calendar is None:
        raise DavError(409, None, "That calendar does not exist.")
    if "/" in target.segment or len(target.segment) > 255:
        raise DavError(400, None, "A resource name may be at most 255 characters.")
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "text/calendar":
        raise DavError(415, tag(CALDAV, "supported-calendar-data"), "Send events and tasks as text/calendar.")
    item = _parse_item(_body(request))
    _check_preconditions(request, target)
    if item.master.kind not in target.calendar.components.split(","):
        raise DavError(
            403, tag(CALDAV, "supported-calendar-component"), f"This calendar does not take {item.master.kind} items."
        )
    existing = target.event
    if existing is not None and existing.uid != item.uid:
        raise DavError(
            403, tag(CALDAV, "no-uid-conflict"), "An item's UID cannot change; delete it and create a new one."
        )
    if existing is None:
        clash = Event.objects.filter(calendar=target.calendar, parent=None, uid=item.uid).only("name").first()
        if clash is not None:
            raise DavError(
                403,
                tag(CALDAV, "no-uid-conflict"),
                f"This UID is already used by {calendar_href(target.user, target.calendar)}{q(clash.name)}.",
            )
    if_none_match = request.META.get("HTTP_IF_NONE_MATCH", "").strip() == "*"
    sent = item
    if existing is not None:
        item = hidden_fields_kept(stored=item_from_event(_with_overrides(existing)), incoming=item)
    try:
        with services.writes_from("dav"):
            result = services.item_save(
                calendar=target.calendar,
                item=item,
                name=target.segment,
                if_match=existing.seq if existing is not None else None,
                if_none_match=if_none_match or existing is None,
            )
    except services.PreconditionFailed as exc:
        raise DavError(412, None, "The item changed since you read it; fetch it again.") from exc
    except services.NameConflict as exc:
        raise DavError(403, tag(CALDAV, "no-uid-conflict"), str(exc)) from exc
    except ICalError as exc:
        raise _refused(exc) from exc
    answer = HttpResponse(status=201 if result.created else 204)
    # With hidden fields kept from before the stored item is not the one sent: no ETag, so the client reads it
    # back (RFC 4791 5.3.4).
    if item == sent and not result.amended:  # nor where the assignment rules filled a client, say
        answer["ETag"] = result.event.etag
    render_written(result.event.pk)
    return answer


def _parse_item(body: bytes) -> Item:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise DavError(403, tag(CALDAV, "valid-calendar-data"), "The body is not UTF-8 text.") from None
    try:
        check_resource_text(text)
        items = parse_calendar(text)
    except ICalError as exc:
        raise _refused(exc) from exc
    if not items:
        raise DavError(
            403, tag(CALDAV, "supported-calendar-component"), "Only events (VEVENT) and tasks (VTODO) are stored."
        )
    if len(items) > 1:
        raise DavError(
            403, tag(CALDAV, "valid-calendar-object-resource"), "One resource holds one event or task (one UID)."
        )
    return items[0]


def _refused(exc: ICalError) -> DavError:
    """403 with the RFC 4791 5.3.2.1 precondition the item breaks: a limit names its own, else valid-calendar-data."""
    return DavError(403, tag(CALDAV, getattr(exc, "condition", "valid-calendar-data")), str(exc))


def _check_preconditions(request: HttpRequest, target: Target) -> None:
    """If-Match and If-None-Match against the item's current ETag (RFC 9110 13.1)."""
    current = target.event.seq if target.event is not None else None
    if_match = request.META.get("HTTP_IF_MATCH")
    if if_match is not None:
        wanted = [v.strip() for v in if_match.split(",")]
        if current is None or ("*" not in wanted and current not in {_etag_value(v) for v in wanted}):
            raise DavError(412, None, "The item changed or was deleted since you read it.")
    if_none_match = request.META.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None and current is not None:
        wanted = [v.strip() for v in if_none_match.split(",")]
        if "*" in wanted or current in {_etag_value(v) for v in wanted}:
            raise DavError(412, None, "An item already exists at this address.")


def delete(request: HttpRequest, target: Target) -> HttpResponse:
    _require(target)
    if target.kind == "registration":
        from .push_views import unregister

        return unregister(target)
    if target.kind == "item":
        _check_preconditions(request, target)
        try:
            with services.writes_from("dav"):  # the event's story says who deleted it, and from where
                services.item_delete(event=target.event, if_match=target.event.seq, deleted_by=target.user)  # type: ignore[arg-type, union-attr]
        except services.PreconditionFailed as exc:
            raise DavError(412, None, "The item changed since you read it.") from exc
        return HttpResponse(status=204)
    if target.kind == "calendar":
        assert target.calendar is not None
        if Scope(target.user).calendars().count() == 1:
            raise DavError(403, None, "This is your only calendar; create another before deleting it.")
        log.info("caldav calendar deleted", extra={"user": target.user.pk, "calendar": target.calendar.pk})
        services.calendar_delete(calendar=target.calendar)
        return HttpResponse(status=204)
    raise DavError(403, None, "This collection cannot be deleted.")


def post(request: HttpRequest, target: Target) -> HttpResponse:
    """WebDAV-Push registration (dav/push_views.py), the only POST a calendar takes."""
    from .push_views import register

    _require(target)
    return register(target, _xml_body(request))


# --- REPORT ---------------------------------------------------------------------------------------


def report(request: HttpRequest, target: Target) -> HttpResponse:
    _require(target)
    node = _xml_body(request)
    if node is None:
        raise DavError(400, None, "A REPORT needs a body saying which report.")
    handler = _REPORTS.get(node.tag)
    if handler is not None and target.kind in ("calendar", "item"):
        return handler(request, target, node)
    handler = _PRINCIPAL_REPORTS.get(node.tag)
    if handler is not None and target.kind in ("root", "principals", "principal"):
        return handler(request, target, node)
    raise DavError(403, tag(DAV, "supported-report"), f"The report {node.tag} is not supported here.")


def principal_property_search(request: HttpRequest, target: Target, node: Element) -> HttpResponse:
    """RFC 3744 9.4. A user finds only their own principal: nobody can list the organisation's people."""
    user = target.user
    searchable = {
        tag(DAV, "displayname"): [user.get_full_name(), user.email],
        tag(CALDAV, "calendar-user-address-set"): [f"mailto:{user.email}", user.email],
        tag(CS, "email-address-set"): [user.email],
    }
    tests = []
    for search in node.findall(tag(DAV, "property-search")):
        prop = search.find(tag(DAV, "prop"))
        match = (search.findtext(tag(DAV, "match")) or "").strip().casefold()
        names = [child.tag for child in prop] if prop is not None else []
        tests.append(any(match in value.casefold() for name in names for value in searchable.get(name, [])))
    any_of = node.get("test") == "anyof"
    found = (any(tests) if any_of else all(tests)) if tests else True
    wanted = PropRequest(node)
    if wanted.mode == "prop" and not wanted.names:
        # The caldav library (3.x) sends an empty <prop/> followed by the properties as siblings.
        skip = {tag(DAV, "prop"), tag(DAV, "property-search"), tag(DAV, "apply-to-principal-collection-set")}
        wanted.names = [child.tag for child in node if child.tag not in skip]
    principal = Target("principal", user, principal_href(user))
    answers = [wanted.answer(principal.href, Properties(principal), _minimal(request))] if found else []
    return multistatus(answers)


def principal_search_property_set(request: HttpRequest, target: Target, node: Element) -> HttpResponse:
    root = element(tag(DAV, "principal-search-property-set"))
    for name, description in ((tag(DAV, "displayname"), "Name"), (tag(CALDAV, "calendar-user-address-set"), "Email")):
        entry = element(tag(DAV, "principal-search-property"))
        entry.append(element(tag(DAV, "prop"), children=[element(name)]))
        entry.append(element(tag(DAV, "description"), description))
        root.append(entry)
    return HttpResponse(document(root), content_type="application/xml; charset=utf-8")


def _expand(wanted: PropRequest, budget: recurrence.Budget) -> Expand | None:
    if wanted.calendar_data is None:
        return None
    node = wanted.calendar_data.find(tag(CALDAV, "expand"))
    return Expand(node, budget) if node is not None else None


def _within(answers: Iterator[str], budget: recurrence.Budget, href: str) -> Iterator[str]:
    """The answers, closed by a 507 when the recurrence budget cut the expansion short."""
    yield from answers
    if budget.truncated:
        yield truncation(href)


def calendar_query(request: HttpRequest, target: Target, node: Element) -> HttpResponse:
    flt = filters.parse_filter(node.find(tag(CALDAV, "filter")))
    wanted = PropRequest(node)
    budget = recurrence.Budget.for_request()
    expand = _expand(wanted, budget)
    simple = filters.time_range_only(flt)
    minimal = _minimal(request)
    if target.kind == "item":
        candidates: Iterable[Event] = [_with_overrides(target.event)]  # type: ignore[arg-type]
    else:
        _depth(request, default="0")
        candidates = filters.narrow(_masters(target.calendar), flt).order_by("id").iterator(chunk_size=_CHUNK)  # type: ignore[arg-type]

    def matching() -> Iterator[Event]:
        for master in candidates:
            if budget.truncated:
                return
            if not filters.needs_test(flt, master):
                yield master
                continue
            try:
                if simple is not None:
                    found = filters.occurs(item_from_event(master), simple, budget)
                else:
                    found = filters.matches(_icalendar(master), flt, budget)
            except Exception:  # never cut a streamed answer short: report a superset, and the bug
                log.exception("calendar-query filter failed", extra={"event": master.pk})
                found = True
            if found or budget.truncated:  # undecided within the budget: a superset, then the 507
                yield master

    answers = _item_answers(_calendar_target(target), matching(), wanted, minimal, expand)
    return multistatus(_within(answers, budget, target.href))


def _calendar_target(target: Target) -> Target:
    return Target("calendar", target.user, calendar_href(target.user, target.calendar), calendar=target.calendar)  # type: ignore[arg-type]


def _icalendar(master: Event) -> icalendar.Calendar:
    return items_to_calendar([item_from_event(master)], stamp=master.updated_at)


def calendar_multiget(request: HttpRequest, target: Target, node: Element) -> HttpResponse:
    wanted = PropRequest(node)
    budget = recurrence.Budget.for_request()
    expand = _expand(wanted, budget)
    minimal = _minimal(request)
    target = _calendar_target(target)
    base = unquote(urlsplit(target.href).path)
    hrefs = [(h.text or "").strip() for h in node.findall(tag(DAV, "href"))]
    if not hrefs:
        raise DavError(400, None, "A calendar-multiget needs at least one href.")
    names: dict[str, str] = {}
    outside: list[str] = []
    for href in hrefs:
        path = unquote(urlsplit(href).path)
        name = path[len(base) :] if path.startswith(base) else ""
        if not name or "/" in name:
            outside.append(href)
        else:
            names[name] = href

    def responses() -> Iterator[str]:
        found: set[str] = set()
        keys = list(names)
        for i in range(0, len(keys), _CHUNK):
            chunk = list(_masters(target.calendar, wanted).filter(name__in=keys[i : i + _CHUNK]).order_by())  # type: ignore[arg-type]
            if expand is not None:
                chunk = whole_rows(chunk)
            texts = rendered(chunk) if wanted.wants_body and expand is None else {}
            for master in chunk:
                if wanted.wants_body and expand is None and master.pk not in texts:
                    continue  # deleted since: answered 404 below
                found.add(master.name)
                body = (lambda m=master: expand.render(m)) if expand is not None else None
                yield wanted.answer(names[master.name], ItemProperties(master, texts.get(master.pk)), minimal, body)
        for name, href in names.items():
            if name not in found:
                yield response(href, status=404)
        for href in outside:
            yield response(href, status=404)

    return multistatus(_within(responses(), budget, target.href))


_TOKEN = re.compile(r"urn:calsync:sync:(\d+):(\d+)")


def sync_collection(request: HttpRequest, target: Target, node: Element) -> HttpResponse:
    if target.kind != "calendar":
        raise DavError(403, tag(DAV, "supported-report"), "sync-collection works on a calendar.")
    calendar = target.calendar  # read by this request: its current sequence and floor
    assert calendar is not None
    token_node = node.find(tag(DAV, "sync-token"))
    token = (token_node.text or "").strip() if token_node is not None else ""
    since = 0
    if token:
        match = _TOKEN.fullmatch(token)
        if match is None or int(match[1]) != calendar.pk or int(match[2]) > calendar.change_seq:
            raise DavError(403, tag(DAV, "valid-sync-token"), "This sync token is unknown; sync again from scratch.")
        since = int(match[2])
        if token_expired(calendar=calendar, since=since):
            raise DavError(403, tag(DAV, "valid-sync-token"), "This sync token has expired; sync again from scratch.")
    level = node.find(tag(DAV, "sync-level"))
    if level is not None and (level.text or "").strip() not in ("1", "infinite"):
        raise DavError(400, None, "sync-level must be 1 or infinite.")
    limit_node = node.find(f"{tag(DAV, 'limit')}/{tag(DAV, 'nresults')}")
    limit = None
    if limit_node is not None:
        try:
            limit = max(1, int((limit_node.text or "").strip()))
        except ValueError:
            raise DavError(400, None, "nresults must be a number.") from None
    wanted = PropRequest(node)
    minimal = _minimal(request)
    until = calendar.change_seq
    changed = _masters(calendar, wanted).filter(seq__gt=since, seq__lte=until).order_by("seq")
    deleted = selectors.deletions_since(calendar=calendar, since=since, until=until, by="name").order_by("seq")
    if not token:
        deleted = deleted.none()  # a first sync lists what exists
    truncated = False
    if limit is not None:
        rows = list(changed[: limit + 1])
        gone = list(deleted[: limit + 1])
        merged = sorted([(r.seq, r) for r in rows] + [(t.seq, t) for t in gone], key=lambda pair: pair[0])
        if len(merged) > limit:
            truncated = True
            until = merged[limit - 1][0]
            merged = merged[:limit]
        rows = [r for _, r in merged if isinstance(r, Event)]
        gone = [t for _, t in merged if isinstance(t, Tombstone)]
        changed_rows: Iterable[Event] = rows
        deleted_rows: Iterable[Tombstone] = gone
    else:
        changed_rows = changed.iterator(chunk_size=_CHUNK)
        deleted_rows = deleted.iterator(chunk_size=_CHUNK)
    base = calendar_href(target.user, calendar)
    seen_deleted: set[str] = set()

    def responses() -> Iterator[str]:
        yield from _item_answers(target, changed_rows, wanted, minimal)
        for tombstone in deleted_rows:
            if tombstone.name not in seen_deleted:
                seen_deleted.add(tombstone.name)
                yield response(base + q(tombstone.name), status=404)
        if truncated:
            yield response(target.href, status=507)

    token_xml = f"<D:sync-token>{sync_token(calendar, until)}</D:sync-token>"
    return multistatus(responses(), extra=[token_xml])


def free_busy_query(request: HttpRequest, target: Target, node: Element) -> HttpResponse:
    if target.kind != "calendar":
        raise DavError(403, tag(DAV, "supported-report"), "free-busy-query works on a calendar.")
    range_node = node.find(tag(CALDAV, "time-range"))
    if range_node is None:
        raise DavError(400, None, "A free-busy-query needs a time-range.")
    rng = filters.parse_time_range(range_node)
    calendars = Calendar.objects.filter(pk=target.calendar.pk)  # type: ignore[union-attr]
    busy = icalendar.FreeBusy()
    busy.add("DTSTAMP", datetime.now(UTC).replace(microsecond=0))
    busy.add("DTSTART", rng.start)
    busy.add("DTEND", rng.end)
    found = selectors.occurrences(calendars=calendars, start=rng.start, end=rng.end)
    if found.truncated:
        # Busy time left out would read as free: refuse rather than answer wrongly (RFC 4791 7.8).
        raise DavError(507, TRUNCATED, "This calendar has more occurrences in that range than one answer may hold.")
    for occurrence in found:
        master = occurrence.event
        if master.transparency == Event.Transparency.FREE or master.status.upper() == "CANCELLED":
            continue
        kind = "BUSY-TENTATIVE" if master.status.upper() == "TENTATIVE" else "BUSY"
        period = (max(occurrence.start, rng.start), min(occurrence.end, rng.end))
        busy.add("FREEBUSY", period, parameters={"FBTYPE": kind})
    out = icalendar.Calendar()
    out.add("PRODID", PRODID)
    out.add("VERSION", "2.0")
    out.add_component(busy)
    return HttpResponse(out.to_ical(), content_type="text/calendar; charset=utf-8")


_REPORTS: dict[str, Callable[[HttpRequest, Target, Element], HttpResponse]] = {
    tag(CALDAV, "calendar-query"): calendar_query,
    tag(CALDAV, "calendar-multiget"): calendar_multiget,
    tag(DAV, "sync-collection"): sync_collection,
    tag(CALDAV, "free-busy-query"): free_busy_query,
}

_PRINCIPAL_REPORTS: dict[str, Callable[[HttpRequest, Target, Element], HttpResponse]] = {
    tag(DAV, "principal-property-search"): principal_property_search,
    tag(DAV, "principal-search-property-set"): principal_search_property_set,
}

_HANDLERS: dict[str, Callable[[HttpRequest, Target], HttpResponse]] = {
    "PROPFIND": propfind,
    "PROPPATCH": proppatch,
    "MKCALENDAR": mkcalendar,
    "GET": get,
    "HEAD": head,
    "PUT": put,
    "POST": post,
    "DELETE": delete,
    "REPORT": report,
}
