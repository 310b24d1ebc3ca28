"""The reports page's query (read from the address, so a report is a link), saved reports and the counting rules.

Every list a choice is checked against is the viewer's tenant's: an id from elsewhere is "not a valid choice",
never a row of another organisation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from accounts.models import User
from accounts.tenancy import Scope
from business.models import Activity, BusinessSettings, Client, Project
from events.models import Calendar

GROUP_LABELS = {
    "user": "Team member",
    "client": "Client",
    "project": "Project",
    "activity": "Activity",
    "calendar": "Calendar",
    "provider": "Where it was made",
}
# Where an event was first written from (Event.origin); "web" stands for "" (calsync's own pages) in addresses.
PROVIDERS = {
    "web": "calsync pages",
    "google": "Google",
    "microsoft": "Microsoft 365",
    "exchange": "Exchange",
    "caldav": "CalDAV account",
    "dav": "Calendar app on calsync",
    "import": "Import",
}
RANGES = {
    "this_month": "This month",
    "last_month": "Last month",
    "this_quarter": "This quarter",
    "last_quarter": "Last quarter",
    "this_year": "This year",
    "last_year": "Last year",
    "custom": "Dates I choose",
}
PERIODS = {"auto": "Automatic", "day": "Days", "week": "Weeks", "month": "Months"}
MAX_DAYS = 3 * 366  # a longer range is an operator's job (manage.py report), not a page's
MAX_BARS = 400
FILTERS = ("user", "client", "project", "activity", "calendar", "provider")
# The parameters a report is made of: what a saved report keeps and a link carries.
PARAMS = ("range", "start", "end", "group_by", "then_by", "period", *FILTERS)
NONE = "none"  # in a drill-down address: the group's "No client" (unassigned) entry


def _month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def range_dates(name: str, today: date) -> tuple[date, date]:
    """The first and last day of a named range, relative to `today` in the organisation's zone."""
    this_month = _month_start(today)
    quarter = _month_start(date(today.year, (today.month - 1) // 3 * 3 + 1, 1))
    starts_ends = {
        "this_month": (this_month, _month_start(today, -1) - timedelta(days=1)),
        "last_month": (_month_start(today, 1), this_month - timedelta(days=1)),
        "this_quarter": (quarter, _month_start(quarter, -3) - timedelta(days=1)),
        "last_quarter": (_month_start(quarter, 3), quarter - timedelta(days=1)),
        "this_year": (date(today.year, 1, 1), date(today.year, 12, 31)),
        "last_year": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    }
    return starts_ends[name]


def auto_period(start: date, end: date) -> str:
    days = (end - start).days + 1
    return "day" if days <= 31 else "week" if days <= 190 else "month"


class NamedChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        if isinstance(obj, User):
            return obj.display_name
        if isinstance(obj, Project) and obj.client is not None:
            return f"{obj.client.name}: {obj.name}"
        if isinstance(obj, Calendar):
            return f"{obj.name} ({obj.owner.display_name})"
        return f"{obj} (archived)" if getattr(obj, "archived_at", None) else str(obj)


def _pick(label: str) -> NamedChoices:
    return NamedChoices(queryset=User.objects.none(), required=False, label=label)


class ReportForm(forms.Form):
    range = forms.ChoiceField(
        choices=RANGES.items(), initial="this_month", required=False, label="Dates",
        help_text="From and To are used with “Dates I choose”.",
    )  # fmt: skip
    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    group_by = forms.ChoiceField(choices=GROUP_LABELS.items(), initial="client", required=False, label="Group by")
    then_by = forms.ChoiceField(choices=[("", "Nothing more"), *GROUP_LABELS.items()], required=False, label="Then by")
    period = forms.ChoiceField(choices=PERIODS.items(), initial="auto", required=False, label="Bars per")
    user = _pick("Team members")
    client = _pick("Clients")
    project = _pick("Projects")
    activity = _pick("Activities")
    calendar = _pick("Calendars")
    provider = forms.MultipleChoiceField(choices=PROVIDERS.items(), required=False, label="Where it was made")

    def __init__(self, *args: Any, scope: Scope, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scope, self.today = scope, today
        tenant = scope.tenant
        fields = self.fields
        fields["user"].queryset = scope.users()  # type: ignore[attr-defined]
        fields["client"].queryset = Client.objects.filter(tenant=tenant)  # type: ignore[attr-defined]
        projects = Project.objects.filter(tenant=tenant).select_related("client").order_by("client__name", "name")
        fields["project"].queryset = projects  # type: ignore[attr-defined]
        fields["activity"].queryset = Activity.objects.filter(tenant=tenant)  # type: ignore[attr-defined]
        calendars = Calendar.objects.for_tenant(tenant) if scope.user.is_tenant_admin else scope.calendars()
        fields["calendar"].queryset = calendars.select_related("owner").order_by("owner__email", "name")  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["range"] = data.get("range") or "this_month"
        data["group_by"] = data.get("group_by") or "client"
        if data.get("then_by") == data["group_by"]:
            self.add_error("then_by", "Choose a different grouping from the first, or nothing.")
        start, end = self._dates(data)
        if start is None or end is None:
            return data
        period = data.get("period") or "auto"
        data["period"] = auto_period(start, end) if period == "auto" else period
        if _bars(start, end, data["period"]) > MAX_BARS:
            self.add_error("period", "That makes too many bars for one chart: choose weeks or months.")
        data["first_day"], data["last_day"] = start, end
        return data

    def _dates(self, data: dict[str, Any]) -> tuple[date | None, date | None]:
        if data["range"] != "custom":
            return range_dates(data["range"], self.today)
        start, end = data.get("start"), data.get("end")
        if start is None or end is None:
            if "start" not in self.errors and "end" not in self.errors:
                self.add_error(None, "Give both the first and the last day, or choose a range such as Last month.")
            return None, None
        if end < start:
            self.add_error("end", "The last day comes before the first.")
            return None, None
        if (end - start).days + 1 > MAX_DAYS:
            self.add_error("end", "A report covers at most three years; choose a shorter range.")
            return None, None
        return start, end

    @property
    def groups(self) -> tuple[str, ...]:
        data = self.cleaned_data
        return (data["group_by"], data["then_by"]) if data.get("then_by") else (data["group_by"],)

    def filters(self) -> dict[str, tuple[int | str, ...]]:
        """The chosen filters as the engine reads them: group name to ids (provider: origin keys)."""
        data = self.cleaned_data
        found: dict[str, tuple[int | str, ...]] = {}
        for name in FILTERS[:-1]:
            if data.get(name):
                found[name] = tuple(obj.pk for obj in data[name])
        if data.get("provider"):
            found["provider"] = tuple("" if p == "web" else p for p in data["provider"])
        return found


def _bars(start: date, end: date, period: str) -> int:
    days = (end - start).days + 1
    return days if period == "day" else days // 7 + 2 if period == "week" else days // 28 + 2


def report_params(data: QueryDict | Mapping[str, Any]) -> dict[str, list[str]]:
    """The report's own parameters out of an address's query (a saved report keeps these, nothing else)."""
    if isinstance(data, QueryDict):
        return {k: data.getlist(k) for k in PARAMS if data.getlist(k)}
    return {k: list(v) if isinstance(v, list | tuple) else [str(v)] for k, v in data.items() if k in PARAMS}


def as_query(params: Mapping[str, list[str]]) -> QueryDict:
    query = QueryDict(mutable=True)
    for key, values in params.items():
        query.setlist(key, values)
    return query


def parse_key(raw: str, group: str) -> int | str | None:
    """One part of a drill-down key from the address: "none" is the unassigned entry; ids are numbers."""
    if raw == NONE:
        return None
    if group == "provider":
        if raw not in PROVIDERS:
            raise ValidationError(f"Unknown place where events are made: {raw[:40]}")
        return "" if raw == "web" else raw
    if not raw.isdigit():
        raise ValidationError(f"Not a valid {GROUP_LABELS[group].lower()}: {raw[:40]}")
    return int(raw)


def key_param(value: int | str | None) -> str:
    """The address form of a key part: the reverse of parse_key."""
    if value is None:
        return NONE
    return "web" if value == "" else str(value)


class SavedReportForm(forms.Form):
    name = forms.CharField(max_length=120)
    shared_with = NamedChoices(
        queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple,
        label="Share with", help_text="They can open it (each sees what they may see) but not change it.",
    )  # fmt: skip
    email_monthly = forms.BooleanField(required=False, label="Email it on the 1st of each month, for the month before")
    recipients = NamedChoices(
        queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple,
        label="Email to", help_text="People in your organisation; each receives it as they may see it.",
    )  # fmt: skip

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["shared_with"].queryset = scope.colleagues()  # type: ignore[attr-defined]
        self.fields["recipients"].queryset = scope.colleagues(including_me=True)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("email_monthly") and not data.get("recipients"):
            self.add_error("recipients", "Choose who receives the monthly email.")
        return data


class ReportRulesForm(forms.ModelForm):
    class Meta:
        model = BusinessSettings
        fields = ["all_day_rule", "all_day_hours", "overlap_rule"]
        labels = {
            "all_day_rule": "All-day events count",
            "all_day_hours": "Hours of a working day",
            "overlap_rule": "Overlapping events",
        }
        widgets = {"all_day_rule": forms.RadioSelect, "overlap_rule": forms.RadioSelect}

    def clean_all_day_hours(self) -> Any:
        value = self.cleaned_data["all_day_hours"]
        if value is None or not 0 < value <= 24:
            raise ValidationError("A working day has more than 0 and at most 24 hours.")
        return value
