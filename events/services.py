"""Every write to calsync's calendars goes through here.

Each write takes the calendar's row lock, bumps its change sequence and stamps
the item with it, so that readers asking "what changed since N" (the sync
engine, CalDAV sync-collection) never miss a change that commits late.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from business.models import Activity, Client, Project
from business.rules.engine import Outcome, RuleBook
from business.services import Resolver
from calsync.queue import UNREACHABLE, publish
from meetings import rules as meeting_rules

from .convert import component_fields, item_from_event, item_span
from .ical import (
    Component,
    ICalError,
    Item,
    Temporal,
    as_utc,
    parse_calendar_lenient,
    resolve_zone,
)
from .limits import printable, validate_item
from .models import Calendar, Event, ImportJob, Tombstone, new_feed_token
from .signals import calendar_changed, calendar_owner_changed, items_written

log = logging.getLogger(__name__)


class PreconditionFailed(Exception):
    """The item changed since the version the caller based its write on (an If-Match mismatch)."""


class NameConflict(Exception):
    """Another item already uses that resource name or UID."""


# Twelve colours that tell calendars apart at a glance and keep white text readable (WCAG AA large text), the
# first being the colour calendars had before there was a choice.
PALETTE = ("#3b82f6", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2",
           "#db2777", "#a16207", "#4f46e5", "#0d9488", "#65a30d", "#78716c")  # fmt: skip


def calendar_color_for(owner: User) -> str:
    """A colour for the owner's next calendar: the first of the palette none of their calendars has, else the
    one fewest of them have."""
    used = [c.lower() for c in Calendar.objects.filter(owner=owner).values_list("color", flat=True)]
    return min(PALETTE, key=lambda color: (used.count(color), PALETTE.index(color)))


def calendar_create(*, owner: User, name: str, color: str = "", description: str = "", dav_name: str = "") -> Calendar:
    """A new calendar, in the colour given or one that sets it apart from the owner's others. `dav_name` is the
    CalDAV path segment a client chose (MKCALENDAR); NameConflict if taken."""
    assert owner.tenant is not None
    fields = {"dav_name": dav_name} if dav_name else {}
    try:
        with transaction.atomic():
            return Calendar.objects.create(
                tenant=owner.tenant,
                owner=owner,
                name=name,
                description=description,
                color=color or calendar_color_for(owner),
                timezone=owner.timezone,
                **fields,
            )
    except IntegrityError as exc:
        raise NameConflict("You already have a calendar at this address.") from exc


def calendar_update(*, calendar: Calendar, name: str, color: str, description: str) -> Calendar:
    recoloured = color.lower() != calendar.color.lower()
    calendar.name, calendar.color, calendar.description = name, color, description
    calendar.changed_at = timezone.now()
    calendar.save(update_fields=["name", "color", "description", "changed_at"])
    if recoloured:
        _announce(calendar.pk)  # integrations that carry the colour (CalDAV) sync it soon
    return calendar


def calendar_owner_change(*, calendar: Calendar, owner: User) -> Calendar:
    """Give the calendar to another person of its organisation; NameConflict if they have one at its address."""
    if owner.tenant_id != calendar.tenant_id:
        raise ValueError("A calendar stays in its organisation.")
    try:
        with transaction.atomic():
            calendar.owner = owner
            calendar.changed_at = timezone.now()
            calendar.save(update_fields=["owner", "changed_at"])
            calendar_owner_changed.send(sender=Calendar, calendar_id=calendar.pk)
    except IntegrityError as exc:
        raise NameConflict("The new owner already has a calendar at this address.") from exc
    return calendar


_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
# Clients may name a colour instead of giving its hex value (CSS basic colours, plus a few common ones).
_NAMED_COLORS = {
    "black": "#000000", "silver": "#c0c0c0", "gray": "#808080", "grey": "#808080", "white": "#ffffff",
    "maroon": "#800000", "red": "#ff0000", "purple": "#800080", "fuchsia": "#ff00ff", "green": "#008000",
    "lime": "#00ff00", "olive": "#808000", "yellow": "#ffff00", "navy": "#000080", "blue": "#0000ff",
    "teal": "#008080", "aqua": "#00ffff", "orange": "#ffa500", "pink": "#ffc0cb", "brown": "#a52a2a",
    "cyan": "#00ffff", "magenta": "#ff00ff",
}  # fmt: skip
ITEM_KINDS = ("VEVENT", "VTODO")


def hex_color(value: str) -> str | None:
    """#rrggbb for '#RRGGBB', '#RRGGBBAA' (Apple) or a colour name; None if it is none of those."""
    value = value.strip()
    if _COLOR.fullmatch(value[:7]) and len(value) in (7, 9):
        return value[:7].lower()
    return _NAMED_COLORS.get(value.lower())


