"""Reads of calsync's calendars: occurrences in a range, changes since a sequence number."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import User

from . import recurrence
from .convert import DETAIL_FIELDS, item_from_event, search_text, timing_item_from_event
from .ical import Item, as_utc
from .models import Calendar, Event, Tombstone

# How an occurrence is named in URLs: its original start as a UTC instant.
RECURRENCE_KEY_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of an event as a calendar page shows it."""

    event: Event  # the series' master row
    start: datetime
    end: datetime
    all_day: bool
    title: str
    location: str
    recurrence_id: datetime | None  # UTC instant of the original occurrence; None for single events
    is_override: bool

    @property
    def calendar(self) -> Calendar:
        return self.event.calendar

    @property
    def is_recurring(self) -> bool:
        return self.recurrence_id is not None

    @property
    def recurrence_key(self) -> str:
        return self.recurrence_id.strftime(RECURRENCE_KEY_FORMAT) if self.recurrence_id else ""

    @property
    def start_date(self) -> date:
        """The day it starts on for the reader (their zone is the active one), all-day events on their own date."""
        return self.start.date() if self.all_day else timezone.localtime(self.start).date()


def span_overlaps(start: datetime, end: datetime) -> Q:
    """Rows whose occurrence span may touch [start, end) (an instant at `start` included): uses the span index."""
    return Q(span_start__lt=end) & (
        Q(span_end__gt=start) | Q(span_end__isnull=True) | Q(span_end=start, span_start=start)
    )


def masters_in_range(
    calendars: QuerySet[Calendar] | list[Calendar], start: datetime, end: datetime, *, deferred: tuple[str, ...] = ()
) -> QuerySet[Event]:
    """Master rows with an occurrence that may touch [start, end): indexed on the span columns. Each master's
    overrides are in its list `override_rows` (a list, not a related manager: Django would build a queryset per
    master for that, most of a large range read's time). `deferred` columns are left unread."""
    overrides = Event.objects.defer(*deferred).order_by("recurrence_id")
    masters = (
        Event.objects.filter(calendar__in=calendars, parent=None, kind=Event.Kind.EVENT)
        .filter(span_overlaps(start, end))
        .defer(*deferred)
        .prefetch_related(Prefetch("overrides", queryset=overrides, to_attr="override_rows"))
    )
    # Calendars the caller already holds are attached to their masters, not read again with every row.
    return masters if isinstance(calendars, list) else masters.select_related("calendar")


class Occurrences(list["Occurrence"]):
    """Occurrences in a range; `truncated` when the request's recurrence budget cut the expansion short."""

    truncated: bool = False


# How far any zone's clock is from UTC: floating times are stored (and spanned) as if UTC, but happen at that
# clock time wherever the reader is, so rows this far outside the range may still fall inside it for the reader.
_FLOATING_REACH = timedelta(hours=14)


def occurrences(
    *, calendars: QuerySet[Calendar] | list[Calendar], start: datetime, end: datetime, details: bool = True
) -> Occurrences:
    """Every occurrence in [start, end), recurring series expanded with their overrides and exceptions,
    within the request's recurrence budget (an `Occurrences`: read `truncated`). A UID is unique within a
    calendar only: the same event imported into a second calendar is a second event, and each master is
    expanded on its own."""
    deferred = () if details else DETAIL_FIELDS  # without details: times, titles and places only, and faster
    masters = masters_for_occurrences(calendars, start, end, deferred=deferred)
    result = Occurrences()
    budget = recurrence.Budget.for_request()
    held = {c.pk: c for c in calendars} if isinstance(calendars, list) else {}
    # Single events first: they cost no rule steps, so a hostile series spends the budget only on series.
    for master in sorted(masters, key=lambda m: m.is_recurring):
        if held:
            master.calendar = held[master.calendar_id]
        result.extend(master_occurrences(master, start=start, end=end, budget=budget, details=details))
    result.truncated = budget.truncated
    result.sort(key=lambda o: (o.start, o.title))
    return result


