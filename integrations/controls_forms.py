"""The sync controls form on an integration's page: what is copied each way, filters, the window, conflicts.

One form for both directions: each direction's fields carry its prefix ("into_", "out_"), and only the
directions the integration's own direction uses are shown; the other direction's stored flow is kept as it was.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from django import forms

from sync.controls import PERSONAL_FLOW, Conflicts, Controls, Copy, Flow, Window

from .models import Integration

DIRECTIONS = {  # prefix -> (Controls attribute, heading)
    "into": ("into_calsync", "Into calsync"),
    "out": ("out_of_calsync", "Out of calsync"),
}
COPY_CHOICES = [
    (Copy.ALL.value, "Everything (title, description, place, attendees)"),
    (Copy.BUSY.value, "The time only, shown as “Busy”"),
    (Copy.TITLE.value, "The time and the title only"),
]
SKIPS = (  # Flow attribute, label
    ("skip_free", "Events shown as free"),
    ("skip_declined", "Invitations you declined"),
    ("skip_tentative", "Tentative events and invitations you answered “maybe”"),
    ("skip_all_day", "All-day events"),
    ("working_hours_only", "Events wholly outside your working hours"),
)
WINDOW_CHOICES = [("all", "All events"), ("date", "From a date"), ("now", "From now on")]
MAX_DAYS_AHEAD = 3650
FIRST_YEAR, LAST_YEAR = 1900, 2200  # the days the date fields take (a day near year 1 or 9999 is a typo)


def directions_of(integration: Integration) -> list[str]:
    """The prefixes of the directions the integration copies: both, or only the one it is set to."""
    direction = integration.effective_direction
    if direction == Integration.Direction.TO_CALSYNC:
        return ["into"]
    if direction == Integration.Direction.FROM_CALSYNC:
        return ["out"]
    return ["into", "out"]


def _sensible_year(day: date) -> None:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise forms.ValidationError(f"Enter a day between the years {FIRST_YEAR} and {LAST_YEAR}.")


def _date_field(label: str, help_text: str) -> forms.DateField:
    return forms.DateField(required=False, label=label, help_text=help_text, validators=[_sensible_year],
                           widget=forms.DateInput(attrs={"type": "date", "min": f"{FIRST_YEAR}-01-01",
                                                         "max": f"{LAST_YEAR}-12-31"}))  # fmt: skip


def _flow_fields(prefix: str) -> dict[str, forms.Field]:
    fields: dict[str, forms.Field] = {
        f"{prefix}_copy": forms.ChoiceField(choices=COPY_CHOICES, widget=forms.RadioSelect, label="What is copied"),
        f"{prefix}_private_as_busy": forms.BooleanField(
            required=False,
            label="Events marked private always as “Busy”",
            help_text="Private and confidential events are copied as their time only, whatever is chosen above.",
        ),
    }
    for name, label in SKIPS:
        fields[f"{prefix}_{name}"] = forms.BooleanField(required=False, label=label)
    fields[f"{prefix}_not_before"] = _date_field("Skip events before", "Events that end before this day.")
    fields[f"{prefix}_not_after"] = _date_field("Skip events after", "Events that start after this day.")
    fields[f"{prefix}_keywords"] = forms.CharField(
        required=False, max_length=1000, label="Skip events containing",
        help_text="Words or phrases, separated by commas (e.g. “lunch, dentist”): events whose title or "
        "description holds one of them, in any case, are not copied.",
    )  # fmt: skip
    return fields


class ControlsForm(forms.Form):
    """What the integration copies; `controls()` gives the values to store (the owner's facts are not stored)."""

    window_from = forms.ChoiceField(choices=WINDOW_CHOICES, widget=forms.RadioSelect, label="Sync events")
    window_start = _date_field("Starting on", "Used with “From a date”.")
    days_ahead = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_DAYS_AHEAD, label="Days ahead",
        help_text=f"How far into the future events are synced (1 to {MAX_DAYS_AHEAD} days); empty: no limit. "
        "Events outside these dates are left alone in both calendars: neither copied nor deleted.",
    )  # fmt: skip
    conflicts = forms.ChoiceField(
        choices=[(Conflicts.PRIMARY.value, "The primary calendar wins (the other version is logged)"),
                 (Conflicts.KEEP_BOTH.value, "Keep both (the losing version is kept as a second event)")],
        widget=forms.RadioSelect, label="When an event changed in both calendars",
    )  # fmt: skip
    personal = forms.BooleanField(
        required=False, label="The other calendar is a personal calendar",
        help_text="Ticking this the first time sets what is copied into calsync to “Busy” only, private events "
        "included; you can change that afterwards.",
    )  # fmt: skip
    confirm_removals = forms.BooleanField(required=False, label="Yes, remove these copies")

    def __init__(self, *args: Any, integration: Integration, **kwargs: Any) -> None:
        self.integration = integration
        self.stored = Controls.from_json(integration.controls)
        self.directions = directions_of(integration)
        kwargs.setdefault("initial", self.initial_for(self.stored))
        super().__init__(*args, **kwargs)
        for prefix in self.directions:
            self.fields.update(_flow_fields(prefix))
        self.removals: list[Any] = []  # set by the view: what saving would remove, to confirm

    @staticmethod
    def initial_for(controls: Controls) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "window_from": "now" if controls.window.from_now else "date" if controls.window.start else "all",
            "window_start": controls.window.start,
            "days_ahead": controls.window.days_ahead,
            "conflicts": controls.conflicts.value,
            "personal": controls.personal,
        }
        for prefix, (attribute, _) in DIRECTIONS.items():
            flow: Flow = getattr(controls, attribute)
            values = flow.to_json()
            values["keywords"] = ", ".join(flow.keywords)
            values["not_before"], values["not_after"] = flow.not_before, flow.not_after
            initial.update({f"{prefix}_{name}": value for name, value in values.items()})
        return initial

    def sections(self) -> list[dict[str, Any]]:
        """The shown directions' fields, grouped for the template."""
        result = []
        for prefix in self.directions:
            result.append({
                "prefix": prefix, "heading": DIRECTIONS[prefix][1],
                "copy": self[f"{prefix}_copy"], "private_as_busy": self[f"{prefix}_private_as_busy"],
                "skips": [self[f"{prefix}_{name}"] for name, _ in SKIPS],
                "dates": [self[f"{prefix}_not_before"], self[f"{prefix}_not_after"]],
                "keywords": self[f"{prefix}_keywords"],
            })  # fmt: skip
        return result

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("window_from") == "date" and not data.get("window_start"):
            self.add_error("window_start", "Choose the day syncing starts from, or choose “All events”.")
        for prefix in self.directions:
            before, after = data.get(f"{prefix}_not_before"), data.get(f"{prefix}_not_after")
            if isinstance(before, date) and isinstance(after, date) and after < before:
                self.add_error(f"{prefix}_not_after", "This day must not be earlier than the “before” day.")
            keywords = data.get(f"{prefix}_keywords", "")
            if keywords and any(not k.strip() for k in keywords.strip().strip(",").split(",")):
                self.add_error(f"{prefix}_keywords", "Separate the words with single commas, e.g. “lunch, dentist”.")
        return data

    def _flow(self, prefix: str) -> Flow:
        data = self.cleaned_data
        keywords = data[f"{prefix}_keywords"].strip().strip(",")
        return Flow(
            copy=Copy(data[f"{prefix}_copy"]),
            private_as_busy=data[f"{prefix}_private_as_busy"],
            **{name: data[f"{prefix}_{name}"] for name, _ in SKIPS},
            not_before=data[f"{prefix}_not_before"],
            not_after=data[f"{prefix}_not_after"],
            keywords=tuple(dict.fromkeys(k.strip() for k in keywords.split(",") if k.strip())),
        )

    def controls(self) -> Controls:
        """The controls to store, from valid data: hidden directions keep their stored flows."""
        data = self.cleaned_data
        chosen = data["window_from"]
        window = Window(start=data["window_start"] if chosen == "date" else None, from_now=chosen == "now",
                        days_ahead=data["days_ahead"])  # fmt: skip
        flows = {DIRECTIONS[p][0]: self._flow(p) for p in self.directions}
        controls = replace(self.stored, **flows, window=window, conflicts=Conflicts(data["conflicts"]),
                           personal=data["personal"])  # fmt: skip
        if controls.personal and not self.stored.personal:
            # First ticked: what comes from the personal calendar goes as busy-only, private included.
            into = replace(
                controls.into_calsync, copy=PERSONAL_FLOW.copy, private_as_busy=PERSONAL_FLOW.private_as_busy
            )
            controls = replace(controls, into_calsync=into)
        return controls
