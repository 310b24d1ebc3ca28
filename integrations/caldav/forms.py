from __future__ import annotations

from typing import Any

from django import forms

from integrations.forms import SettingsForm

from .client import RemoteCalendar


class CredentialsForm(forms.Form):
    url = forms.CharField(
        label="Server address",
        max_length=500,
        help_text="For example https://caldav.icloud.com/ or your Nextcloud's https://cloud.example.com/remote.php/dav",
    )
    username = forms.CharField(max_length=255, widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        label="App password",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        help_text="An app-specific password from your provider; calsync stores it encrypted.",
    )


class UpdateCredentialsForm(CredentialsForm):
    url = None  # type: ignore[assignment]  # the server stays the same


class _CalendarSelect(forms.Select):
    """Read-only calendars are listed, greyed out, so people see why they cannot pick them."""

    def __init__(self, disabled: set[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disabled = disabled

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):  # type: ignore[no-untyped-def]
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value in self.disabled:
            option["attrs"]["disabled"] = True
        return option


class ChooseCalendarForm(SettingsForm):
    remote = forms.ChoiceField(label="CalDAV calendar")

    field_order = ["remote", "calendar"]

    def __init__(self, *args: Any, remote_calendars: list[RemoteCalendar], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remote_calendars = {c.url: c for c in remote_calendars}
        choices, disabled = [], set()
        for cal in remote_calendars:
            label = cal.name
            if not cal.writable:
                label += " (read-only: you cannot write to it)"
                disabled.add(cal.url)
            elif not cal.accepts_events:
                label += " (holds no events)"
                disabled.add(cal.url)
            choices.append((cal.url, label))
        field = self.fields["remote"]
        field.choices = choices  # type: ignore[attr-defined]
        field.widget = _CalendarSelect(disabled, choices=choices)
        usable = [c for c in remote_calendars if c.url not in disabled]
        if len(usable) == 1:
            self.initial.setdefault("remote", usable[0].url)
        self.usable = usable

    def clean_remote(self) -> RemoteCalendar:
        chosen = self.remote_calendars[self.cleaned_data["remote"]]
        if chosen not in self.usable:
            raise forms.ValidationError("You cannot sync with this calendar; choose one you can write events to.")
        return chosen