def masters_for_occurrences(
    calendars: QuerySet[Calendar] | list[Calendar], start: datetime, end: datetime, *, deferred: tuple[str, ...] = ()
) -> QuerySet[Event]:
    """The masters whose occurrences in [start, end) `master_occurrences` finds: wide enough for floating times."""
    return masters_in_range(calendars, start - _FLOATING_REACH, end + _FLOATING_REACH, deferred=deferred)


def master_occurrences(
    master: Event, *, start: datetime, end: datetime, budget: recurrence.Budget, details: bool = True
) -> Iterator[Occurrence]:
    """One master's occurrences in [start, end) (read from `masters_in_range`, with its `override_rows`)."""
    rows = master.override_rows  # type: ignore[attr-defined]
    item = item_from_event(master, rows) if details else timing_item_from_event(master, rows)
    reach = _FLOATING_REACH if _is_floating(item.master.start) else timedelta(0)
    for found in recurrence.occurrences(item, start=start - reach, end=end + reach, budget=budget):
        occurrence = _occurrence(master, found, start.tzinfo)
        if occurrence.start < end and (occurrence.end > start or occurrence.start == start):
            yield occurrence


def _is_floating(value: date | datetime | None) -> bool:
    return isinstance(value, datetime) and value.tzinfo is None


def _reader_instant(value: date | datetime, zone: tzinfo | None) -> datetime:
    """Floating time happens at that clock time wherever the reader is: in the zone the range was asked in."""
    if _is_floating(value) and zone is not None:
        return value.replace(tzinfo=zone).astimezone(UTC)  # type: ignore[union-attr]
    return as_utc(value)


def _occurrence(master: Event, found: recurrence.Occurrence, zone: tzinfo | None = None) -> Occurrence:
    start = found.start
    return Occurrence(
        event=master,
        start=_reader_instant(start, zone),
        end=_reader_instant(found.end, zone),
        all_day=not isinstance(start, datetime),
        title=found.component.summary,
        location=found.component.location,
        recurrence_id=as_utc(found.recurrence_id) if found.recurrence_id is not None else None,
        is_override=found.is_override,
    )


@dataclass(frozen=True)
class Changes:
    """What changed in a calendar after sequence number `since`, up to `until`."""

    since: int
    until: int
    changed: list[Event]
    deleted: list[Tombstone]


def changes_since(*, calendar: Calendar, since: int) -> Changes:
    """Items changed and deleted since `since`: two indexed range scans, whatever the calendar's size."""
    until = Calendar.objects.values_list("change_seq", flat=True).get(pk=calendar.pk)
    changed = list(
        Event.objects.filter(calendar=calendar, parent=None, seq__gt=since, seq__lte=until)
        .prefetch_related("overrides")
        .order_by("seq")
    )
    deleted = list(deletions_since(calendar=calendar, since=since, until=until).order_by("seq"))
    return Changes(since=since, until=until, changed=changed, deleted=deleted)


def deletions_since(*, calendar: Calendar, since: int, until: int, by: str = "uid") -> QuerySet[Tombstone]:
    """The tombstones of (since, until]. One whose item exists again (re-created under the same UID, or the same
    resource name for CalDAV: `by`) is no deletion. Every reader of deletions asks here."""
    live = Event.objects.filter(calendar=calendar, parent=None).values(by)
    return Tombstone.objects.filter(calendar=calendar, seq__gt=since, seq__lte=until).exclude(**{f"{by}__in": live})


def calendar_items(calendars: Iterable[Calendar] | QuerySet[Calendar]) -> list[Item]:
    masters = (
        Event.objects.filter(calendar__in=calendars, parent=None)
        .prefetch_related(Prefetch("overrides", queryset=Event.objects.order_by("recurrence_id")))
        .order_by("span_start", "id")
    )
    return [item_from_event(m) for m in masters]


