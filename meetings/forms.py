"""The new-meeting form (prefilled from a "find a time" proposal) and the organisation's sender."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from events.forms import parse_attendee_lines
from events.ical import Attendee
from events.models import Calendar

_LOCAL = "%Y-%m-%dT%H:%M"


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"'{name}' is not a known time zone (e.g. Europe/London).") from None


def _iso(text: str, zone: zoneinfo.ZoneInfo) -> str:
    """An ISO 8601 instant from the query string as the form's local time; "" when it is not one."""
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        return ""
    if value.tzinfo is None:
        return ""
    return value.astimezone(zone).strftime(_LOCAL)


class MeetingForm(forms.Form):
    calendar = forms.ModelChoiceField(
        queryset=Calendar.objects.none(),
        empty_label=None,
        help_text="Your calendar the meeting goes on (and to the service it syncs with).",
    )
    title = forms.CharField(max_length=500)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    start = forms.DateTimeField(
        input_formats=[_LOCAL], widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL)
    )
    end = forms.DateTimeField(
        input_formats=[_LOCAL], widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL)
    )
    timezone = forms.CharField(max_length=64, widget=forms.TextInput(attrs={"list": "timezones"}))
    attendees = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One person a line: a colleague's or anyone's email, or Name <email>.",
    )
    add_attendee = forms.CharField(
        required=False,
        label="Add a colleague",
        widget=forms.TextInput(attrs={"list": "colleagues", "autocomplete": "off", "data-adds-to": "id_attendees"}),
    )

    def __init__(self, *args: Any, calendars: QuerySet[Calendar], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = calendars  # type: ignore[attr-defined]

    @classmethod
    def initial_from_query(cls, query: Any, zone_name: str) -> dict[str, str]:
        """What a "find a time" proposal passes: start, end (ISO 8601 with offset), attendees (commas), title."""
        zone = zoneinfo.ZoneInfo(zone_name)
        people = [p.strip() for p in query.get("attendees", "").split(",") if p.strip()]
        initial = {"title": query.get("title", "")[:500], "attendees": "\n".join(people), "timezone": zone_name}
        for name in ("start", "end"):
            if value := _iso(query.get(name, ""), zone):
                initial[name] = value
        return initial

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"].strip()
        _zone(name)
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        lines = "\n".join(filter(None, [data.get("attendees", ""), data.get("add_attendee", "")]))
        try:
            data["people"] = parse_attendee_lines(lines)
        except ValidationError as exc:
            self.add_error("attendees", exc)
            return data
        if not data["people"]:
            self.add_error("attendees", "Invite at least one person.")
        if "timezone" in data and data.get("start") and data.get("end"):
            zone = _zone(data["timezone"])
            data["start"] = data["start"].replace(tzinfo=zone)
            data["end"] = data["end"].replace(tzinfo=zone)
            if data["end"] <= data["start"]:
                self.add_error("end", "The meeting must end after it starts.")
        return data

    def attendee_list(self) -> list[Attendee]:
        seen: dict[str, Attendee] = {}
        for name, email in self.cleaned_data["people"]:
            seen.setdefault(email.lower(), Attendee(email=email.lower(), name=name, rsvp=True))
        return list(seen.values())


class SenderForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, label="Sender name", help_text="e.g. Acme meetings")
    email = forms.EmailField(
        required=False, label="Sender address", help_text="Leave empty to use the server's default address."
    )