@dataclass(frozen=True)
class CalendarChanges:
    """A partial update from a CalDAV client (PROPPATCH, MKCALENDAR); None leaves a field alone."""

    name: str | None = None
    color: str | None = None
    description: str | None = None
    zone: str | None = None
    dead: dict[str, str | None] | None = None  # property -> XML, or None to remove it
    components: tuple[str, ...] | None = None


def calendar_properties_check(changes: CalendarChanges) -> dict[str, str]:
    """Problems per field, worded for the client's user; empty when the changes can be applied."""
    problems: dict[str, str] = {}
    if changes.name is not None and not 0 < len(changes.name.strip()) <= 200:
        problems["name"] = "A calendar name must be 1 to 200 characters."
    if changes.color is not None and hex_color(changes.color) is None:
        problems["color"] = "A colour must look like #RRGGBB or be a colour name."
    if changes.components is not None and (
        not changes.components or any(c not in ITEM_KINDS for c in changes.components)
    ):
        problems["components"] = "A calendar holds events (VEVENT), tasks (VTODO) or both."
    if changes.zone is not None and resolve_zone(changes.zone) is None:
        problems["zone"] = f"The time zone {changes.zone!r} is unknown."
    if changes.dead and any(v is not None and len(v) > 4096 for v in changes.dead.values()):
        problems["dead"] = "A property value may be at most 4 KB."
    return problems


def calendar_properties_update(*, calendar: Calendar, changes: CalendarChanges) -> Calendar:
    problems = calendar_properties_check(changes)
    if problems:
        raise ValueError("; ".join(problems.values()))
    if changes.name is not None:
        calendar.name = changes.name.strip()
    if changes.color is not None and hex_color(changes.color) != calendar.color.lower():
        calendar.color = hex_color(changes.color)  # type: ignore[assignment]  # checked above
        _announce(calendar.pk)  # as calendar_update: a colour an app chose travels to the integrations too
    if changes.components is not None:
        calendar.components = ",".join(sorted(set(changes.components)))
    if changes.description is not None:
        calendar.description = changes.description
    if changes.zone is not None:
        calendar.timezone = resolve_zone(changes.zone).key  # type: ignore[union-attr]  # checked above
    if changes.dead:
        dead = dict(calendar.dav_properties)
        for key, value in changes.dead.items():
            if value is None:
                dead.pop(key, None)
            else:
                dead[key] = value
        if len(dead) > 50:
            raise ValueError("A calendar can hold at most 50 client properties.")
        calendar.dav_properties = dead
    calendar.changed_at = timezone.now()
    calendar.save(
        update_fields=["name", "color", "description", "timezone", "dav_properties", "components", "changed_at"]
    )
    return calendar


def calendar_feed_rotate(*, calendar: Calendar) -> Calendar:
    """A new secret subscription address: every copy of the old link stops working at once."""
    calendar.feed_token = new_feed_token()
    calendar.save(update_fields=["feed_token"])
    log.info("calendar feed link rotated", extra={"calendar": calendar.pk})
    return calendar


def calendar_delete(*, calendar: Calendar) -> None:
    calendar.delete()


_UNANNOUNCED: ContextVar[bool] = ContextVar("calsync_unannounced_changes", default=False)


@contextmanager
def changes_unannounced() -> Iterator[None]:
    """Writes made inside (a sync applying changes) do not announce themselves: they need no further sync."""
    marker = _UNANNOUNCED.set(True)
    try:
        yield
    finally:
        _UNANNOUNCED.reset(marker)


_ORIGIN: ContextVar[str] = ContextVar("calsync_write_origin", default="")


@contextmanager
def writes_from(origin: str) -> Iterator[None]:
    """Items first written inside come from `origin` (a provider key, "dav" or "import"): it is stored on them,
    and rules for events made outside calsync (business.rules) apply to them."""
    marker = _ORIGIN.set(origin)
    try:
        yield
    finally:
        _ORIGIN.reset(marker)


def write_origin() -> str:
    """Where the writes under way come from ("" for calsync's own pages)."""
    return _ORIGIN.get()


