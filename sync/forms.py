"""The undo page's form: which items changed since to undo anyway, and whether to remove what the runs created."""

from __future__ import annotations

from typing import Any

from django import forms

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


class UndoSinceForm(forms.Form):
    since = forms.DateTimeField(
        label="Undo every run since", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
