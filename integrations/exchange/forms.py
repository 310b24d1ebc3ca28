from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Tenant
from integrations.forms import AliasDomainsForm
from integrations.models import ExchangeServer

_URL_HELP = "The server name (mail.example.com) or its EWS address (https://mail.example.com/EWS/Exchange.asmx)."


class ConnectForm(forms.Form):
    url = forms.CharField(label="Exchange server", max_length=500, help_text=_URL_HELP)
    domain = forms.CharField(label="Network domain name (NetBIOS)", max_length=64, required=False,
                             help_text="For example CORP, if you sign in to Windows as CORP\\yourname. Leave empty "
                             "when you sign in with an email address.")  # fmt: skip
    username = forms.CharField(max_length=254, widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        help_text="Checked with Exchange at once, then stored encrypted.",
    )
    mailbox = forms.EmailField(label="Mailbox", help_text="Your email address, or a mailbox whose calendar you were "
                               "given access to.")  # fmt: skip


class UpdateCredentialsForm(ConnectForm):
    mailbox = None  # type: ignore[assignment]  # the calendar stays the same


class OrganisationForm(AliasDomainsForm):
    url = forms.CharField(label="Exchange server", max_length=500, help_text=_URL_HELP)
    domain = forms.CharField(label="Network domain name (NetBIOS)", max_length=64, required=False)
    username = forms.CharField(
        label="Username", max_length=254, help_text="The sync account calsync logs in with (e.g. calsync-sync)."
    )
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown again; leave empty to keep the current one.",
    )
    sync_email = forms.EmailField(label="Sync user email address", help_text="The sync account's own address.")
    access = forms.ChoiceField(label="Access to people's calendars", choices=ExchangeServer.Access.choices,
                               widget=forms.RadioSelect)  # fmt: skip
    password_expires_on = forms.DateField(
        label="The sync account's password expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),  # what <input type=date> reads
        help_text="Optional: when your domain's password policy makes it expire. calsync emails the admins 30 and "
        "7 days before; leave empty if it never expires.",
    )
    enabled = forms.BooleanField(required=False, label="Enable synchronization")

    def __init__(self, *args: Any, organisation: ExchangeServer | None, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, tenant=tenant, **kwargs)
        if organisation is not None:
            for name in ("domain", "username", "sync_email", "access", "enabled", "password_expires_on"):
                self.fields[name].initial = getattr(organisation, name)
            self.fields["url"].initial = organisation.ews_url
        else:
            self.fields["access"].initial = ExchangeServer.Access.IMPERSONATION