def _arrivals(calendar: Calendar, items: list[Item]) -> list[Outcome]:
    """Items written from outside calsync (a provider, a calendar app, an import) get the organisation's assignment
    rules (business.rules): empty client, project and activity filled in. calsync's own writes are left as given."""
    if not _ORIGIN.get():
        return [Outcome(item, (), amended=False) for item in items]
    book = RuleBook.load(calendar.tenant_id)
    return [book.apply(item, calendar.pk) for item in items]


def _record_matches(masters: list[Event], outcomes: list[Outcome]) -> None:
    from business.rules.services import matches_record  # it writes through this module for re-runs

    for master, outcome in zip(masters, outcomes, strict=True):
        if outcome.assignments:
            matches_record(event=master, assignments=outcome.assignments)


def _announce(calendar_id: int) -> None:
    """Tell listeners (integrations waiting to sync this calendar) once the write has committed."""
    if not _UNANNOUNCED.get():
        transaction.on_commit(lambda: calendar_changed.send(sender=Calendar, calendar_id=calendar_id))


def _bump(calendar: Calendar, count: int = 1, *, announce: bool = True) -> int:
    """Lock the calendar row and take its next `count` change sequence numbers (the last is returned);
    announces the change on commit."""
    locked = Calendar.objects.select_for_update().only("id", "change_seq").get(pk=calendar.pk)
    locked.change_seq += count
    locked.changed_at = timezone.now()
    locked.save(update_fields=["change_seq", "changed_at"])
    if announce:
        _announce(calendar.pk)
    return locked.change_seq


# Characters no client or server percent-encodes differently, so hrefs compare equal everywhere.
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def resource_name_for(uid: str) -> str:
    """A URL-safe resource name derived from the UID, for items that arrive without one."""
    base = _SAFE_NAME.sub("-", uid).strip("-.")[:200] or uuid.uuid4().hex
    return f"{base}.ics"


def unique_resource_name(uid: str) -> str:
    digest = hashlib.sha256(uid.encode()).hexdigest()[:12]
    return f"{resource_name_for(uid)[:-4][:180]}-{digest}.ics"


def new_uid() -> str:
    return f"{uuid.uuid4()}@calsync"


def _write_rows(calendar: Calendar, master: Event | None, item: Item, name: str, seq: int) -> Event:
    span_start, span_end = item_span(item)
    resolver = Resolver(calendar.tenant_id)
    fields = _fields(item.master, resolver)
    if master is None:
        master = Event(tenant_id=calendar.tenant_id, calendar=calendar, name=name, origin=_ORIGIN.get())
    else:
        master.overrides.all().delete()
    for key, value in fields.items():
        setattr(master, key, value)
    master.seq, master.span_start, master.span_end = seq, span_start, span_end
    master.save()
    Event.objects.bulk_create(_override_rows(master, item, resolver))
    items_written.send(sender=Event, calendar_id=calendar.pk, master_ids=[master.pk])
    return master


def _fields(component: Component, resolver: Resolver) -> dict[str, object]:
    """The row's fields, the business names matched to the organisation's lists (and spelled as listed)."""
    fields = component_fields(component)
    links = resolver.links(client=component.client, project=component.project, activity=component.activity_type)
    for name, entry in (("client", links.client), ("project", links.project), ("activity_type", links.activity)):
        fields[f"{name.removesuffix('_type')}_ref"] = entry
        fields[name] = entry.name if entry else ""
    return fields


def _override_rows(master: Event, item: Item, resolver: Resolver) -> list[Event]:
    return [
        Event(
            tenant_id=master.tenant_id,
            calendar_id=master.calendar_id,
            parent=master,
            name=master.name,
            seq=master.seq,
            origin=master.origin,
            **_fields(override, resolver),
        )
        for override in item.overrides
    ]


def _existing(calendar: Calendar, item: Item, name: str | None) -> tuple[Event | None, str]:
    """The item this save replaces (by resource name or UID), and the resource name to store it under."""
    candidate = name or resource_name_for(item.uid)
    found = list(Event.objects.filter(Q(uid=item.uid) | Q(name=candidate), calendar=calendar, parent=None))
    by_uid = next((e for e in found if e.uid == item.uid), None)
    by_name = next((e for e in found if e.name == candidate), None)
    if name is None:
        if by_uid is not None:
            return by_uid, by_uid.name
        # Two UIDs can make the same safe name ("a@b", "a-b"): keep them apart.
        return None, candidate if by_name is None else unique_resource_name(item.uid)
    if by_name and by_uid and by_name.pk != by_uid.pk:
        raise NameConflict(f"Another item in this calendar already has the UID {item.uid!r}.")
    if by_uid is not None and by_uid.name != name:
        raise NameConflict(f"The UID {item.uid!r} is already stored under another name.")
    return by_name or by_uid, name


