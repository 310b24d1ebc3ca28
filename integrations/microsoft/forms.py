from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import Tenant
from integrations.forms import AliasDomainsForm
from integrations.models import MicrosoftOrganisation

from .organisation import AppCertificate, parse_certificate


class OrganisationForm(AliasDomainsForm):
    directory_id = forms.CharField(label="Tenant (directory) id", max_length=100,
                                   help_text="Entra ID › Overview › Tenant ID, or your tenant's domain.")  # fmt: skip
    client_id = forms.CharField(
        label="Client (application) id",
        max_length=100,
        help_text="The app registration with the Calendars.ReadWrite application permission.",
    )
    secret = forms.CharField(
        label="Client secret",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown again; leave empty to keep the current one.",
    )
    certificate = forms.FileField(
        label="Or a certificate",
        required=False,
        help_text="Instead of a secret: one PEM file with the private key and the certificate you uploaded to the "
        "app registration. Stored encrypted; only its thumbprint is shown again.",
    )
    expires_on = forms.DateField(
        label="Client secret expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),  # what <input type=date> reads
        help_text="As Entra ID › Certificates & secrets shows it. Only needed when calsync cannot read it itself "
        "(the app lacks the Application.Read.All permission); calsync emails the admins 30 and 7 days before.",
    )
    enabled = forms.BooleanField(required=False, label="Sync the organisation's Microsoft 365 calendars")

    def __init__(self, *args: Any, organisation: MicrosoftOrganisation | None, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, tenant=tenant, **kwargs)
        if organisation is not None:
            self.fields["directory_id"].initial = organisation.directory_id
            self.fields["client_id"].initial = organisation.client_id
            self.fields["enabled"].initial = organisation.enabled
            if organisation.credential_expiry_source == "admin" and organisation.credential_expires_at:
                self.fields["expires_on"].initial = organisation.credential_expires_at.date()

    def clean_certificate(self) -> AppCertificate | None:
        upload = self.cleaned_data.get("certificate")
        if not upload:
            return None
        if upload.size > 64 * 1024:
            raise forms.ValidationError("This file is too large to be a certificate.")
        try:
            return parse_certificate(upload.read())
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["certificate"]) from None