def main_calendar(calendars: QuerySet[Calendar]) -> Calendar | None:
    """The main calendar among `calendars` (a user's own): the one its owner chose in Settings, else the first one
    made for them (at sign-up), however the names sort. One query; a deleted choice falls back by itself (the
    user's field is set to null)."""
    chosen = Exists(User.objects.filter(pk=OuterRef("owner_id"), default_calendar=OuterRef("pk")))
    return calendars.annotate(is_main=chosen).order_by("-is_main", "created_at", "id").first()


def parse_recurrence_key(text: str) -> datetime | None:
    """The UTC instant an occurrence key (RECURRENCE_KEY_FORMAT) names; None when it names none."""
    try:
        return datetime.strptime(text, RECURRENCE_KEY_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def grid_calendars(calendars: QuerySet[Calendar]) -> list[Calendar]:
    """The calendars the grid offers (the user's and those shared with them to edit), with their owners:
    one query."""
    return list(calendars.select_related("owner").order_by("owner_id", "name", "id"))


def grid_occurrences(*, calendars: list[Calendar], hidden: set[int], start: datetime, end: datetime) -> Occurrences:
    """What the grid shows in [start, end): the shown calendars' occurrences, within the request's recurrence
    budget. Two queries (masters with their calendars, then overrides) whatever the calendars hold."""
    # The ids themselves, not a subquery: the planner then reads each calendar's span index (calendar, span_*).
    shown = [c for c in calendars if c.pk not in hidden]
    return occurrences(calendars=shown, start=start, end=end, details=False)


# --- search -------------------------------------------------------------------------------------------------

SEARCH_PAGE = 50  # occurrences per page of results
SEARCH_HORIZON = timedelta(days=731)  # how far ahead one page looks for occurrences of a series
SEARCH_MAX_SERIES = 200  # matching series expanded per page; the recurrence budget bounds their cost too
SEARCH_MAX_TERMS = 8


def search_terms(text: str) -> list[str]:
    """The words of a query, case-folded like Event.search_text; every one must occur."""
    return list(dict.fromkeys(text.casefold().split()))[:SEARCH_MAX_TERMS]


@dataclass
class SearchResults:
    """One page of matching occurrences from `start`; `next_start` begins the next page (None: no more)."""

    occurrences: Occurrences
    start: datetime
    next_start: datetime | None


def _matching(terms: list[str]) -> Q:
    query = Q()
    for term in terms:
        query &= Q(search_text__contains=term)
    return query


_HIDDEN = (Event.Visibility.PRIVATE, Event.Visibility.CONFIDENTIAL)


def _visible_to(viewer: User) -> Q:
    """A colleague's private or confidential event (or changed occurrence) shows as busy without details: nothing
    of it can match."""
    return ~(Q(visibility__in=_HIDDEN) & ~Q(calendar__owner=viewer))


def search(*, calendars: QuerySet[Calendar], viewer: User, text: str, start: datetime) -> SearchResults:
    """Occurrences from `start` on whose title, location, description or attendees contain every word of `text`
    (any case), in the calendars the viewer may read; a series shows as its matching occurrences, expanded
    through events.recurrence within the request's budget. A bounded number of queries, whatever the size."""
    terms = search_terms(text)
    if not terms:
        return SearchResults(Occurrences(), start, None)
    overrides = Event.objects.filter(calendar__in=calendars, parent__isnull=False).filter(_matching(terms))
    candidates = (
        masters_in_range(calendars, start - _FLOATING_REACH, _FAR)
        .filter(_visible_to(viewer))
        .filter(_matching(terms) | Q(pk__in=overrides.filter(_visible_to(viewer)).values("parent_id")))
        .order_by("span_start", "id")
    )
    singles = list(candidates.filter(rrule="")[: SEARCH_PAGE + 1])
    # Series are looked at over a horizon, or only up to the first single that no longer fits on this page.
    until = singles[SEARCH_PAGE].span_start if len(singles) > SEARCH_PAGE else start + SEARCH_HORIZON
    series = list(candidates.exclude(rrule="").filter(span_start__lt=until)[:SEARCH_MAX_SERIES])
    budget = recurrence.Budget.for_request()
    single_hits = [o for m in singles[:SEARCH_PAGE]
                   for o in _matches_of(m, _item(m), viewer, terms, start, until, budget)]  # fmt: skip
    found, end = _series_hits(series, viewer, terms, start, until, budget, single_hits)
    found.truncated = budget.truncated
    found.sort(key=lambda o: (o.start, o.title))
    beyond = len(singles) > SEARCH_PAGE or any(m.span_end is None or m.span_end > until for m in series)
    return _page(found, start, end if end < until or beyond else None)


def _item(master: Event) -> Item:
    """The item from the overrides masters_in_range read with its masters (not a query per master)."""
    return item_from_event(master, master.override_rows)  # type: ignore[attr-defined]


def _series_hits(series: list[Event], viewer: User, terms: list[str], start: datetime, until: datetime,
                 budget: recurrence.Budget, single_hits: list[Occurrence]) -> tuple[Occurrences, datetime]:  # fmt: skip
    """The matching occurrences (singles' included) up to the returned end: the series are expanded slice by slice
    over a window growing fourfold until a page is full, so many matching series cost days each, not two years,
    and no occurrence is expanded twice."""
    items = [(master, _item(master)) for master in series]
    found = Occurrences()
    lower, end = start, min(start + SEARCH_FIRST_WINDOW, until)
    while True:
        for master, item in items:
            found.extend(_matches_of(master, item, viewer, terms, lower, end, budget))
        if len(found) + sum(o.start < end for o in single_hits) > SEARCH_PAGE or end >= until or budget.truncated:
            break
        lower, end = end, min(start + (end - start) * 4, until)
    found.extend(o for o in single_hits if o.start < end)
    return found, end


SEARCH_FIRST_WINDOW = timedelta(days=2)
_FAR = datetime(9000, 1, 1, tzinfo=UTC)


def _matches_of(master: Event, item: Item, viewer: User, terms: list[str], start: datetime, until: datetime,
                budget: recurrence.Budget) -> Iterator[Occurrence]:  # fmt: skip
    """The master's occurrences starting in [start, until) whose own text (the override's, if changed) matches; at
    most a page of them. When the series' own text does not match, only its changed occurrences can: its rule is
    then not run at all."""
    expand = recurrence.occurrences if _matches(master.search_text, terms) else recurrence.changed_occurrences
    reach = _FLOATING_REACH if _is_floating(item.master.start) else timedelta(0)
    taken = 0
    for found in expand(item, start=start - reach, end=until + reach, budget=budget):
        if taken > SEARCH_PAGE:
            return
        occurrence = _occurrence(master, found, start.tzinfo)
        # Starting in [start, until) for the reader: each occurrence belongs to exactly one slice, page or search.
        hidden = found.component.visibility in _HIDDEN and master.calendar.owner_id != viewer.pk
        if start <= occurrence.start < until and not hidden and _matches(search_text(found.component), terms):
            taken += 1
            yield occurrence


def _matches(text: str, terms: list[str]) -> bool:
    return all(term in text for term in terms)


def _page(found: Occurrences, start: datetime, later: datetime | None) -> SearchResults:
    """A page of at most SEARCH_PAGE; the next page starts at the first occurrence not shown (any shown at that
    very instant move there too), or at `later`, where this page stopped looking."""
    if len(found) <= SEARCH_PAGE:
        return SearchResults(found, start, later)
    next_start = found[SEARCH_PAGE].start
    page = Occurrences(o for o in found if o.start < next_start)
    if not page:  # more than a page at one instant: show them all rather than loop
        page, next_start = Occurrences(o for o in found if o.start == next_start), later
    page.truncated = found.truncated
    return SearchResults(page, start, next_start)