def items_as_stored(*, calendar: Calendar, items: list[Item]) -> list[Item]:
    """The items as a save would store them, nothing saved: refused as item_save refuses them (ICalError,
    PreconditionFailed), the assignment rules applied. A dry run (sync.preview) reads back what a sync would."""
    outcomes, _ = _batch_arrivals(calendar, items)
    return [outcome.item for outcome in outcomes]


def _batch_arrivals(calendar: Calendar, items: list[Item]) -> tuple[list[Outcome], int]:
    """A batch's items checked as item_save checks one, with the assignment rules applied; and how many of them
    the rules added to (each takes a second version)."""
    for item in items:
        validate_item(item)
        _check_kind(calendar, item)
    if len({item.uid for item in items}) != len(items):
        raise PreconditionFailed("The same UID twice in one batch.")
    outcomes = _arrivals(calendar, items)
    return outcomes, sum(o.amended for o in outcomes)


def items_create_many(*, calendar: Calendar, items: list[Item]) -> list[SaveResult]:
    """Create many new items in one transaction (a first sync). PreconditionFailed if any UID exists already."""
    outcomes, amended = _batch_arrivals(calendar, items)
    uids = [item.uid for item in items]
    with transaction.atomic():
        # The lock first; a refusal below rolls the numbers back. Items the rules added to take a second number
        # each: the first is the version as given (what a sync records), the second the stored one (see item_save).
        last = _bump(calendar, len(items) + amended)
        if Event.objects.filter(calendar=calendar, parent=None, uid__in=uids).exists():
            raise PreconditionFailed("Some of these items exist already.")
        wanted = [resource_name_for(uid) for uid in uids]
        taken = set(
            Event.objects.filter(calendar=calendar, parent=None, name__in=wanted).values_list("name", flat=True)
        )
        given = range(last - len(items) - amended + 1, last - amended + 1)
        stored = _stored_seqs(outcomes, given, last - amended + 1)
        resolver = Resolver(calendar.tenant_id)
        masters = Event.objects.bulk_create(
            _master_row(calendar, o.item, unique_resource_name(o.item.uid) if name in taken else name, seq, resolver)
            for o, name, seq in zip(outcomes, wanted, stored, strict=True)
        )
        Event.objects.bulk_create(
            row for master, o in zip(masters, outcomes, strict=True) for row in _override_rows(master, o.item, resolver)
        )
        _record_matches(masters, outcomes)
        items_written.send(sender=Event, calendar_id=calendar.pk, master_ids=[m.pk for m in masters])
    calendar.change_seq = last
    return [SaveResult(event=m, created=True, given_seq=g) for m, g in zip(masters, given, strict=True)]


def _stored_seqs(outcomes: list[Outcome], given: range, extra: int) -> list[int]:
    """Each item's stored version: the given one, or for an item the rules added to, the next spare number."""
    stored = []
    for outcome, seq in zip(outcomes, given, strict=True):
        stored.append(extra if outcome.amended else seq)
        extra += outcome.amended
    return stored


def _master_row(calendar: Calendar, item: Item, name: str, seq: int, resolver: Resolver) -> Event:
    span_start, span_end = item_span(item)
    return Event(tenant_id=calendar.tenant_id, calendar=calendar, name=name, seq=seq, span_start=span_start,
                 span_end=span_end, origin=_ORIGIN.get(), **_fields(item.master, resolver))  # fmt: skip


