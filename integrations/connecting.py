"""What every provider's connect pages share: who may connect, the integration being reconnected, and the
choice step's starting values and its ending."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.tenancy import Scope
from calsync.crypto import SecretUnreadable
from events.selectors import main_calendar
from sync import selectors as sync_selectors
from sync.services import QUEUE_UNREACHABLE

from .models import Integration
from .providers import Provider
from .services import check_right


def connect_scope(request: HttpRequest, provider: str) -> Scope:
    """The user's scope, if they may set up integrations and the provider is allowed for their organisation."""
    check_right(request.user, provider)  # type: ignore[arg-type]
    return Scope(request.user)  # type: ignore[arg-type]


def reconnecting(request: HttpRequest, scope: Scope, provider: str) -> Integration | None:
    """The user's own integration named by ?integration=N (reconnect), None without one, 403/404 otherwise."""
    value = request.GET.get("integration", "")
    if not value:
        return None
    integration = scope.integration(int(value)) if value.isdigit() else None
    if integration is None or integration.provider != provider:
        raise PermissionDenied(f"That is not one of your {Provider(provider).label} integrations.")
    return integration


def choice_initial(request: HttpRequest, scope: Scope) -> dict[str, Any]:
    """The settings the choice step starts from: both ways, calsync wins, automatic, errors to the user."""
    return {"sync_enabled": True, "direction": "both", "primary": "calsync", "automatic": "true",
            "error_email": request.user.email, "calendar": main_calendar(scope.calendars())}  # type: ignore[union-attr]  # fmt: skip


@dataclass(frozen=True)
class MailboxCalendar:
    """A calendar in an Outlook / Exchange mailbox, as the choice step lists it."""

    url: str  # the provider's id for it
    name: str
    writable: bool
    default: bool = False

    @property
    def accepts_events(self) -> bool:
        return True


def calendars_to_session(calendars: list[Any]) -> list[dict[str, Any]]:
    """The calendars offered, kept in the session between the check and the choice (dataclasses, as dicts)."""
    return [asdict(c) for c in calendars]


def calendars_from_session(data: list[dict[str, Any]], kind: type = MailboxCalendar) -> list[Any]:
    return [kind(**c) for c in data]


def connect_chosen(request: HttpRequest, form: Form, *, pending: str, restart: str,
                   connect: Callable[[dict[str, Any]], Integration],
                   errors: tuple[type[Exception], ...]) -> HttpResponse | None:  # fmt: skip
    """The choice step's POST: connect the chosen calendar with the chosen settings and go to the integration.

    None when there is nothing to do yet or the provider refused (its message is then on the form). A pending
    connection whose secrets can no longer be read (the encryption key changed since) starts over at `restart`.
    """
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        integration = connect({**form.cleaned_data, "preview_first": True})
    except ValidationError as exc:
        form.add_error(None, exc.messages)
        return None
    except errors as exc:
        form.add_error(None, str(exc))
        return None
    except SecretUnreadable:
        request.session.pop(pending, None)
        messages.error(request, "This connection attempt expired. Please start again.")
        return redirect(restart)
    request.session.pop(pending, None)
    first_sync_previewed(request, integration, f"Connected to {integration.remote_calendar_name}.")
    return redirect("integrations:detail", pk=integration.pk)


def first_sync_previewed(request: HttpRequest, integration: Integration, done: str) -> None:
    """Connected with `preview_first` (integration_create): say that the first sync waits for the preview."""
    messages.success(request, f"{done} Here is what the first sync would do: nothing changes until you confirm it.")


def sync_started(
    request: HttpRequest, integration: Integration, done: str, started: str = "A sync has started."
) -> None:
    """Tell the user what they did and that the sync they asked for started, or, the task queue being
    unreachable, that it did not."""
    if integration.sync_enabled and sync_selectors.queue_refused(integration):
        messages.warning(request, f"{done} {QUEUE_UNREACHABLE}")
    else:
        messages.success(request, f"{done} {started}" if integration.sync_enabled else done)
