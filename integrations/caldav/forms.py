from __future__ import annotations

from django import forms

from integrations.forms import ChooseCalendarForm

__all__ = ["ChooseCalendarForm", "CredentialsForm", "UpdateCredentialsForm"]


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