def items_update_many(*, calendar: Calendar, updates: list[tuple[Item, int]]) -> list[SaveResult]:
    """Replace many existing items (by UID), each if still at the version given, in one short transaction holding
    the calendar's lock (a sync applying a page of changes). item_save's rules hold: versions, assignment rules,
    meeting rules, business links. PreconditionFailed, OwnerOnlyEdit or ICalError refuse the whole batch."""
    items = [item for item, _ in updates]
    outcomes, amended = _batch_arrivals(calendar, items)
    uids = [item.uid for item in items]
    with transaction.atomic():
        last = _bump(calendar, len(items) + amended)
        found = Event.objects.filter(calendar=calendar, parent=None, uid__in=uids).select_related("calendar")
        existing = {e.uid: e for e in found}
        if any(uid not in existing or existing[uid].seq != seq for uid, (_, seq) in zip(uids, updates, strict=True)):
            raise PreconditionFailed("Some of these items were changed or deleted since they were read.")
        masters = [existing[uid] for uid in uids]
        meetings = [meeting_rules.check_write(calendar, m, item) for m, item in zip(masters, items, strict=True)]
        given = range(last - len(items) - amended + 1, last - amended + 1)
        _rewrite_rows(calendar, masters, outcomes, _stored_seqs(outcomes, given, last - amended + 1))
        _record_matches(masters, outcomes)
        for meeting in meetings:
            if meeting is not None:
                meeting_rules.after_write(meeting, calendar)
        items_written.send(sender=Event, calendar_id=calendar.pk, master_ids=[m.pk for m in masters])
    calendar.change_seq = last
    return [SaveResult(event=m, created=False, given_seq=g) for m, g in zip(masters, given, strict=True)]


def _rewrite_rows(calendar: Calendar, masters: list[Event], outcomes: list[Outcome], seqs: list[int]) -> None:
    """_write_rows for many existing items: their overrides replaced in two statements. Each master is saved on its
    own: Django's bulk_update builds a CASE per field and row, which for an event's forty fields costs ten times
    the plain UPDATEs it saves."""
    resolver = Resolver(calendar.tenant_id)
    Event.objects.filter(parent_id__in=[m.pk for m in masters]).delete()
    for master, outcome, seq in zip(masters, outcomes, seqs, strict=True):
        fields = _fields(outcome.item.master, resolver)
        for key, value in fields.items():
            setattr(master, key, value)
        master.seq = seq
        master.span_start, master.span_end = item_span(outcome.item)
        master.save(update_fields=[*fields, "seq", "span_start", "span_end", "updated_at"])
    Event.objects.bulk_create(
        row for master, o in zip(masters, outcomes, strict=True) for row in _override_rows(master, o.item, resolver)
    )


def items_delete_many(*, calendar: Calendar, deletions: list[tuple[str, int]]) -> None:
    """Delete many items (by UID), each if still at the version given, in one short transaction holding the
    calendar's lock; each leaves a tombstone with a version of its own, as item_delete does. PreconditionFailed
    (nothing deleted) if any was changed or is gone."""
    uids = [uid for uid, _ in deletions]
    with transaction.atomic():
        last = _bump(calendar, len(deletions))
        found = Event.objects.filter(calendar=calendar, parent=None, uid__in=uids).select_related("calendar")
        existing = {e.uid: e for e in found}
        if len(existing) != len(uids) or any(existing[uid].seq != seq for uid, seq in deletions):
            raise PreconditionFailed("Some of these items were changed or deleted since they were read.")
        for master in existing.values():
            meeting_rules.before_delete(master)
        Tombstone.objects.bulk_create(
            Tombstone(calendar_id=calendar.pk, uid=uid, name=existing[uid].name, seq=seq, via=_ORIGIN.get())
            for seq, uid in enumerate(uids, start=last - len(uids) + 1)
        )
        Event.objects.filter(pk__in=[m.pk for m in existing.values()]).delete()
    calendar.change_seq = last


def items_names_refresh(*, calendar_id: int, master_ids: list[int]) -> int:
    """Spell the client, project and activity these items carry as the organisation's lists now name the entries
    they link to (after a rename), as one write: each item gets a new version, so CalDAV apps, feeds and syncs
    fetch it again and providers receive the new name. The links and the times do not change, so the reports'
    time index is left as it is. Returns how many items were rewritten."""
    with transaction.atomic():
        calendar = Calendar.objects.get(pk=calendar_id)
        found = Event.objects.filter(calendar=calendar, parent=None, pk__in=master_ids)
        masters = list(found.order_by("pk").values_list("pk", flat=True))
        if not masters:
            return 0
        last = _bump(calendar, len(masters))
        rows = Event.objects.filter(Q(pk__in=masters) | Q(parent_id__in=masters))
        for name_field, ref_field, model in _BUSINESS_LINKS:
            listed = model.objects.filter(pk=OuterRef(ref_field)).values("name")[:1]
            rows.filter(**{f"{ref_field}__isnull": False}).update(**{name_field: Subquery(listed)})
        now = timezone.now()
        for seq, master_id in enumerate(masters, start=last - len(masters) + 1):
            Event.objects.filter(Q(pk=master_id) | Q(parent_id=master_id)).update(seq=seq, updated_at=now)
    return len(masters)


