"""Forms of the lists pages. They read input; business.services decides what is allowed."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.db.models import QuerySet

from .kinds import CLIENTS, PROJECTS, Kind
from .models import Client, ListEntry

_SEPARATORS = re.compile(r"[\s,;]+")


class EntryForm(forms.Form):
    """Add an entry, or rename one (and, for a client, change its email domains)."""

    name = forms.CharField(max_length=200)
    email_domains = forms.CharField(
        required=False,
        label="Email domains",
        widget=forms.TextInput(attrs={"placeholder": "acme.com, acme.io"}),
        help_text="The client's own domains, separated by commas: meetings with people there can be given to it.",
    )
    client = forms.ModelChoiceField(
        queryset=Client.objects.none(),
        required=False,
        empty_label="Internal (no client)",
        help_text="A project belongs to one client, or to none (an internal project).",
    )

    def __init__(self, *args: Any, kind: Kind, clients: QuerySet[Client], entry: ListEntry | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        if kind is not CLIENTS:
            del self.fields["email_domains"]
        if kind is not PROJECTS or entry is not None:  # a project stays under the client it was made for
            del self.fields["client"]
        else:
            self.fields["client"].queryset = clients.filter(archived_at__isnull=True)  # type: ignore[attr-defined]
        self.fields["name"].label = f"Name of the {kind.singular}"
        self.fields["name"].error_messages["required"] = f"Give the {kind.singular} a name."

    def clean_email_domains(self) -> list[str]:
        return [part for part in _SEPARATORS.split(self.cleaned_data["email_domains"]) if part]


class MergeForm(forms.Form):
    into = forms.ModelChoiceField(queryset=Client.objects.none())

    def __init__(self, *args: Any, kind: Kind, candidates: QuerySet[ListEntry], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["into"].queryset = candidates  # type: ignore[attr-defined]
        self.fields["into"].label = f"Merge into the {kind.singular}"
        self.fields["into"].empty_label = f"Choose a {kind.singular}"  # type: ignore[attr-defined]


class ListsSettingsForm(forms.Form):
    """On the organisation page, beside the other settings."""

    members_manage_lists = forms.BooleanField(
        required=False, label="Members may add, rename and archive clients, projects and activities"
    )
