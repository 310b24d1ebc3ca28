"""Calendar pages. Views parse input, call a service or selector, and render; nothing else."""

from __future__ import annotations

import zoneinfo
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.tenancy import Scope
from dav.resources import calendar_href
from integrations.selectors import calendar_integrations, event_copies, integration_label

from . import selectors, series, services
from .convert import component_from_event, item_from_event, occurrence_value
from .forms import (
    CalendarForm,
    EventForm,
    ImportForm,
    OccurrenceForm,
    Picks,
    TaskForm,
    initial_timing,
    timezone_choices,
)
from .grid import private_to
from .ical import UTC, Component, ICalError, Item, as_utc, serialise
from .listing import list_occurrences
from .models import Event, ImportJob


def _scope(request: HttpRequest) -> Scope:
    return Scope(request.user)  # type: ignore[arg-type]


def _user_zone(request: HttpRequest) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(request.user.timezone)  # type: ignore[union-attr]


def _day_param(request: HttpRequest, name: str, default: date) -> date:
    """A date from the query string; anything unreadable or absurdly far away means the default."""
    try:
        day = date.fromisoformat(request.GET.get(name, ""))
    except ValueError:
        return default
    return day if date(1900, 1, 1) <= day <= date(2999, 12, 31) else default


def _ensure_calendar(request: HttpRequest) -> None:
    """Every user has at least one calendar to put events in."""
    scope = _scope(request)
    if not scope.calendars().exists():
        services.calendar_create(owner=request.user, name="My calendar")  # type: ignore[arg-type]


def _selected_calendars(request: HttpRequest) -> Any:
    calendars = _scope(request).calendars()
    hidden = {int(v) for v in request.GET.getlist("hide") if v.isdigit()}
    return calendars.exclude(pk__in=hidden), hidden


def _list_range(request: HttpRequest, today: date) -> tuple[date, date, str]:
    """The days the list shows (from, to inclusive) and, when the query asked for something else, why not."""
    most = settings.EVENTS_LIST_MAX_DAYS
    first = _day_param(request, "from", today)
    last = _day_param(request, "to", first + timedelta(days=30))
    problem = ""
    for name in ("from", "to"):
        text = request.GET.get(name, "")
        if text and _day_param(request, name, date.min) == date.min:
            problem = f"“{text[:40]}” is not a date like {today.isoformat()}; showing the usual range instead."
    if last < first:
        last, problem = first + timedelta(days=30), "The range ended before it began; showing 31 days from its start."
    if (last - first).days >= most:
        last = first + timedelta(days=most - 1)
        problem = f"A page shows at most {most} days: these are the first {most}; “Later” shows the next."
    return first, last, problem


@login_required
def calendar_list(request: HttpRequest) -> HttpResponse:
    _ensure_calendar(request)
    zone = _user_zone(request)
    first, last, problem = _list_range(request, timezone.now().astimezone(zone).date())
    calendars, hidden = _selected_calendars(request)
    found = list_occurrences(
        calendars=list(calendars),
        start=datetime.combine(first, time(0), tzinfo=zone),
        end=datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone),
    )
    span = timedelta(days=(last - first).days + 1)
    context = {
        "occurrences": found,
        "truncated": found.truncated,
        "first": first,
        "last": last,
        "range_problem": problem,
        "earlier": {"from": first - span, "to": first - timedelta(days=1)},
        "later": {"from": last + timedelta(days=1), "to": last + span},
        "calendars": _scope(request).calendars(),
        "hidden": hidden,
    }
    return render(request, "events/list.html", context)


SEARCH_MAX_CHARS = 200


def _instant_param(request: HttpRequest, name: str) -> datetime | None:
    """An aware instant from the query string (a next-page link); None for anything else."""
    try:
        value = datetime.fromisoformat(request.GET.get(name, ""))
    except ValueError:
        return None
    return value if value.tzinfo is not None and 1900 <= value.year <= 2999 else None


