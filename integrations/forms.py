from __future__ import annotations

import re
from typing import Any, Protocol

from django import forms
from django.db.models import QuerySet

from events.models import Calendar

from .models import Integration

READ_ONLY = " (read only: syncs into calsync only)"
READ_ONLY_DIRECTION = (
    "You may only read the other calendar, so events sync into calsync only: calsync never writes there, and "
    "changes made in calsync to its events are undone by the next sync."
)


class SettingsForm(forms.Form):
    """The sync settings every integration has, in the order the seeds describe them."""

    sync_enabled = forms.BooleanField(
        required=False, label="Sync events", help_text="Untick to pause the sync without disconnecting."
    )
    direction = forms.ChoiceField(choices=Integration.Direction.choices, widget=forms.RadioSelect)
    primary = forms.ChoiceField(
        choices=Integration.Primary.choices,
        label="Primary calendar",
        help_text="When an event was changed in both calendars, this one's change is kept.",
    )
    automatic = forms.TypedChoiceField(
        choices=[("true", "Automatic (every 5 minutes)"), ("false", "Manual (Synchronize now)")],
        coerce=lambda v: v == "true",
        label="Sync",
    )
    error_email = forms.EmailField(label="Email for error notifications")
    calendar = forms.ModelChoiceField(queryset=Calendar.objects.none(), empty_label=None, label="calsync calendar")

    def __init__(self, *args: Any, calendars: QuerySet[Calendar], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = calendars  # type: ignore[attr-defined]

    def fix_direction(self) -> None:
        """The other calendar is read-only: the direction is shown, fixed to "To calsync", with the reason."""
        field = self.fields["direction"]
        field.disabled = True
        field.help_text = READ_ONLY_DIRECTION
        self.initial["direction"] = Integration.Direction.TO_CALSYNC

    @staticmethod
    def initial_for(integration: Integration) -> dict[str, Any]:
        return {
            "sync_enabled": integration.sync_enabled,
            "direction": integration.effective_direction,
            "primary": integration.primary,
            "automatic": "true" if integration.automatic else "false",
            "error_email": integration.error_email,
            "calendar": integration.calendar_id,
        }


class CalsyncConnectForm(SettingsForm):
    """Pair two of the user's own calendars."""

    other = forms.ModelChoiceField(queryset=Calendar.objects.none(), empty_label=None, label="Sync with")

    field_order = ["calendar", "other"]

    def __init__(self, *args: Any, calendars: QuerySet[Calendar], **kwargs: Any) -> None:
        super().__init__(*args, calendars=calendars, **kwargs)
        self.fields["other"].queryset = calendars  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("calendar") and data.get("calendar") == data.get("other"):
            self.add_error("other", "Choose a different calendar: a calendar cannot sync with itself.")
        return data


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


class RemoteChoice(Protocol):
    """A calendar at the provider, as the choice step lists it."""

    url: str  # the provider's id for it
    name: str
    writable: bool

    @property
    def accepts_events(self) -> bool: ...


class ChooseCalendarForm(SettingsForm):
    """Step two of connecting: which of the account's calendars, and the sync settings."""

    remote = forms.ChoiceField(label="CalDAV calendar")

    field_order = ["remote", "calendar"]

    def __init__(
        self, *args: Any, remote_calendars: list[RemoteChoice], remote_label: str = "CalDAV calendar", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["remote"].label = remote_label
        self.remote_calendars = {c.url: c for c in remote_calendars}
        choices, disabled = [], set()
        for cal in remote_calendars:
            label = cal.name
            if not cal.writable:
                label += READ_ONLY
            if not cal.accepts_events:
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
        if any(not c.writable for c in usable):
            self.fields["direction"].help_text = "A calendar marked read only syncs into calsync only."
        if len(usable) == 1 and not usable[0].writable:
            self.fix_direction()

    def clean_remote(self) -> RemoteChoice:
        chosen = self.remote_calendars[self.cleaned_data["remote"]]
        if chosen not in self.usable:
            raise forms.ValidationError("You cannot sync with this calendar; choose one that holds events.")
        return chosen


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def alias_domains(text: str) -> list[str]:
    """Comma-separated email domains ("acme.io, acme.de"), checked; ValidationError names the wrong ones."""
    domains = [d.strip().lower().lstrip("@") for d in text.split(",") if d.strip()]
    wrong = [d for d in domains if not _DOMAIN.match(d)]
    if wrong:
        raise forms.ValidationError(f"Not a domain name: {', '.join(wrong)}.")
    return list(dict.fromkeys(domains))


class AliasDomainsForm(forms.Form):
    """Organisation-wide settings forms: the tenant's other email domains, shown and checked the same way."""

    aliases = forms.CharField(
        required=False,
        label="Other email domains",
        help_text="If people's mailbox addresses use other domains than their calsync addresses "
        "(e.g. acme.io besides acme.com), list them, separated by commas.",
    )

    def __init__(self, *args: Any, tenant: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["aliases"].initial = ", ".join(tenant.email_domain_aliases)
        self.order_fields([name for name in self.fields if name != "aliases"] + ["aliases"])

    def clean_aliases(self) -> list[str]:
        return alias_domains(self.cleaned_data["aliases"])