def items_relink(*, tenant_id: int, ref_field: str, old_id: int, new_id: int) -> int:
    """Rows linked to one list entry link to another instead (two entries merged), inside the caller's
    transaction; the reports' time index follows through items_written. The carried names are re-spelled after,
    by items_names_refresh, which gives the items their new versions. Returns how many items were relinked."""
    rows = Event.objects.filter(tenant_id=tenant_id, **{ref_field: old_id})
    affected: dict[int, list[int]] = {}
    for calendar_id, master_id in (
        rows.annotate(master_id=Coalesce("parent_id", "id")).values_list("calendar_id", "master_id").distinct()
    ):
        affected.setdefault(calendar_id, []).append(master_id)
    rows.update(**{ref_field: new_id})
    for calendar_id, master_ids in affected.items():
        items_written.send(sender=Event, calendar_id=calendar_id, master_ids=master_ids)
    return sum(len(ids) for ids in affected.values())


_BUSINESS_LINKS = (("client", "client_ref", Client), ("project", "project_ref", Project),
                   ("activity_type", "activity_ref", Activity))  # fmt: skip


def _check_kind(calendar: Calendar, item: Item) -> None:
    if item.master.kind not in calendar.components.split(","):
        what = "tasks" if calendar.components == "VTODO" else "events"
        raise ICalError(f"The calendar {calendar.name!r} holds only {what}.")


@dataclass(frozen=True)
class SaveResult:
    event: Event
    created: bool
    # The version the caller's content got. Lower than event.seq when calsync added to what was written (the
    # assignment rules filled a client, say): that addition is a version of its own, so a sync that records this
    # one sees the next and carries the addition back to the other side, and a CalDAV client is not told the
    # stored item is the one it sent.
    given_seq: int

    @property
    def amended(self) -> bool:
        return self.given_seq != self.event.seq


def item_save(
    *,
    calendar: Calendar,
    item: Item,
    name: str | None = None,
    if_match: int | None = None,
    if_none_match: bool = False,
) -> SaveResult:
    """Create or replace the item with this UID (or at this resource name) in the calendar.

    `if_match` is the seq the caller last saw; `if_none_match` refuses to replace.
    """
    validate_item(item)
    _check_kind(calendar, item)
    (outcome,) = _arrivals(calendar, [item])
    try:
        with transaction.atomic():
            seq = _bump(calendar)
            existing, target_name = _existing(calendar, item, name)
            if existing is not None and if_none_match:
                raise PreconditionFailed("An item with this name or UID already exists.")
            if if_match is not None and (existing is None or existing.seq != if_match):
                raise PreconditionFailed("The item was changed or deleted since you last read it.")
            meeting = meeting_rules.check_write(calendar, existing, item)
            stored = _bump(calendar, announce=False) if outcome.amended else seq  # the rules' addition: a version
            event = _write_rows(calendar, existing, outcome.item, target_name, stored)
            _record_matches([event], [outcome])
            if meeting is not None:
                meeting_rules.after_write(meeting, calendar)
    except IntegrityError as exc:  # a concurrent writer took the name first
        raise NameConflict("An item with this name already exists.") from exc
    calendar.change_seq = event.seq
    return SaveResult(event=event, created=existing is None, given_seq=seq)


@dataclass(frozen=True)
class ItemSave:
    """One save of `items_save_together`, with item_save's arguments."""

    calendar: Calendar
    item: Item
    name: str | None = None
    if_match: int | None = None
    if_none_match: bool = False


def items_save_together(*, saves: list[ItemSave]) -> list[SaveResult]:
    """Several saves as one change (a series split in two): all or none, committed at once, so CalDAV, feeds and
    syncs never see half of it."""
    with transaction.atomic():
        return [
            item_save(calendar=s.calendar, item=s.item, name=s.name, if_match=s.if_match, if_none_match=s.if_none_match)
            for s in saves
        ]


def item_move(*, event: Event, calendar: Calendar, item: Item, if_match: int | None = None) -> SaveResult:
    """The item, changed, into another calendar: created there and deleted here in one transaction."""
    with transaction.atomic():
        result = item_save(calendar=calendar, item=item, if_none_match=True)
        item_delete(event=event, if_match=if_match)
    return result


