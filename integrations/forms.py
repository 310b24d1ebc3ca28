from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from events.models import Calendar

from .models import Integration


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

    @staticmethod
    def initial_for(integration: Integration) -> dict[str, Any]:
        return {
            "sync_enabled": integration.sync_enabled,
            "direction": integration.direction,
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
