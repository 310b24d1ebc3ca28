"""Forms for events, tasks, calendars and ICS import. They validate and build canonical components."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from business.selectors import name_key
from business.services import Resolver

from .ical import UTC, Alarm, Attendee, Component, ICalError, Temporal, alarm_minutes
from .limits import check_date, validate_rrule
from .models import SHOW_AS, Calendar, Event

_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
_TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_ATTENDEE = re.compile(r"^\s*(?:(?P<name>[^<]*?)\s*<(?P<email>[^>]+)>|(?P<bare>\S+))\s*$")


def parse_attendee_lines(text: str) -> list[tuple[str, str]]:
    """(name, email) for each line "email" or "Name <email>"; ValidationError naming a line that is neither."""
    people = []
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _ATTENDEE.match(line)
        email = (match.group("email") or match.group("bare")) if match else ""
        try:
            forms.EmailField().clean(email)
        except ValidationError:
            raise ValidationError(f"'{line.strip()}' is not an email address (or Name <email>).") from None
        assert match is not None  # an address was found above
        people.append((match.group("name") or "", email.strip()))
    return people


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class RepeatChoices:
    NONE, DAILY, WEEKLY, MONTHLY, YEARLY, CUSTOM = "", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "CUSTOM"
    choices = [
        (NONE, "Does not repeat"),
        (DAILY, "Daily"),
        (WEEKLY, "Weekly"),
        (MONTHLY, "Monthly"),
        (YEARLY, "Yearly"),
        (CUSTOM, "Custom rule (RRULE)"),
    ]


def _in_range(value: date) -> date:
    """The years calsync stores (events.limits), checked on the field before any date arithmetic can overflow."""
    try:
        check_date(value)
    except ICalError as exc:
        raise ValidationError(str(exc)) from None
    return value


class _TimingMixin(forms.Form):
    """Start/end as a date plus an optional time, in a named zone, or all day."""

    all_day = forms.BooleanField(required=False)
    start_date = forms.DateField(widget=_DATE)
    start_time = forms.TimeField(required=False, widget=_TIME)
    end_date = forms.DateField(widget=_DATE)
    end_time = forms.TimeField(required=False, widget=_TIME)
    timezone = forms.CharField(
        max_length=64,
        required=False,
        label="Time zone",
        widget=forms.TextInput(
            attrs={"list": "timezones", "autocomplete": "off", "placeholder": "No time zone (floating)"}
        ),
        help_text="Empty: no time zone (floating), the same clock time wherever you are.",
    )

    def clean_start_date(self) -> date:
        return _in_range(self.cleaned_data["start_date"])

    def clean_end_date(self) -> date:
        return _in_range(self.cleaned_data["end_date"])

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"].strip()
        if name and name not in zoneinfo.available_timezones():
            raise ValidationError(
                f"'{name}' is not a time zone calsync knows. Pick one from the list, e.g. Europe/Paris."
            )
        return name

    def _timing(self) -> tuple[Temporal, Temporal] | None:
        data = self.cleaned_data
        if not all(k in data for k in ("start_date", "end_date", "timezone")):
            return None
        if data.get("all_day"):
            start: Temporal = data["start_date"]
            # Users enter the last day; iCalendar's DTEND is exclusive (RFC 5545 3.6.1).
            end: Temporal = data["end_date"] + timedelta(days=1)
        else:
            if data.get("start_time") is None or data.get("end_time") is None:
                raise ValidationError("Give a start and an end time, or tick 'All day'.")
            zone = zoneinfo.ZoneInfo(data["timezone"]) if data["timezone"] else None  # None: floating time
            start = datetime.combine(data["start_date"], data["start_time"], tzinfo=zone)
            end = datetime.combine(data["end_date"], data["end_time"], tzinfo=zone)
        if _instant(end) < _instant(start):
            raise ValidationError("The event ends before it starts.")
        return start, end


def initial_timing(start: Temporal | None, end: Temporal | None, zone: str) -> dict[str, Any]:
    if start is None:
        return {"timezone": zone}
    if not isinstance(start, datetime):
        last = (end - timedelta(days=1)) if isinstance(end, date) and end > start else start
        return {"all_day": True, "start_date": start, "end_date": last, "timezone": zone}
    # Floating time stays floating: offering the user's zone instead would pin it there on the next save.
    floating = start.tzinfo is None
    tz = zoneinfo.ZoneInfo(zone) if zone else UTC
    local_start = start if floating else start.astimezone(tz)
    local_end = (end.astimezone(tz) if end.tzinfo else end) if isinstance(end, datetime) else local_start
    return {
        "start_date": local_start.date(),
        "start_time": local_start.time().replace(second=0),
        "end_date": local_end.date(),
        "end_time": local_end.time().replace(second=0),
        "timezone": "" if floating else zone or "UTC",
    }


def _instant(value: Temporal) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(0), tzinfo=UTC)


class _VersionMixin(forms.Form):
    # The item's change sequence when the form was shown, so a save cannot overwrite changes made meanwhile.
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


def _pick(kind: str) -> forms.TextInput:
    return forms.TextInput(attrs={"list": f"pick-{kind}", "autocomplete": "off", "data-pick": kind})


_PICKED = (("client", "client"), ("project", "project"), ("activity_type", "activity"))


@dataclass(frozen=True)
class Picks:
    """What may be picked for an event: not an archived client, project or activity, unless the event (or the
    occurrence) already had it; editing an old event must not force a new client on it."""

    tenant_id: int
    had: Component | None = None

    def problems(self, data: dict[str, Any]) -> dict[str, str]:
        names = {field: data.get(field) or "" for field, _ in _PICKED}
        found = Resolver(self.tenant_id).known(client=names["client"], project=names["project"],
                                               activity=names["activity_type"])  # fmt: skip
        problems = {}
        for field, link in _PICKED:
            entry = getattr(found, link)
            kept = self.had is not None and name_key(getattr(self.had, field)) == name_key(names[field])
            if entry is not None and entry.is_archived and not kept:
                problems[field] = f"The {link} “{entry.name}” is archived: pick another, or ask an admin to restore it."
        return problems


class PickForm(forms.Form):
    """An event's client, project and activity, typed or picked from the organisation's lists
    (templates/business/_pick_fields.html offers them): the event forms and the calendar grid's quick form."""

    client = forms.CharField(max_length=200, required=False, widget=_pick("clients"))
    project = forms.CharField(max_length=200, required=False, widget=_pick("projects"))
    activity_type = forms.CharField(max_length=200, required=False, widget=_pick("activities"), label="Activity")

    def __init__(self, *args: Any, picks: Picks | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.picks = picks

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for field, problem in (self.picks.problems(data) if self.picks else {}).items():
            self.add_error(field, problem)
        return data


class _DetailsMixin(_VersionMixin, PickForm):
    title = forms.CharField(max_length=500)
    location = forms.CharField(max_length=500, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    visibility = forms.ChoiceField(choices=Event.Visibility.choices, initial=Event.Visibility.PUBLIC)
    show_as = forms.ChoiceField(choices=list(SHOW_AS.items()), initial="BUSY", label="Show as")
    status = forms.ChoiceField(
        choices=[("CONFIRMED", "Confirmed"), ("TENTATIVE", "Tentative"), ("CANCELLED", "Cancelled")],
        initial="CONFIRMED",
    )
    attendees = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Ann Smith <ann@example.com>, one per line"}),
        help_text="One per line: an email address, or Name <email>.",
    )
    reminder_minutes = forms.IntegerField(
        required=False, min_value=0, max_value=40320, label="Reminder (minutes before)"
    )

    def clean_attendees(self) -> list[tuple[str, str]]:
        return parse_attendee_lines(self.cleaned_data["attendees"])

    def _attendees(self, existing: tuple[Attendee, ...]) -> tuple[Attendee, ...]:
        """The attendees as entered, keeping the replies of those already invited."""
        known = {a.email.lower(): a for a in existing}
        result = []
        for name, email in self.cleaned_data["attendees"]:
            old = known.get(email.lower())
            result.append(replace(old, name=name or old.name) if old else Attendee(email=email, name=name, rsvp=True))
        return tuple(result)

    def _alarms(self, existing: tuple[Alarm, ...]) -> tuple[Alarm, ...]:
        minutes = self.cleaned_data.get("reminder_minutes")
        rest = existing[1:]
        if minutes is None:
            return rest
        first = Alarm(trigger=f"-PT{minutes}M", description="Reminder")
        if existing:
            first = replace(existing[0], trigger=first.trigger)
        return (first, *rest)

    def details(self, base: Component) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "summary": data["title"],
            "location": data["location"],
            "description": data["description"],
            "visibility": "" if data["visibility"] == Event.Visibility.PUBLIC else data["visibility"],
            **_show_as(data["show_as"], base),
            "status": data["status"],
            "attendees": self._attendees(base.attendees),
            "alarms": self._alarms(base.alarms),
            "client": data["client"],
            "project": data["project"],
            "activity_type": data["activity_type"],
        }

    @staticmethod
    def initial_details(component: Component) -> dict[str, Any]:
        minutes = alarm_minutes(component.alarms[0]) if component.alarms else None
        return {
            "title": component.summary,
            "location": component.location,
            "description": component.description,
            "visibility": component.visibility or Event.Visibility.PUBLIC,
            "show_as": component.busy_status or ("FREE" if component.transparency == "TRANSPARENT" else "BUSY"),
            "status": component.status or "CONFIRMED",
            "attendees": "\n".join(f"{a.name} <{a.email}>" if a.name else a.email for a in component.attendees),
            "reminder_minutes": minutes,
            "client": component.client,
            "project": component.project,
            "activity_type": component.activity_type,
        }