def item_delete(*, event: Event, if_match: int | None = None, deleted_by: User | None = None) -> None:
    """Delete the item; its tombstone records `deleted_by` (a calsync user, in the pages or over CalDAV) and where
    the writes under way come from (write_origin), which the event's story tells (sync.history)."""
    master = event.parent or event
    with transaction.atomic():
        seq = _bump(master.calendar)
        current = Event.objects.filter(pk=master.pk).values_list("seq", flat=True).first()
        if current is None or (if_match is not None and current != if_match):
            raise PreconditionFailed("The item was changed or deleted since you last read it.")
        meeting_rules.before_delete(master)
        Tombstone.objects.create(calendar_id=master.calendar_id, uid=master.uid, name=master.name, seq=seq,
                                 deleted_by=deleted_by, via=_ORIGIN.get())  # fmt: skip
        master.delete()
    master.calendar.change_seq = seq


def _same_occurrence(a: Temporal | None, b: Temporal) -> bool:
    return a is not None and as_utc(a) == as_utc(b)


def occurrence_update(
    *, master: Event, recurrence_id: Temporal, changes: dict[str, object], if_match: int | None = None
) -> SaveResult:
    """Override one occurrence of a series (move it, retitle it...), keeping the rest of the series."""
    item = item_from_event(master)
    existing = next((o for o in item.overrides if _same_occurrence(o.recurrence_id, recurrence_id)), None)
    base = existing or replace(
        item.master,
        rrule="",
        rdates=(),
        exdates=(),
        recurrence_id=recurrence_id,
        start=recurrence_id,
        end=_shifted_end(item.master, recurrence_id),
        extra_components=(),
    )
    override = replace(base, **changes)  # type: ignore[arg-type]
    others = tuple(o for o in item.overrides if o is not existing)
    new_item = replace(item, overrides=(*others, override))
    return item_save(calendar=master.calendar, item=new_item, name=master.name, if_match=_seq(master, if_match))


def _seq(master: Event, if_match: int | None) -> int:
    """The version the caller saw, or else the one we just read the item at: never a blind overwrite."""
    return master.seq if if_match is None else if_match


def _shifted_end(master: Component, start: Temporal) -> Temporal | None:
    if master.start is None or master.end is None:
        return None
    return start + (master.end - master.start)  # type: ignore[operator]


def occurrence_cancel(*, master: Event, recurrence_id: Temporal, if_match: int | None = None) -> SaveResult:
    """Remove one occurrence from a series: an EXDATE, and drop any override of it."""
    item = item_from_event(master)
    overrides = tuple(o for o in item.overrides if not _same_occurrence(o.recurrence_id, recurrence_id))
    new_master = replace(item.master, exdates=(*item.master.exdates, recurrence_id))
    new_item = Item(master=new_master, overrides=overrides)
    return item_save(calendar=master.calendar, item=new_item, name=master.name, if_match=_seq(master, if_match))


# --- ICS import ------------------------------------------------------------------------


# PostgreSQL text cannot hold NUL. NUL and U+0001 are both CONTROL characters that iCalendar text may not
# contain (RFC 5545 3.1), so the item holding one is refused for the same reason either way, and the rest imports.
_STORABLE = str.maketrans({"\x00": "\x01"})


def import_job_create(*, calendar: Calendar, user: User, filename: str, payload: str) -> ImportJob:
    job = ImportJob.objects.create(
        tenant_id=calendar.tenant_id, calendar=calendar, created_by=user,
        filename=filename.translate(_STORABLE)[:255], payload=payload.translate(_STORABLE),
    )  # fmt: skip
    transaction.on_commit(lambda: _import_publish(job))
    return job


def _import_publish(job: ImportJob) -> None:
    from .tasks import run_import

    if not publish(run_import, job.pk):  # else it would wait for a worker for ever
        job.status, job.error = ImportJob.Status.FAILED, f"{UNREACHABLE}: nothing was imported. Try again soon."
        ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.PENDING).update(status=job.status, error=job.error)


def import_jobs_end_lost(*, started_by: datetime) -> int:
    """Imports still waiting for a worker since before `started_by` lost their task: say so, do not wait for ever."""
    return ImportJob.objects.filter(status=ImportJob.Status.PENDING, created_at__lt=started_by).update(
        status=ImportJob.Status.FAILED,
        finished_at=timezone.now(),
        error="No worker started this import (its task was lost): nothing was imported. Upload the file again.",
    )


