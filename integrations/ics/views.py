"""Subscribe to a calendar by URL: one page; "Check" fetches it and says how many events it holds."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from integrations.connecting import choice_initial, connect_scope, first_sync_previewed
from integrations.providers import Provider

from . import services
from .forms import SubscribeForm


def _found(check: services.FeedCheck) -> str:
    found = f"{check.events} event{'s' if check.events != 1 else ''} found"
    return f"{found} ({check.unreadable} calsync cannot read)" if check.unreadable else found


@login_required
def subscribe(request: HttpRequest) -> HttpResponse:
    scope = connect_scope(request, Provider.ICS)
    initial = {k: v for k, v in choice_initial(request, scope).items() if k in ("calendar", "automatic", "error_email")}
    form = SubscribeForm(request.POST or None, calendars=scope.calendars(), initial=initial)
    found = ""
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            check = services.feed_check(text=data.pop("url"), user=request.user)  # type: ignore[arg-type]
            found = _found(check)
            if "check" not in request.POST:
                integration = services.ics_subscribe(user=request.user, check=check, preview_first=True, **data)  # type: ignore[arg-type]
                subscribed = f"Subscribed to {integration.remote_calendar_name}: {found}."
                first_sync_previewed(request, integration, subscribed)
                return redirect("integrations:detail", pk=integration.pk)
        except services.SubscriptionError as exc:
            form.add_error("url", str(exc))
        except ValidationError as exc:
            form.add_error(None, exc.messages)
    return render(request, "integrations/ics_subscribe.html", {"form": form, "found": found})