@login_required
def calendar_search(request: HttpRequest) -> HttpResponse:
    """Events in the user's calendars (and those shared with them to edit) whose words match, as an agenda."""
    zone = _user_zone(request)
    query = request.GET.get("q", "").strip()[:SEARCH_MAX_CHARS]
    first = _day_param(request, "from", timezone.now().astimezone(zone).date())
    start = _instant_param(request, "after") or datetime.combine(first, time(0), tzinfo=zone)
    scope = _scope(request)
    viewer: Any = request.user
    results = selectors.search(
        calendars=scope.editable_calendars(), viewer=viewer, text=query, start=start.astimezone(zone)
    )
    return render(
        request,
        "events/search.html",
        {
            "query": query,
            "first": start.astimezone(zone).date(),
            "results": results,
            "earlier": start.astimezone(zone).date() - timedelta(days=365),
            "too_many_words": len(query.split()) > selectors.SEARCH_MAX_TERMS,
        },
    )


# --- events ----------------------------------------------------------------------------


def _event_form_context(request: HttpRequest, form: Any, **extra: Any) -> dict[str, Any]:
    return {"form": form, "timezones": timezone_choices(), **extra}


@login_required
def event_create(request: HttpRequest) -> HttpResponse:
    _ensure_calendar(request)
    scope = _scope(request)
    calendars = scope.calendars()
    if request.method == "POST":
        form = EventForm(request.POST, calendars=calendars, picks=Picks(scope.tenant.pk))
        if form.is_valid():
            base = Component(uid=services.new_uid(), status="CONFIRMED")
            item = Item(master=form.component(base))
            result = _save_or_report(request, form, form.cleaned_data["calendar"], item)
            if result is not None:
                messages.success(request, f"“{result.event.title}” was created.")
                return redirect(_week_of(result.event))
    else:
        zone = request.user.timezone  # type: ignore[union-attr]
        day = _day_param(request, "date", timezone.now().astimezone(_user_zone(request)).date())
        start = datetime.combine(day, time(9), tzinfo=zoneinfo.ZoneInfo(zone))
        timing = initial_timing(start, start + timedelta(hours=1), zone)
        form = EventForm(calendars=calendars, initial={"calendar": selectors.main_calendar(calendars), **timing})
    return render(request, "events/event_form.html", _event_form_context(request, form, creating=True))


def _save_or_report(request: HttpRequest, form: Any, calendar: Any, item: Item, **kwargs: Any) -> Any:
    try:
        return services.item_save(calendar=calendar, item=item, **kwargs)
    except (ICalError, services.NameConflict) as exc:
        form.add_error(None, str(exc))
    except services.PreconditionFailed:
        form.add_error(None, "Someone changed this event while you were editing it. Reload and try again.")
    return None


def _week_of(event: Event) -> str:
    when = event.start or timezone.now()
    return f"{reverse('events:calendar')}?date={when.date().isoformat()}"


@login_required
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = _scope(request).event(pk)
    master = event.parent or event
    if master.kind != Event.Kind.EVENT:
        return redirect("events:task_edit", pk=master.pk)
    return render(request, "events/event_detail.html", _detail_context(request, master))


def _detail_context(request: HttpRequest, master: Event) -> dict[str, Any]:
    occurrence = _occurrence_param(request.GET.get("occurrence", ""))
    item = item_from_event(master)
    override = None
    if occurrence is not None:
        override = next((o for o in item.overrides if as_utc(o.recurrence_id) == occurrence), None)
    shown = override or item.master
    start, end = master.start, master.end
    if override is not None and override.start is not None:
        start, end = as_utc(override.start), as_utc(override.end or override.start)
    elif occurrence is not None and master.start and master.end:
        start, end = occurrence, occurrence + (master.end - master.start)
    # Shown in the form the series was given in: an all-day date, floating clock time, or an instant (the page's
    # zone), never the UTC stand-ins stored for the first two.
    start, end = (occurrence_value(master, v) if v is not None else None for v in (start, end))
    if master.all_day and end is not None and end != start:
        end = end - timedelta(days=1)  # DTEND is exclusive: a one-day event ends the day it starts
    return {
        "event": master,
        "component": shown,
        "when_start": start,
        "when_end": end,
        "item": item,
        "occurrence": occurrence,
        "occurrence_key": _rid_key(occurrence) if occurrence else "",
        "copies": event_copies(event=master, viewer=request.user),  # type: ignore[arg-type]
        # Someone else's private event, opened through a calendar shared to edit: the time is all it shows.
        "hidden": private_to(master, request.user.pk),  # type: ignore[arg-type]
    }