def _show_as(choice: str, base: Component) -> dict[str, str]:
    """TRANSP says busy or free; the finer statuses go in busy_status. A busy or free status the event already
    had explicitly (from Outlook) is kept as it was, so an unchanged choice writes nothing new."""
    kept = choice in ("BUSY", "FREE") and base.busy_status == choice
    return {
        "transparency": "TRANSPARENT" if choice == "FREE" else "",
        "busy_status": choice if choice not in ("BUSY", "FREE") or kept else "",
    }


class EventForm(_DetailsMixin, _TimingMixin):
    calendar = forms.ModelChoiceField(queryset=Calendar.objects.none(), empty_label=None)
    repeat = forms.ChoiceField(choices=RepeatChoices.choices, required=False)
    repeat_until = forms.DateField(required=False, widget=_DATE)
    rrule = forms.CharField(
        max_length=1000,
        required=False,
        label="Custom rule",
        help_text="An RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO,WE",
    )

    field_order = [
        "calendar", "title", "all_day", "start_date", "start_time", "end_date", "end_time", "timezone",
        "repeat", "repeat_until", "rrule", "location", "description",
    ]  # fmt: skip

    def __init__(self, *args: Any, calendars: QuerySet[Calendar], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = calendars  # type: ignore[attr-defined]

    def clean_repeat_until(self) -> date | None:
        until = self.cleaned_data["repeat_until"]
        return None if until is None else _in_range(until)

    def clean_rrule(self) -> str:
        text = self.cleaned_data["rrule"].strip()
        return text[6:] if text.upper().startswith("RRULE:") else text

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            data["timing"] = self._timing()
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        data["rrule_text"] = self._rrule()
        if data["rrule_text"] and data["timing"]:
            try:
                validate_rrule(data["rrule_text"], data["timing"][0])
            except ICalError as exc:
                self.add_error("rrule" if data.get("repeat") == RepeatChoices.CUSTOM else "repeat", str(exc))
        return data

    def _rrule(self) -> str:
        data = self.cleaned_data
        repeat = data.get("repeat") or ""
        if repeat == RepeatChoices.CUSTOM:
            if not data.get("rrule"):
                self.add_error("rrule", "Enter a rule, or choose another repeat option.")
            return data.get("rrule", "")
        if not repeat:
            return ""
        rule = f"FREQ={repeat}"
        until = data.get("repeat_until")
        if until:
            if data.get("all_day"):
                rule += f";UNTIL={until:%Y%m%d}"
            elif not data["timezone"]:
                rule += f";UNTIL={until:%Y%m%d}T235959"  # floating, like its DTSTART (RFC 5545 3.3.10)
            else:
                # UNTIL is inclusive and must be UTC for zoned events (RFC 5545 3.3.10).
                zone = zoneinfo.ZoneInfo(data["timezone"])
                last = datetime.combine(until, time(23, 59, 59), tzinfo=zone).astimezone(UTC)
                rule += f";UNTIL={last:%Y%m%dT%H%M%SZ}"
        return rule

    def component(self, base: Component) -> Component:
        start, end = self.cleaned_data["timing"]
        return replace(base, start=start, end=end, rrule=self.cleaned_data["rrule_text"], **self.details(base))

    @classmethod
    def initial_for(cls, component: Component, calendar: Calendar, zone: str) -> dict[str, Any]:
        initial = {"calendar": calendar.pk, **cls.initial_details(component)}
        initial.update(initial_timing(component.start, component.end, zone))
        repeat, until = _simple_repeat(component.rrule)
        initial.update(
            {"repeat": repeat, "repeat_until": until, "rrule": component.rrule if repeat == "CUSTOM" else ""}
        )
        return initial


def _simple_repeat(rrule: str) -> tuple[str, date | None]:
    if not rrule:
        return "", None
    parts = dict(p.split("=", 1) for p in rrule.upper().split(";") if "=" in p)
    if set(parts) - {"FREQ", "UNTIL"} or parts.get("FREQ") not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        return RepeatChoices.CUSTOM, None
    until = parts.get("UNTIL")
    return parts["FREQ"], (datetime.strptime(until[:8], "%Y%m%d").date() if until else None)


class OccurrenceForm(_DetailsMixin, _TimingMixin):
    """Edit an occurrence of a series: it alone, it and the ones after it, or every occurrence (events.series)."""

    scope = forms.ChoiceField(
        choices=[("this", "This occurrence"), ("following", "This and following occurrences"),
                 ("all", "All occurrences")],
        initial="this", widget=forms.RadioSelect, label="Change", required=False,
    )  # fmt: skip

    def clean_scope(self) -> str:
        return self.cleaned_data.get("scope") or "this"  # a form posted without the choice changes one occurrence

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            try:
                data["timing"] = self._timing()
            except ValidationError as exc:
                raise ValidationError(exc.messages) from None
        return data

    def changes(self, base: Component) -> dict[str, Any]:
        start, end = self.cleaned_data["timing"]
        return {"start": start, "end": end, **self.details(base)}

    def series_changes(self, base: Component) -> dict[str, Any]:
        """The changes as events.series takes them: with whether the occurrence is now all day."""
        changes = self.changes(base)
        return {**changes, "all_day": not isinstance(changes["start"], datetime)}


class TaskForm(_VersionMixin):
    calendar = forms.ModelChoiceField(queryset=Calendar.objects.none(), empty_label=None)
    title = forms.CharField(max_length=500)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    due = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    priority = forms.TypedChoiceField(
        choices=[("", "None"), ("1", "High"), ("5", "Medium"), ("9", "Low")],
        required=False,
        coerce=int,
        empty_value=None,
    )
    completed = forms.BooleanField(required=False, label="Done")

    def __init__(self, *args: Any, calendars: QuerySet[Calendar], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = calendars  # type: ignore[attr-defined]

    def component(self, base: Component, now: datetime) -> Component:
        data = self.cleaned_data
        done = data["completed"]
        return replace(
            base,
            kind="VTODO",
            summary=data["title"],
            description=data["description"],
            due=data["due"],
            priority=data["priority"],
            status="COMPLETED" if done else ("NEEDS-ACTION" if base.status == "COMPLETED" else base.status),
            completed=(base.completed or now.astimezone(UTC).replace(microsecond=0)) if done else None,
            percent_complete=100 if done else (None if base.percent_complete == 100 else base.percent_complete),
        )


class CalendarForm(forms.Form):
    name = forms.CharField(max_length=200)
    color = forms.CharField(
        max_length=7,
        label="Colour",
        widget=forms.TextInput(attrs={"type": "color"}),
        help_text="How its events look here, and in CalDAV apps and connected CalDAV calendars.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_color(self) -> str:
        color = self.cleaned_data["color"]
        if not _COLOR.match(color):
            raise ValidationError("Pick a colour like #3b82f6.")
        return color.lower()


class ImportForm(forms.Form):
    file = forms.FileField(label="iCalendar (.ics) file")

    def clean_file(self) -> tuple[str, str]:
        upload = self.cleaned_data["file"]
        if upload.size > settings.ICS_IMPORT_MAX_BYTES:
            raise ValidationError(
                f"The file is {upload.size // 1024} KB; the limit is {settings.ICS_IMPORT_MAX_BYTES // 1024} KB."
            )
        raw = upload.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError("The file is not UTF-8 text; iCalendar files must be (RFC 5545 3.1.4).") from None
        if "BEGIN:VCALENDAR" not in text[:4096].upper():
            raise ValidationError("This is not an iCalendar file: it does not start with BEGIN:VCALENDAR.")
        return upload.name, text
