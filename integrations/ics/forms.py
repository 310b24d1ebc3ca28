from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet

from events.models import Calendar


class SubscribeForm(forms.Form):
    """Subscribe to a calendar by URL: where it is, what to call it, which calsync calendar it fills."""

    url = forms.CharField(
        label="Calendar address (URL)",
        max_length=2000,
        help_text="The address the publisher gives for “Subscribe” or “Add by URL”: https://… or webcal://…",
    )
    name = forms.CharField(max_length=200, required=False, help_text="For example “Public holidays”.")
    calendar = forms.ModelChoiceField(queryset=Calendar.objects.none(), empty_label=None, label="calsync calendar")
    automatic = forms.TypedChoiceField(choices=[], coerce=lambda v: v == "true", label="Sync")
    error_email = forms.EmailField(label="Email for error notifications")

    def __init__(self, *args: Any, calendars: QuerySet[Calendar], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = calendars  # type: ignore[attr-defined]
        minutes = max(settings.ICS_POLL_SECONDS // 60, 1)
        self.fields["automatic"].choices = [  # type: ignore[attr-defined]
            ("true", f"Automatic (every {minutes} minutes)"),
            ("false", "Manual (Synchronize now)"),
        ]
