"""The calendar grid: its page and the small JSON endpoints FullCalendar reads and writes through.

Every read goes through the user's Scope and the one bounded recurrence expansion; every write through
events.services (or events.series for a recurring series), with the version the grid read in If-Match, so
a sync that changed an event meanwhile is never overwritten silently: the grid is told (412) and reloads.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts import services as account_services
from accounts.tenancy import Scope
from meetings.rules import OwnerOnlyEdit
from scheduling.selectors import personal_for, policy_for, weekly_hours

from . import grid, selectors, series, services
from .forms import PickForm, Picks
from .grid import GridInputError
from .ical import ICalError
from .models import Calendar, Event

View = Callable[..., HttpResponse]


def _error(status: int, message: str, code: str) -> JsonResponse:
    return JsonResponse({"error": message, "code": code}, status=status)


def json_endpoint(view: View) -> View:
    """Signed-in tenant users only (401 JSON, not a login redirect); known failures as JSON errors, never a 500."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return _error(401, "Sign in again to see your calendar.", "signed-out")
        if request.user.tenant_id is None:  # type: ignore[union-attr]
            return _error(403, "This account belongs to no organisation.", "no-organisation")
        try:
            return view(request, *args, **kwargs)
        except GridInputError as exc:
            return _error(400, str(exc), "invalid")
        except services.PreconditionFailed:
            message = "This event was changed elsewhere (perhaps by a sync) since the calendar showed it."
            return _error(412, message + " The calendar has been reloaded; try again.", "stale")
        except OwnerOnlyEdit as exc:
            return _error(403, str(exc), "owner-only")
        except PermissionDenied as exc:  # a refusal the Scope or a service gave: its reason, as the 403 page says it
            return _error(403, str(exc) or "You may not change this.", "forbidden")
        except Http404:  # deleted meanwhile (perhaps by a sync), or never the user's: the same answer either way
            return _error(404, "This event is not in your calendars (any more).", "not-found")
        except services.NameConflict as exc:
            return _error(409, str(exc), "conflict")
        except ICalError as exc:
            return _error(400, str(exc), "refused")

    return wrapper


def _zone(request: HttpRequest) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(request.user.timezone)  # type: ignore[union-attr]


def _scope(request: HttpRequest) -> Scope:
    return Scope(request.user)  # type: ignore[arg-type]


def _hidden(request: HttpRequest) -> set[int]:
    return {pk for pk in request.user.hidden_calendars if isinstance(pk, int)}  # type: ignore[union-attr]


# --- the page -----------------------------------------------------------------------------------------------


@login_required
def calendar_page(request: HttpRequest) -> HttpResponse:
    """Day, week, month and agenda views of the user's calendars (the view and date come from the query)."""
    scope = _scope(request)
    if not scope.calendars().exists():
        services.calendar_create(owner=request.user, name="My calendar")  # type: ignore[arg-type]
    user = request.user
    calendars = selectors.grid_calendars(scope.editable_calendars())
    hidden = _hidden(request)
    today = timezone.now().astimezone(_zone(request)).date()
    hours = weekly_hours(personal_for([user]).get(user.pk), policy_for(scope.tenant))  # type: ignore[list-item]
    context = {
        "calendars": [grid.calendar_json(c, user.pk, hidden) for c in calendars],
        "writable": [c for c in calendars if "VEVENT" in c.components.split(",")],
        "main_calendar": selectors.main_calendar(scope.calendars()),
        "initial_date": _initial_day(request) or today,
        "first_day": (user.week_start + 1) % 7,  # type: ignore[union-attr]  # FullCalendar counts from Sunday
        "business_hours": [
            {"daysOfWeek": [(day + 1) % 7], "startTime": a.strftime("%H:%M"), "endTime": b.strftime("%H:%M")}
            for day, (a, b) in sorted(hours.items())
        ],
        "scroll_time": min((a for a, _ in hours.values()), default=None),
        "view": request.GET.get("view", ""),
        "pick_form": PickForm(auto_id="quick_%s"),
    }
    return render(request, "events/calendar.html", context)


def _initial_day(request: HttpRequest) -> date | None:
    """The day asked for (?date=, or ?week= as older links say); None when none or unreadable."""
    try:
        day = grid.parse_moment(request.GET.get("date") or request.GET.get("week"), _zone(request), all_day=True)
    except GridInputError:
        return None
    return day if isinstance(day, date) else None


# --- reading ------------------------------------------------------------------------------------------------


