"""Connecting, configuring and disconnecting integrations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from events.models import Calendar
from operations.health import reconnect_ask_forget
from sync.controls import Controls
from sync.errors import QueueUnavailable
from sync.models import SyncPreview, SyncRun
from sync.previews import (
    preview_again,
    preview_confirmed,
    preview_discard,
    preview_request,
    preview_unconfirmed,
    preview_valid,
    proposed_changes,
)
from sync.services import COMPARE_ALL, resync_request, sync_request

from . import registry
from .models import Integration
from .providers import MAILBOX_PROVIDERS, Provider


def check_right(user: User, provider: str) -> None:
    """May this user connect this provider? PermissionDenied says why not."""
    if not user.may_set_up_integrations:
        raise PermissionDenied("You do not have the right to set up integrations. Ask an admin to grant it.")
    assert user.tenant is not None
    if not user.tenant.allows(provider):
        raise PermissionDenied(f"{Provider(provider).label} is not enabled for {user.tenant.name}.")


SETTINGS_FIELDS = ("sync_enabled", "direction", "primary", "automatic", "error_email", "calendar")


def integration_create(
    *,
    user: User,
    provider: str,
    calendar: Calendar,
    remote_calendar_id: str,
    remote_calendar_name: str,
    config: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
    remote_read_only: bool = False,
    signed_in: bool = False,
    preview_first: bool = False,
    **sync_settings: Any,
) -> Integration:
    """Connect a calendar; the first sync starts as soon as this commits. A calendar the user may only read at the
    provider syncs into calsync only, whatever direction was asked for.

    `preview_first` (every connect page passes it): nothing syncs yet; a preview of the first sync is made, and
    the sync starts when the user confirms it (integration_preview_confirm). Programmatic callers sync at once."""
    check_right(user, provider)
    if calendar.owner_id != user.pk:
        raise PermissionDenied("You can only sync your own calendars.")
    taken = Integration.objects.filter(provider=provider, remote_calendar_id=remote_calendar_id, user=user)
    if taken.exists():
        raise ValidationError("This calendar is already connected. Syncing it twice would duplicate your events.")
    address = (config or {}).get("account")
    if provider in MAILBOX_PROVIDERS and address:
        _refuse_mailbox_calendar_twice(user, provider, address, remote_calendar_name)
    integration = Integration(
        tenant_id=user.tenant_id,
        user=user,
        provider=provider,
        calendar=calendar,
        remote_calendar_id=remote_calendar_id,
        remote_calendar_name=remote_calendar_name,
        config=config or {},
        remote_read_only=remote_read_only,
        **{"error_email": user.email, **{k: v for k, v in sync_settings.items() if k in SETTINGS_FIELDS}},
    )
    integration.direction = integration.effective_direction  # stored as it syncs
    integration.set_credentials(credentials or {})
    if signed_in:  # the provider just issued a refresh token: its lifetime counts from now (operations.radar)
        integration.token_refreshed_at = timezone.now()
    integration.awaiting_confirmation = preview_first
    with transaction.atomic():
        integration.save()
        if preview_first:
            preview_request(integration=integration, reason=SyncPreview.Reason.FIRST, user=user)
        elif integration.sync_enabled:
            sync_request(integration=integration, trigger=SyncRun.Trigger.FIRST)
    return integration


def _refuse_mailbox_calendar_twice(user: User, provider: str, address: str, name: str) -> None:
    """One calendar of a mailbox synced twice, over Graph and over EWS, would show every event twice.

    Another calendar of the same mailbox (a team calendar beside the main one) is welcome. Graph and EWS
    give one calendar different ids but the same folder name (Exchange refuses two folders of one name side
    by side); over the same protocol the id already tells (integration_create).
    """
    same = Integration.objects.filter(
        user=user, provider__in=MAILBOX_PROVIDERS, config__account=address, remote_calendar_name__iexact=name
    ).exclude(provider=provider)
    if (first := same.select_related("calendar").first()) is not None:
        raise ValidationError(
            f"The calendar “{name}” of the mailbox {address} is already connected (to “{first.calendar.name}”, "
            f"through {Provider(first.provider).label}). Connecting it again would duplicate its events; change "
            "that integration's settings instead."
        )


def integration_update_settings(*, integration: Integration, **values: Any) -> Integration:
    """Save the user's settings. Changing the calsync calendar starts the pairing over."""
    calendar_changed = "calendar" in values and values["calendar"].pk != integration.calendar_id
    if (
        calendar_changed
        and integration.provider == Provider.CALSYNC
        and str(values["calendar"].pk) == (integration.remote_calendar_id)
    ):
        raise ValidationError("A calendar cannot sync with itself; choose another calsync calendar.")
    if calendar_changed and integration.is_running:
        # The running sync would save the old calendar's cursor over the reset one.
        raise ValidationError("A sync is running; change the calendar once it has finished.")
    for field in SETTINGS_FIELDS:
        if field in values:
            setattr(integration, field, values[field])
    integration.direction = integration.effective_direction  # stored as it syncs
    fields = list(SETTINGS_FIELDS)
    if calendar_changed:
        integration.local_cursor, integration.remote_cursor = "", registry.reset_cursor(integration)
        integration.mappings.all().delete()
        preview_discard(integration=integration)  # they were of the other calendar
        fields += ["local_cursor", "remote_cursor"]
    # The sync requested below starts at once; automatic ones then continue every interval.
    interval = timedelta(seconds=settings.SYNC_INTERVAL_SECONDS)
    syncing = integration.sync_enabled and not integration.awaiting_confirmation  # else the first sync waits
    integration.next_sync_at = timezone.now() + interval if syncing and integration.automatic else None
    with transaction.atomic():
        integration.save(update_fields=[*fields, "next_sync_at"])
        if syncing:
            # As the seeds say: saving the settings syncs at once.
            sync_request(integration=integration, trigger=SyncRun.Trigger.MANUAL)
    return integration


