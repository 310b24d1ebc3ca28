from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Tenant
from integrations.forms import AliasDomainsForm
from integrations.models import GoogleWorkspace


class WorkspaceForm(AliasDomainsForm):
    key_file = forms.FileField(
        required=False,
        label="Service account key (JSON)",
        help_text="The JSON key of a service account with domain-wide delegation for "
        "https://www.googleapis.com/auth/calendar. Stored encrypted; leave empty to keep the current one.",
    )
    enabled = forms.BooleanField(required=False, label="Sync the organisation's Google calendars")

    def __init__(self, *args: Any, workspace: GoogleWorkspace | None, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, tenant=tenant, **kwargs)
        self.workspace = workspace
        self.fields["enabled"].initial = workspace.enabled if workspace else False

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("key_file")
        text = ""
        if upload:
            if upload.size > 20_000:
                self.add_error("key_file", "A service account key is a few kilobytes; this file is too large.")
            else:
                try:
                    text = upload.read().decode()
                except UnicodeDecodeError:
                    self.add_error("key_file", "This is not a JSON key file.")
        elif self.workspace is None:
            self.add_error("key_file", "Upload the service account's JSON key file.")
        data["key_text"] = text
        return data
