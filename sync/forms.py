"""The undo page's form: which items changed since to undo anyway, and whether to remove what the runs created."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.utils import timezone

from .undoing import Step


class UndoForm(forms.Form):
    uids = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, label="Undo these too")
    remove_created = forms.BooleanField(required=False)

    def __init__(self, *args: Any, changed: list[Step], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["uids"].choices = [(step.uid, step.uid) for step in changed]

    def options(self) -> dict[str, Any]:
        """The run's undo_options (sync.models.SyncRun)."""
        return {"uids": self.cleaned_data["uids"], "remove_created": self.cleaned_data["remove_created"]}


EARLIEST_SINCE = datetime(2000, 1, 1, tzinfo=UTC)  # no run is older; a date near year 1 cannot even be stored


class UndoSinceForm(forms.Form):
    since = forms.DateTimeField(
        label="Undo every run since", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def clean_since(self) -> datetime:
        """A moment between 2000 and now (a date at the calendar's edge overflows once turned into UTC)."""
        since = self.cleaned_data["since"]
        if since < EARLIEST_SINCE:
            raise forms.ValidationError("Give a moment after the year 2000.")
        if since > timezone.now():
            raise forms.ValidationError("Give a moment in the past: no run has happened after now.")
        return since