def integration_controls_update(*, integration: Integration, controls: Controls) -> bool:
    """Save new sync controls. When they changed, the next run compares everything (both cursors cleared, so
    items a filter now lets through, or keeps out, are seen) and starts at once. Returns whether they changed.

    A run going on now would save its cursors over the cleared ones: it is also marked to compare everything at
    its next start (sync.services clears the cursors under the lock then). The mark is added to the config stored
    now (row locked), so keys a run wrote since the page read the integration are kept."""
    values = controls.to_json()
    with transaction.atomic():
        stored = Integration.objects.select_for_update().values("controls", "config").get(pk=integration.pk)
        if values == Controls.from_json(stored["controls"]).to_json():
            return False
        integration.controls = values
        integration.local_cursor, integration.remote_cursor = "", registry.reset_cursor(integration)
        integration.config = {**stored["config"], COMPARE_ALL: True}
        integration.save(update_fields=["controls", "local_cursor", "remote_cursor", "config"])
        if integration.sync_enabled and not integration.awaiting_confirmation:
            sync_request(integration=integration, trigger=SyncRun.Trigger.MANUAL)
    return True


def integration_credentials_replaced(
    *, integration: Integration, credentials: dict[str, Any], config: dict[str, Any] | None = None,
    signed_in: bool = False,
) -> Integration:  # fmt: skip
    """New credentials (reconnected, password updated): the integration is healthy again and syncs at once (one
    awaiting the confirmation of its first sync is previewed again instead: nothing syncs before it).
    `signed_in`: the user signed in again, so the provider's refresh token is new (operations.radar)."""
    if config is not None:
        integration.config = config
    integration.set_credentials(credentials)
    integration.status, integration.last_error, integration.notified_problem = Integration.Status.OK, "", ""
    waiting = integration.awaiting_confirmation  # its first sync waits: the preview it waits on is made again
    interval = timedelta(seconds=settings.SYNC_INTERVAL_SECONDS)
    integration.next_sync_at = None if waiting else timezone.now() + interval
    if signed_in:
        integration.token_refreshed_at = timezone.now()
    integration.save(update_fields=["config", "credentials_encrypted", "status", "last_error", "notified_problem",
                                    "next_sync_at", "token_refreshed_at"])  # fmt: skip
    reconnect_ask_forget(integration)  # the reconnect is the answer to an admin's ask
    if waiting:
        preview_request(integration=integration, reason=SyncPreview.Reason.FIRST)
    elif integration.sync_enabled:
        sync_request(integration=integration, trigger=SyncRun.Trigger.MANUAL)
    return integration


