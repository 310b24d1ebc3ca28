from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

from accounts.models import Tenant
from events.models import Calendar

from ..models import Activity, AssignmentRule, Client, Project
from .services import RuleSpec


class RuleForm(forms.Form):
    kind = forms.ChoiceField(label="When", choices=AssignmentRule.Kind.choices)
    value = forms.CharField(
        label="Domain or words", max_length=200, required=False,
        help_text="A domain (acme.example, also matching eu.acme.example) or words found whole in the title.",
    )  # fmt: skip
    calendar = forms.ModelChoiceField(label="Calendar", queryset=Calendar.objects.none(), required=False)
    client = forms.ModelChoiceField(label="Set the client", queryset=Client.objects.none(), required=False)
    project = forms.ModelChoiceField(label="Set the project", queryset=Project.objects.none(), required=False)
    activity = forms.ModelChoiceField(label="Set the activity", queryset=Activity.objects.none(), required=False)
    enabled = forms.BooleanField(label="In use", required=False, initial=True)

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["calendar"].queryset = Calendar.objects.for_tenant(tenant).select_related("owner").order_by("name")
        fields["calendar"].label_from_instance = lambda c: f"{c.name} ({c.owner.email})"
        fields["client"].queryset = Client.objects.filter(tenant=tenant, archived_at=None)
        fields["project"].queryset = Project.objects.filter(tenant=tenant, archived_at=None).select_related("client")
        fields["project"].label_from_instance = lambda p: f"{p.name} ({p.client.name if p.client else 'internal'})"
        fields["activity"].queryset = Activity.objects.filter(tenant=tenant, archived_at=None)

    def spec(self) -> RuleSpec:
        return RuleSpec(**self.cleaned_data)

    @staticmethod
    def initial_of(rule: AssignmentRule) -> dict[str, Any]:
        return {"kind": rule.kind, "value": rule.value, "calendar": rule.calendar_id, "client": rule.client_id,
                "project": rule.project_id, "activity": rule.activity_id, "enabled": rule.enabled}  # fmt: skip


class RangeForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (included)", widget=forms.DateInput(attrs={"type": "date"}))
    overwrite = forms.BooleanField(
        label="Also replace client, project and activity already set, where a rule matches", required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if isinstance(start, date) and isinstance(end, date) and end < start:
            raise forms.ValidationError("The last day is before the first.")
        return data