@login_required
def event_summary(request: HttpRequest, pk: int) -> HttpResponse:
    """The event's summary alone (the detail page's facts), for a popover on the calendar."""
    event = _scope(request).event(pk)
    master = event.parent or event
    if master.kind != Event.Kind.EVENT:
        raise Http404("Not an event.")
    return render(request, "events/_event_summary.html", {**_detail_context(request, master), "standalone": True})


def _occurrence_param(text: str) -> datetime | None:
    try:
        return _parse_rid(text)
    except Http404:
        return None


def _rid_key(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime(selectors.RECURRENCE_KEY_FORMAT)


def _parse_rid(text: str) -> datetime:
    try:
        return datetime.strptime(text, selectors.RECURRENCE_KEY_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise Http404("No such occurrence.") from None


@login_required
def event_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    master = scope.event(pk)
    if master.parent_id is not None or master.kind != Event.Kind.EVENT:
        raise Http404("Not an event series.")
    item = item_from_event(master)
    calendars = scope.editable_calendars()  # a colleague's calendar shared to edit keeps its event there
    if request.method == "POST":
        form = EventForm(request.POST, calendars=calendars, picks=Picks(scope.tenant.pk, had=item.master))
        if form.is_valid():
            result = _move_or_save(request, form, master, item)
            if result is not None:
                messages.success(request, f"“{result.event.title}” was saved.")
                return redirect(_week_of(result.event))
    else:
        zone = master.timezone or request.user.timezone  # type: ignore[union-attr]
        initial = {**EventForm.initial_for(item.master, master.calendar, zone), "version": master.seq}
        form = EventForm(calendars=calendars, initial=initial)
    return render(request, "events/event_form.html", _event_form_context(request, form, event=master))


def _move_or_save(request: HttpRequest, form: EventForm, master: Event, item: Item) -> Any:
    new_item = replace(item, master=form.component(item.master))
    target = form.cleaned_data["calendar"]
    if target.pk == master.calendar_id:
        version = form.cleaned_data.get("version") or master.seq
        return _save_or_report(request, form, target, new_item, name=master.name, if_match=version)
    # Moving to another calendar: create there, then delete here.
    result = _save_or_report(request, form, target, new_item, if_none_match=True)
    if result is not None:
        services.item_delete(event=master)
    return result


@login_required
@require_POST
def event_delete(request: HttpRequest, pk: int) -> HttpResponse:
    event = _scope(request).event(pk)
    master = event.parent or event
    title = master.title
    try:
        services.item_delete(event=master, deleted_by=request.user)  # type: ignore[arg-type]
    except services.PreconditionFailed:
        messages.info(request, f"“{title}” was already deleted.")
    else:
        messages.success(request, f"“{title}” was deleted.")
    return redirect("events:task_list" if master.kind == Event.Kind.TASK else "events:calendar")


def _series(request: HttpRequest, pk: int, rid: str) -> tuple[Event, datetime]:
    master = _scope(request).event(pk)
    if master.parent_id is not None or not master.is_recurring:
        raise Http404("Not a recurring series.")
    return master, _parse_rid(rid)


@login_required
def occurrence_edit(request: HttpRequest, pk: int, rid: str) -> HttpResponse:
    master, instant = _series(request, pk, rid)
    item = item_from_event(master)
    recurrence_id = occurrence_value(master, instant)
    existing = next((o for o in item.overrides if as_utc(o.recurrence_id) == instant), None)
    base = existing or replace(
        item.master, start=recurrence_id, end=_shifted(item.master, recurrence_id), rrule="", rdates=(), exdates=()
    )
    if request.method == "POST":
        form = OccurrenceForm(request.POST, picks=Picks(master.tenant_id, had=base))
        if form.is_valid() and _occurrence_change(request, form, master, recurrence_id, base):
            return redirect(f"{reverse('events:calendar')}?date={form.cleaned_data['start_date'].isoformat()}")
    else:
        zone = master.timezone or request.user.timezone  # type: ignore[union-attr]
        scope = request.GET.get("scope") if request.GET.get("scope") in series.SCOPES else "this"
        form = OccurrenceForm(
            initial={
                **OccurrenceForm.initial_details(base),
                **initial_timing(base.start, base.end, zone),
                "version": master.seq,
                "scope": scope,
            }
        )
    return render(
        request,
        "events/occurrence_form.html",
        {"form": form, "event": master, "original": instant, "timezones": timezone_choices()},
    )


_CHANGED = {
    "this": "This occurrence was changed; the rest of the series is unchanged.",
    "following": "This and the following occurrences were changed: they are now a series of their own.",
    "all": "Every occurrence of the series was changed.",
}


def _occurrence_change(request: HttpRequest, form: OccurrenceForm, master: Event, rid: Any, base: Component) -> bool:
    scope = form.cleaned_data["scope"]
    try:
        series.occurrence_change(
            user=request.user,  # type: ignore[arg-type]
            master=master,
            recurrence_id=rid,
            changes=form.series_changes(base),
            scope=scope,
            if_match=form.cleaned_data.get("version"),
        )
    except ICalError as exc:
        form.add_error(None, str(exc))
    except services.PreconditionFailed:
        form.add_error(None, "Someone changed this series while you were editing it. Reload and try again.")
    else:
        messages.success(request, _CHANGED[scope])
        return True
    return False


def _shifted(master: Component, start: Any) -> Any:
    if master.start is None or master.end is None:
        return start
    return start + (master.end - master.start)


@login_required
@require_POST
def occurrence_delete(request: HttpRequest, pk: int, rid: str) -> HttpResponse:
    master, instant = _series(request, pk, rid)
    services.occurrence_cancel(master=master, recurrence_id=occurrence_value(master, instant))
    messages.success(request, "The occurrence was removed from the series.")
    return redirect(f"{reverse('events:calendar')}?date={instant.date().isoformat()}")


# --- tasks -------------------------------------------------------------------------------


@login_required
def task_list(request: HttpRequest) -> HttpResponse:
    _ensure_calendar(request)
    tasks = (
        _scope(request)
        .events()
        .filter(kind=Event.Kind.TASK, parent=None)
        .select_related("calendar")
        .order_by("completed", "due", "title")
    )
    return render(request, "events/task_list.html", {"tasks": tasks})


@login_required
def task_create(request: HttpRequest) -> HttpResponse:
    return _task_form(request, None)


@login_required
def task_edit(request: HttpRequest, pk: int) -> HttpResponse:
    task = _scope(request).event(pk)
    if task.kind != Event.Kind.TASK or task.parent_id is not None:
        raise Http404("Not a task.")
    return _task_form(request, task)


def _task_form(request: HttpRequest, task: Event | None) -> HttpResponse:
    _ensure_calendar(request)
    calendars = _scope(request).calendars()
    base = (
        component_from_event(task) if task else Component(kind="VTODO", uid=services.new_uid(), status="NEEDS-ACTION")
    )
    if request.method == "POST":
        form = TaskForm(request.POST, calendars=calendars)
        if form.is_valid():
            item = Item(master=form.component(base, timezone.now()))
            version = form.cleaned_data.get("version") or (task.seq if task else None)
            kwargs: dict[str, Any] = {"name": task.name, "if_match": version} if task else {}
            if task and form.cleaned_data["calendar"].pk != task.calendar_id:
                kwargs = {}
            result = _save_or_report(request, form, form.cleaned_data["calendar"], item, **kwargs)
            if result is not None:
                if task and task.calendar_id != result.event.calendar_id:
                    services.item_delete(event=task)
                messages.success(request, f"Task “{result.event.title}” was saved.")
                return redirect("events:task_list")
    else:
        due = task.due.astimezone(_user_zone(request)).replace(tzinfo=None) if task and task.due else None
        initial = {
            "calendar": task.calendar_id if task else selectors.main_calendar(calendars),
            "title": base.summary,
            "description": base.description,
            "due": due,
            "priority": base.priority,
            "completed": base.status == "COMPLETED",
            "version": task.seq if task else None,
        }
        form = TaskForm(calendars=calendars, initial=initial)
    return render(request, "events/task_form.html", {"form": form, "task": task})


@login_required
@require_POST
def task_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return event_delete(request, pk)


# --- calendars ---------------------------------------------------------------------------


@login_required
def calendar_index(request: HttpRequest) -> HttpResponse:
    _ensure_calendar(request)
    # One query for the counts; an item is its master row (overrides and tasks are not separate events).
    calendars = (
        _scope(request)
        .calendars()
        .annotate(event_count=Count("events", filter=Q(events__parent=None, events__kind=Event.Kind.EVENT)))
    )
    main = selectors.main_calendar(_scope(request).calendars())
    return render(request, "events/calendar_index.html", {"calendars": calendars, "main": main})


@login_required
def calendar_create(request: HttpRequest) -> HttpResponse:
    # The colour starts as the one that sets the new calendar apart from the user's others.
    form = CalendarForm(request.POST or None, initial={"color": services.calendar_color_for(request.user)})  # type: ignore[arg-type]
    if request.method == "POST" and form.is_valid():
        calendar = services.calendar_create(owner=request.user, **form.cleaned_data)  # type: ignore[arg-type]
        messages.success(request, f"Calendar “{calendar.name}” was created.")
        return redirect("events:calendar_index")
    return render(request, "events/calendar_form.html", {"form": form})


@login_required
def calendar_edit(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _scope(request).calendar(pk)
    initial = {"name": calendar.name, "color": calendar.color, "description": calendar.description}
    form = CalendarForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.calendar_update(calendar=calendar, **form.cleaned_data)
        messages.success(request, f"Calendar “{calendar.name}” was saved.")
        return redirect("events:calendar_index")
    context = {
        "form": form,
        "calendar": calendar,
        "feed_url": settings.SITE_URL + reverse("dav:feed", args=[calendar.feed_token]),
        "dav_url": settings.SITE_URL + calendar_href(request.user, calendar),  # type: ignore[arg-type]
        "synced_with": [
            (i, integration_label(i))
            for i in calendar_integrations(calendar_id=calendar.pk, user=request.user)  # type: ignore[arg-type]
        ],
    }
    return render(request, "events/calendar_form.html", context)


@login_required
@require_POST
def calendar_feed_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _scope(request).calendar(pk)
    services.calendar_feed_rotate(calendar=calendar)
    messages.success(request, "The subscription link was replaced. The old link no longer works.")
    return redirect(reverse("events:calendar_edit", args=[calendar.pk]) + "#subscribe")


@login_required
@require_POST
def calendar_delete(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    calendar = scope.calendar(pk)
    if scope.calendars().count() == 1:
        messages.error(request, "This is your only calendar; create another before deleting it.")
        return redirect("events:calendar_index")
    name, was_main = calendar.name, selectors.main_calendar(scope.calendars()) == calendar
    services.calendar_delete(calendar=calendar)
    main = selectors.main_calendar(scope.calendars()) if was_main else None
    then = f" Your main calendar is now “{main.name}”." if main is not None else ""
    messages.success(request, f"Calendar “{name}” and its events were deleted.{then}")
    return redirect("events:calendar_index")


@login_required
def calendar_export(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _scope(request).calendar(pk)
    body = serialise(selectors.calendar_items([calendar]), name=calendar.name)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    filename = "".join(c if c.isalnum() or c in "-_" else "-" for c in calendar.name) or "calendar"
    response["Content-Disposition"] = f'attachment; filename="{filename}.ics"'
    return response


@login_required
def calendar_import(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = _scope(request).calendar(pk)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        filename, text = form.cleaned_data["file"]
        job = services.import_job_create(calendar=calendar, user=request.user, filename=filename, payload=text)  # type: ignore[arg-type]
        return redirect("events:import_status", pk=job.pk)
    return render(request, "events/import_form.html", {"form": form, "calendar": calendar})


@login_required
def import_status(request: HttpRequest, pk: int) -> HttpResponse:
    job = _scope(request).import_job(pk)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "status": job.status,
                "status_label": job.get_status_display(),
                "created": job.created_count,
                "updated": job.updated_count,
                "problems": job.problems,
                "error": job.error,
                "finished": job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED),
            }
        )
    return render(request, "events/import_status.html", {"job": job})
