from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from accounts.models import User

from .models import WEEKDAYS, CalendarShare, PersonalScheduling, SchedulingPolicy, check_hours


class PeopleField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: User) -> str:  # type: ignore[override]
        return f"{obj.display_name} <{obj.email}>" if obj.get_full_name() else obj.email


class FindTimeForm(forms.Form):
    people = PeopleField(queryset=User.objects.none(), widget=forms.CheckboxSelectMultiple)
    duration = forms.IntegerField(min_value=5, max_value=720, initial=30, help_text="Minutes.")
    first_day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    last_day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    buffer = forms.IntegerField(
        min_value=0,
        max_value=120,
        required=False,
        help_text="Free minutes around other meetings (empty: the organisation's).",
    )
    title = forms.CharField(max_length=200, required=False, help_text="Used when you book a proposal.")

    def __init__(self, *args: Any, colleagues: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["people"].queryset = colleagues  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("first_day") and data.get("last_day") and data["last_day"] < data["first_day"]:
            raise ValidationError("The last day comes before the first.")
        return data

    def buffer_delta(self) -> timedelta | None:
        minutes = self.cleaned_data.get("buffer")
        return None if minutes is None else timedelta(minutes=minutes)


class PersonalForm(forms.Form):
    free_busy_sharing = forms.ChoiceField(
        choices=PersonalScheduling.Sharing.choices, label="Who sees when I am busy", widget=forms.RadioSelect
    )
    free_busy_with = PeopleField(
        queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple, label="The people I choose"
    )

    def __init__(self, *args: Any, colleagues: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["free_busy_with"].queryset = colleagues  # type: ignore[attr-defined]
        for day, name in enumerate(WEEKDAYS):
            self.fields[f"start_{day}"] = forms.TimeField(required=False, label=f"{name} from",
                                                          widget=forms.TimeInput(attrs={"type": "time"}))  # fmt: skip
            self.fields[f"end_{day}"] = forms.TimeField(required=False, label=f"{name} to",
                                                        widget=forms.TimeInput(attrs={"type": "time"}))  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for day, name in enumerate(WEEKDAYS):
            start, end = data.get(f"start_{day}"), data.get(f"end_{day}")
            if (start is None) != (end is None):
                self.add_error(f"end_{day}", f"Give both times for {name}, or neither (not working).")
            elif start is not None and end is not None and start >= end:
                self.add_error(f"end_{day}", f"{name}: the working day must end after it starts.")
        return data

    def working_hours(self) -> dict[str, list[str]]:
        data = self.cleaned_data
        return {
            str(day): [data[f"start_{day}"].strftime("%H:%M"), data[f"end_{day}"].strftime("%H:%M")]
            for day in range(7)
            if data.get(f"start_{day}") is not None
        }


class ShareForm(forms.Form):
    grantee = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Everyone in my organisation", label="With"
    )
    level = forms.ChoiceField(choices=CalendarShare.Level.choices)

    def __init__(self, *args: Any, colleagues: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["grantee"].queryset = colleagues  # type: ignore[attr-defined]


class PolicyForm(forms.ModelForm):
    work_days = forms.TypedMultipleChoiceField(
        choices=list(enumerate(WEEKDAYS)), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = SchedulingPolicy
        fields = ["work_start", "work_end", "work_days", "allow_outside_hours", "all_day_busy", "buffer_minutes",
                  "default_free_busy"]  # fmt: skip
        widgets = {
            "work_start": forms.TimeInput(attrs={"type": "time"}),
            "work_end": forms.TimeInput(attrs={"type": "time"}),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("work_start") and data.get("work_end"):
            try:
                check_hours(data["work_start"], data["work_end"])
            except ValidationError as exc:
                self.add_error("work_end", exc)
        if data.get("buffer_minutes") is not None and data["buffer_minutes"] > 120:
            self.add_error("buffer_minutes", "A buffer is at most 120 minutes.")
        return data
