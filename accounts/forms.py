from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from integrations.providers import ALL_PROVIDERS, Provider

from .models import WEEKDAYS, User, validate_retention_days


class EmailLoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. Both are case-sensitive for the password.",
    }


def _clean_zone(value: str) -> str:
    value = value.strip()
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not a known time zone (e.g. Europe/London).")
    return value


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    timezone = forms.CharField(max_length=64, widget=forms.TextInput(attrs={"list": "timezones"}))
    week_start = forms.TypedChoiceField(
        label="Weeks start on", choices=WEEKDAYS, coerce=int, help_text="The first day of the calendar's week."
    )
    default_calendar = forms.ModelChoiceField(
        queryset=None,  # the user's own calendars that hold events: set per form
        empty_label=None,
        required=False,  # someone with only task lists has nothing to choose
        label="Main calendar",
        help_text="New events and new integrations use this calendar unless you choose another.",
    )

    def __init__(self, *args: Any, calendars: QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["default_calendar"].queryset = calendars.filter(components__contains="VEVENT")  # type: ignore[attr-defined]

    def clean_timezone(self) -> str:
        return _clean_zone(self.cleaned_data["timezone"])


class UserCreateForm(forms.Form):
    email = forms.EmailField()
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=User.Role.choices, initial=User.Role.MEMBER)
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="The user signs in with this; ask them to change it.",
    )


class UserEditForm(forms.Form):
    role = forms.ChoiceField(choices=User.Role.choices)
    can_setup_integrations = forms.BooleanField(required=False, label="May set up integrations")
    is_active = forms.BooleanField(required=False, label="Active (may sign in)")


class TenantForm(forms.Form):
    name = forms.CharField(max_length=200)
    timezone = forms.CharField(max_length=64, widget=forms.TextInput(attrs={"list": "timezones"}))
    allowed_providers = forms.MultipleChoiceField(
        choices=Provider.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Providers users may connect",
    )
    default_can_setup_integrations = forms.BooleanField(required=False, label="New users may set up integrations")
    log_retention_days = forms.IntegerField(
        required=False,
        label="Keep sync logs for (days)",
        validators=[validate_retention_days],
        error_messages={"invalid": "Enter a whole number of days."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["log_retention_days"].help_text = (
            f"Sync runs, their logs and the losing versions of conflicts are deleted after this. Empty: "
            f"{settings.RETENTION_DEFAULT_DAYS} days ({settings.RETENTION_MIN_DAYS} to {settings.RETENTION_MAX_DAYS})."
        )

    def clean_timezone(self) -> str:
        return _clean_zone(self.cleaned_data["timezone"])

    def clean_allowed_providers(self) -> list[str]:
        chosen: list[Any] = self.cleaned_data["allowed_providers"]
        return [p for p in ALL_PROVIDERS if p in chosen]