def integration_allow_mass_delete(*, integration: Integration) -> Integration:
    """The user confirms that the other calendar really was emptied: the next run may delete."""
    integration.allow_mass_delete = True
    integration.save(update_fields=["allow_mass_delete"])
    sync_request(integration=integration, trigger=SyncRun.Trigger.MANUAL)
    return integration


ALREADY_CONFIRMED = "This preview was confirmed already: nothing more was started."
STOP_OVER = "The safety stop is over: no deletion is held back any more, so nothing was allowed or started."


def integration_preview_confirm(*, preview: SyncPreview, user: User) -> SyncPreview | None:
    """The user confirms what a preview showed: the sync it previewed starts (the first sync, a resync from
    scratch, the new settings applied, the held-back deletions allowed). A preview that is stale or was made for
    other settings is not acted on: a new one is made and returned instead (None once confirmed).

    Raises ValidationError (ALREADY_CONFIRMED) for a preview confirmed already (a second click, back and resubmit):
    nothing happens twice. Raises QueueUnavailable when the sync cannot be queued: the preview stays unconfirmed."""
    preview.refresh_from_db(fields=["status"])
    preview.integration.refresh_from_db()  # the settings as they are now
    integration = preview.integration
    first_done = preview.reason == SyncPreview.Reason.FIRST and not integration.awaiting_confirmation
    if preview.status == SyncPreview.Status.CONFIRMED or first_done:
        raise ValidationError(ALREADY_CONFIRMED)
    if preview.reason == SyncPreview.Reason.DELETIONS and integration.status != Integration.Status.STOPPED:
        raise ValidationError(STOP_OVER)  # not made again either: a healthy integration has nothing to allow
    if not preview_valid(preview):
        return preview_again(preview=preview, user=user)
    if not preview_confirmed(preview=preview):
        raise ValidationError(ALREADY_CONFIRMED)  # the other click of a double click won the row
    try:
        {
            SyncPreview.Reason.FIRST: _first_sync_confirmed,
            SyncPreview.Reason.RESYNC: lambda i: resync_request(integration=i),
            SyncPreview.Reason.SETTINGS: lambda i: _settings_confirmed(i, proposed_changes(preview)),
            SyncPreview.Reason.DELETIONS: lambda i: integration_allow_mass_delete(integration=i),
        }[SyncPreview.Reason(preview.reason)](integration)
    except QueueUnavailable:
        preview_unconfirmed(preview=preview)  # confirmable again once the queue is back
        raise
    return None


def _first_sync_confirmed(integration: Integration) -> None:
    integration.awaiting_confirmation = False
    interval = timedelta(seconds=settings.SYNC_INTERVAL_SECONDS)
    integration.next_sync_at = timezone.now() + interval if integration.sync_enabled and integration.automatic else None
    with transaction.atomic():
        integration.save(update_fields=["awaiting_confirmation", "next_sync_at"])
        if integration.sync_enabled:
            sync_request(integration=integration, trigger=SyncRun.Trigger.FIRST)
        transaction.on_commit(lambda: registry.confirmed(integration))


def _settings_confirmed(integration: Integration, changes: dict[str, Any]) -> None:
    """The previewed direction and primary calendar, then the controls, saved as their own forms save them."""
    moved = {name: changes[name] for name in ("direction", "primary") if name in changes}
    if moved:
        integration_update_settings(integration=integration, **moved)
    if "controls" in changes:
        integration_controls_update(integration=integration, controls=Controls.from_json(changes["controls"]))


def integration_disconnect(*, integration: Integration) -> None:
    """Tell the provider (stop push, revoke access) and forget the credentials and the pairing.

    calsync's events stay as they are.
    """
    registry.before_disconnect(integration)
    integration.delete()
