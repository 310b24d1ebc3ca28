"""Find a time, the team grid, a person's sharing and hours, and the organisation's policy."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.tenancy import Scope

from . import assistant, grid, selectors, services
from .forms import FindTimeForm, PersonalForm, PolicyForm, ShareForm
from .models import WEEKDAYS, PersonalScheduling


def _scope(request: HttpRequest) -> Scope:
    return Scope(request.user)  # type: ignore[arg-type]


@login_required
def find_time(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    today = timezone.localdate()
    initial = {"first_day": today, "last_day": today + timedelta(days=13), "duration": 30}
    form = FindTimeForm(request.GET or None, colleagues=scope.colleagues(including_me=True), initial=initial)
    context: dict[str, object] = {"form": form}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        search = assistant.Search(
            people=list(data["people"]), duration=timedelta(minutes=data["duration"]), first_day=data["first_day"],
            last_day=data["last_day"], buffer=form.buffer_delta(), zone=scope.user.timezone,
        )  # fmt: skip
        try:
            result = assistant.find_time(viewer=scope.user, search=search)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            context.update(_result_context(result, data["title"], scope.user.timezone))
    return render(request, "scheduling/find_time.html", context)


def _result_context(result: assistant.Result, title: str, zone: str) -> dict[str, object]:
    people = result.search.people
    proposals = [
        {"slot": slot, "book_url": assistant.book_url(slot, people, title),
         "local": [(p, _clock(slot.start, p.timezone)) for p in people],
         "outside": [p.email for p in people if p.pk in slot.outside_hours]}
        for slot in result.proposals
    ]  # fmt: skip
    return {"result": result, "proposals": proposals, "grid": grid.build(result, ZoneInfo(zone))}


def _clock(moment: datetime, zone: str) -> str:
    """A person's own clock, formatted here: the template's date filter would show the viewer's zone instead."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %H:%M")


@login_required
def personal_settings(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    personal = selectors.personal_for([scope.user]).get(scope.user.pk)
    others = scope.colleagues()
    form = PersonalForm(request.POST or None, colleagues=others, initial=_personal_initial(personal))
    if request.method == "POST" and form.is_valid():
        services.personal_update(user=scope.user, free_busy_sharing=form.cleaned_data["free_busy_sharing"],
                                 free_busy_with=list(form.cleaned_data["free_busy_with"]),
                                 working_hours=form.working_hours())  # fmt: skip
        messages.success(request, "Your scheduling settings were saved.")
        return redirect("scheduling:settings")
    share_form = ShareForm(colleagues=others)
    return render(request, "scheduling/settings.html", _settings_context(scope, form, share_form))


def _settings_context(scope: Scope, form: PersonalForm, share_form: ShareForm) -> dict[str, object]:
    days = [(name, form[f"start_{day}"], form[f"end_{day}"]) for day, name in enumerate(WEEKDAYS)]
    policy = selectors.policy_for(scope.tenant)
    shares = scope.calendar_shares().select_related("calendar", "grantee").order_by("calendar__name", "id")
    return {"form": form, "days": days, "share_form": share_form, "policy": policy, "calendars": scope.calendars(),
            "shares": shares}  # fmt: skip


def _personal_initial(personal: PersonalScheduling | None) -> dict[str, object]:
    if personal is None:
        return {"free_busy_sharing": PersonalScheduling.Sharing.DEFAULT}
    initial: dict[str, object] = {"free_busy_sharing": personal.free_busy_sharing,
                                  "free_busy_with": list(personal.free_busy_with.all())}  # fmt: skip
    for day, (start, end) in personal.working_hours.items():
        initial[f"start_{day}"], initial[f"end_{day}"] = start, end
    return initial


@login_required
@require_POST
def share_create(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    calendar = scope.calendar(pk)
    form = ShareForm(request.POST, colleagues=scope.colleagues())
    if form.is_valid():
        share = services.calendar_share(calendar=calendar, **form.cleaned_data)
        messages.success(request, f"{calendar} is shared with {share.grantee or 'everyone'}.")
    else:
        messages.error(request, "Choose a colleague (or everyone) and what they may do.")
    return redirect("scheduling:settings")


@login_required
@require_POST
def share_delete(request: HttpRequest, pk: int) -> HttpResponse:
    share = _scope(request).calendar_share(pk)
    services.calendar_unshare(share=share)
    messages.success(request, f"{share.calendar} is no longer shared with {share.grantee or 'everyone'}.")
    return redirect("scheduling:settings")


@login_required
def policy(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    scope.require_admin()
    form = PolicyForm(request.POST or None, instance=selectors.policy_for(scope.tenant))
    if request.method == "POST" and form.is_valid():
        services.policy_save(policy=form.save(commit=False))
        messages.success(request, "Scheduling rules were saved.")
        return redirect("scheduling:policy")
    return render(request, "scheduling/policy.html", {"form": form})