def import_job_run(*, job_id: int) -> ImportJob:
    """Import every item of the job's file; an item that cannot be imported is reported, not fatal."""
    job = ImportJob.objects.select_related("calendar").get(pk=job_id)
    if job.status not in (ImportJob.Status.PENDING, ImportJob.Status.RUNNING):
        return job  # delivered twice: the first delivery did the work
    job.status = ImportJob.Status.RUNNING
    job.save(update_fields=["status"])
    problems: list[dict[str, str]] = []
    try:
        items, problems = parse_calendar_lenient(job.payload)
    except ICalError as exc:
        return _import_finish(job, ImportJob.Status.FAILED, problems, error=str(exc))
    created = updated = 0
    with changes_unannounced(), writes_from("import"):  # one announcement for the whole file, below
        for item in items:
            try:
                result = item_save(calendar=job.calendar, item=item)
            except (ICalError, NameConflict) as exc:
                problems.append({"uid": item.uid, "reason": str(exc)})
                continue
            created, updated = created + result.created, updated + (not result.created)
    if created or updated:
        _announce(job.calendar_id)
    job.created_count, job.updated_count = created, updated
    return _import_finish(job, ImportJob.Status.DONE, problems)


def import_job_fail(*, job_id: int) -> None:
    """Record that the import stopped on an unexpected error, so the page does not wait forever."""
    ImportJob.objects.filter(pk=job_id).exclude(status=ImportJob.Status.DONE).update(
        status=ImportJob.Status.FAILED,
        error="An unexpected error stopped the import. It has been logged; please try again later.",
        payload="",
        finished_at=timezone.now(),
    )


def _import_finish(job: ImportJob, status: str, problems: list[dict[str, str]], error: str = "") -> ImportJob:
    problems = [{key: printable(value) for key, value in problem.items()} for problem in problems]  # a NUL UID too
    job.status, job.problems, job.error, job.finished_at = status, problems, printable(error), timezone.now()
    job.payload = ""  # the file is not kept once imported
    job.save(update_fields=["status", "problems", "error", "finished_at", "payload", "created_count", "updated_count"])
    log.info(
        "ics import finished", extra={"import_job": job.pk, "import_status": status, "created_count": job.created_count}
    )
    return job


# --- the calendar grid's direct manipulation -------------------------------------------------------------------


def event_quick_create(
    *,
    calendar: Calendar,
    title: str,
    start: Temporal,
    end: Temporal,
    client: str = "",
    project: str = "",
    activity_type: str = "",
) -> SaveResult:
    """A new single event from the calendar grid's quick form (title, time, calendar, and the business fields
    when given); the rest has defaults."""
    component = Component(
        uid=new_uid(), status="CONFIRMED", summary=title, start=start, end=end,
        client=client, project=project, activity_type=activity_type,
    )  # fmt: skip
    return item_save(calendar=calendar, item=Item(master=component), if_none_match=True)


def in_event_terms(master: Event, value: Temporal, *, all_day: bool) -> Temporal:
    """A time the user dropped (aware, in their zone; a date for the all-day row) in the form the event keeps:
    a date, floating clock time for a floating event, else the event's own zone (so its DTSTART TZID stays)."""
    if all_day or not isinstance(value, datetime):
        return value.date() if isinstance(value, datetime) else value
    if not master.all_day and not master.timezone:
        return value.replace(tzinfo=None)  # floating stays floating: the same clock time wherever it is read
    zone = resolve_zone(master.timezone) if not master.all_day and master.timezone else None
    return value.astimezone(zone) if zone is not None else value


def event_reschedule(*, master: Event, start: Temporal, end: Temporal, if_match: int) -> SaveResult:
    """Move or resize a single (non-recurring) event, keeping everything else; PreconditionFailed when it
    changed since version `if_match` (a sync or another tab wrote it meanwhile)."""
    if master.is_recurring or master.parent_id is not None:
        raise ICalError("This event repeats: change one occurrence or the series.")
    item = item_from_event(master)
    all_day = not isinstance(start, datetime)
    moved = replace(
        item.master,
        start=in_event_terms(master, start, all_day=all_day),
        end=in_event_terms(master, end, all_day=all_day),
    )
    return item_save(calendar=master.calendar, item=replace(item, master=moved), name=master.name, if_match=if_match)