@require_GET
@json_endpoint
def events_feed(request: HttpRequest) -> HttpResponse:
    """GET ?start=&end=: the shown calendars' occurrences in the range, as FullCalendar event objects."""
    zone = _zone(request)
    start, end = grid.parse_range(request.GET.get("start"), request.GET.get("end"), zone)
    calendars = selectors.grid_calendars(_scope(request).editable_calendars())
    found = selectors.grid_occurrences(calendars=calendars, hidden=_hidden(request), start=start, end=end)
    viewer = request.user.pk
    return JsonResponse(
        {"events": [grid.event_json(o, zone, viewer) for o in found], "truncated": found.truncated},  # type: ignore[arg-type]
    )


# --- writing ------------------------------------------------------------------------------------------------


@require_POST
@json_endpoint
def event_create(request: HttpRequest) -> HttpResponse:
    """POST {title, start, end, allDay, calendar, client?, project?, activity?}: a new event from the quick form
    or a drag on the grid."""
    data = grid.parse_body(request.body)
    title = grid.parse_title(data.get("title"))
    timing = grid.parse_timing(data, _zone(request))
    calendar = _writable_calendar(request, data.get("calendar"))
    picked = _picked(request, data)
    result = services.event_quick_create(calendar=calendar, title=title, start=timing.start, end=timing.end, **picked)
    return JsonResponse({"id": result.event.pk, "seq": result.event.seq, "title": result.event.title}, status=201)


def _picked(request: HttpRequest, data: dict[str, Any]) -> dict[str, str]:
    """The client, project and activity typed in the quick form, checked as the event form checks them."""
    fields = {"client": data.get("client"), "project": data.get("project"), "activity_type": data.get("activity")}
    form = PickForm({k: v for k, v in fields.items() if isinstance(v, str)}, picks=Picks(_scope(request).tenant.pk))
    if not form.is_valid():
        raise GridInputError(" ".join(str(m) for errors in form.errors.values() for m in errors))
    return {name: form.cleaned_data[name] for name in fields}


def _writable_calendar(request: HttpRequest, value: object) -> Calendar:
    calendars = _scope(request).editable_calendars()
    found = calendars.filter(pk=value).first() if isinstance(value, int) or str(value).isdigit() else None
    if found is None:
        raise GridInputError("Choose one of your calendars.")
    if "VEVENT" not in found.components.split(","):
        raise GridInputError(f"The calendar {found.name!r} holds only tasks.")
    return found


@require_POST
@json_endpoint
def event_change(request: HttpRequest, pk: int) -> HttpResponse:
    """POST {start, end, allDay[, recurrenceId, scope]} with If-Match: the event's version: move or resize."""
    master = _scope(request).event(pk)
    if master.parent_id is not None or master.kind != Event.Kind.EVENT:
        raise GridInputError("Only events can be moved on the calendar.")
    if grid.private_to(master, request.user.pk):  # type: ignore[arg-type]
        return _error(403, "This is a private event of the calendar's owner; only they can move it.", "private")
    version = grid.parse_if_match(request.headers.get("If-Match"))
    data = grid.parse_body(request.body)
    timing = grid.parse_timing(data, _zone(request))
    instant, scope = grid.parse_occurrence(data)
    if instant is None:
        result = services.event_reschedule(master=master, start=timing.start, end=timing.end, if_match=version)
    else:
        result = _series_change(request, master, instant, scope, timing, version)
    return JsonResponse({"id": result.event.pk, "seq": result.event.seq})


def _series_change(
    request: HttpRequest, master: Event, instant: datetime, scope: str, timing: grid.Timing, version: int
) -> services.SaveResult:
    """This occurrence, this and following (a split per RFC 5545) or all: events.series, the one implementation
    the occurrence form uses too."""
    if not master.is_recurring:
        raise GridInputError("This event does not repeat.")
    changes = {
        "start": services.in_event_terms(master, timing.start, all_day=timing.all_day),
        "end": services.in_event_terms(master, timing.end, all_day=timing.all_day),
        "all_day": timing.all_day,
    }
    return series.occurrence_change(user=request.user, master=master, recurrence_id=instant, changes=changes,  # type: ignore[arg-type]
                                    scope=scope, if_match=version)  # type: ignore[arg-type]  # fmt: skip


@require_POST
@json_endpoint
def calendar_visibility(request: HttpRequest) -> HttpResponse:
    """POST {calendar, shown}: switch a calendar on or off in the grid; remembered for the user."""
    data = grid.parse_body(request.body)
    value = data.get("calendar")
    visible = selectors.grid_calendars(_scope(request).editable_calendars())
    calendar = next((c for c in visible if str(c.pk) == str(value)), None)
    if calendar is None or not isinstance(data.get("shown"), bool):
        raise GridInputError("Choose one of your calendars and whether to show it.")
    hidden = account_services.calendar_visibility_set(
        user=request.user,  # type: ignore[arg-type]
        calendar_id=calendar.pk,
        shown=data["shown"],
    )
    return JsonResponse({"hidden": hidden})
