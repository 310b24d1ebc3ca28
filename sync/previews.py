"""Previews as rows: asked for (first sync, resync, new settings, a safety stop), worked out by a task on the
manual queue (sync.preview's dry run), shown, and confirmed or made again.

A preview never takes the sync lock: it writes nothing a sync reads or writes, so a sync running meanwhile is
neither held up nor disturbed (what it changes shows in the next preview, made when this one goes stale).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from calsync.crypto import SecretUnreadable
from calsync.queue import SYNC_MANUAL, publish
from integrations.models import Integration

from .controls import Controls
from .errors import AuthRevoked, PermanentError, SyncError, TransientError
from .models import SyncPreview
from .preview import preview_compute
from .services import QUEUE_UNREACHABLE

log = logging.getLogger(__name__)

_PENDING = (SyncPreview.Status.QUEUED, SyncPreview.Status.RUNNING)
_SETTINGS = ("direction", "primary", "controls")
_CALENDARS = ("calendar", "remote_calendar")


def settings_of(integration: Integration) -> dict[str, Any]:
    """The settings a preview is made for, as SyncPreview.proposed stores them; with the calendars it pairs,
    which only the settings form changes (a preview made before is then of other calendars)."""
    return {"direction": integration.effective_direction, "primary": integration.primary,
            "controls": Controls.from_json(integration.controls).to_json(),
            "calendar": integration.calendar_id, "remote_calendar": integration.remote_calendar_id}  # fmt: skip


def preview_request(
    *, integration: Integration, reason: str, proposed: dict[str, Any] | None = None, user: User | None = None
) -> SyncPreview:
    """A preview of the sync `reason` would start, with `proposed` settings over the integration's; worked out by
    a task once the current transaction commits. Earlier previews of the integration not yet confirmed go."""
    wanted = {**settings_of(integration), **(proposed or {})}
    preview_discard(integration=integration)
    preview = SyncPreview.objects.create(
        tenant_id=integration.tenant_id, integration=integration, reason=reason, proposed=wanted, created_by=user
    )
    transaction.on_commit(lambda: _publish(preview))
    return preview


def preview_discard(*, integration: Integration, reason: str | None = None) -> None:
    """The integration's previews not yet confirmed go (a newer one replaces them, or they are of other calendars);
    with `reason`, only those (a safety stop's deletions preview, once the stop is over)."""
    previews = integration.previews.filter(status__in=[*_PENDING, SyncPreview.Status.READY])
    if reason is not None:
        previews = previews.filter(reason=reason)
    previews.update(status=SyncPreview.Status.DISCARDED)


def _publish(preview: SyncPreview) -> None:
    from .tasks import preview_run

    if not publish(preview_run, preview.pk, queue=SYNC_MANUAL):
        SyncPreview.objects.filter(pk=preview.pk, status=SyncPreview.Status.QUEUED).update(
            status=SyncPreview.Status.FAILED, error=QUEUE_UNREACHABLE, finished_at=timezone.now()
        )


def preview_execute(*, preview_id: int) -> SyncPreview | None:
    """Work out a queued preview (delivered twice, or discarded meanwhile: nothing to do)."""
    started = SyncPreview.objects.filter(pk=preview_id, status=SyncPreview.Status.QUEUED).update(
        status=SyncPreview.Status.RUNNING
    )
    preview = SyncPreview.objects.select_related("integration__calendar", "integration__user").filter(pk=preview_id)
    found = preview.first()
    if not started or found is None:
        return found
    try:
        outcome = preview_compute(integration=found.integration, reason=found.reason, proposed=found.proposed)
    except AuthRevoked as exc:
        _failed(found, f"calsync can no longer reach the other calendar: {exc} Reconnect it, then preview again.")
    except (TransientError, PermanentError, SyncError, SecretUnreadable, LookupError) as exc:
        _failed(found, f"The preview could not read the calendars: {exc}")
    except Exception:
        _failed(found, "An internal error stopped this preview; it has been logged.")
        raise
    else:
        found.counts, found.invitations, found.conflicts = outcome.counts, outcome.invitations, outcome.conflicts
        found.examples, found.error = outcome.examples, outcome.stop
        _finished(found, SyncPreview.Status.READY, ["counts", "examples", "invitations", "conflicts", "error"])
    return found


def _failed(preview: SyncPreview, message: str) -> None:
    preview.error = message
    _finished(preview, SyncPreview.Status.FAILED, ["error"])


def _finished(preview: SyncPreview, status: str, fields: list[str]) -> None:
    """Saved only if still running: a preview discarded meanwhile stays discarded."""
    preview.status, preview.finished_at = status, timezone.now()
    values = {name: getattr(preview, name) for name in [*fields, "status", "finished_at"]}
    SyncPreview.objects.filter(pk=preview.pk, status=SyncPreview.Status.RUNNING).update(**values)
    log.info("preview finished", extra={"integration": preview.integration_id, "preview": preview.pk,
                                        "preview_status": status})  # fmt: skip


PREVIEW_LOST = "This preview never finished (the worker making it stopped, or none started it). Preview again."


def previews_end_lost(*, now: datetime, integration: Integration | None = None) -> int:
    """Fail the previews no worker will finish: queued past SYNC_QUEUED_TIMEOUT_SECONDS, or still running
    PREVIEW_STALE_SECONDS after they were asked for (a redelivered task finds them running and leaves them)."""
    queued = Q(status=SyncPreview.Status.QUEUED,
               created_at__lt=now - timedelta(seconds=settings.SYNC_QUEUED_TIMEOUT_SECONDS))  # fmt: skip
    running = Q(status=SyncPreview.Status.RUNNING,
                created_at__lt=now - timedelta(seconds=settings.PREVIEW_STALE_SECONDS))  # fmt: skip
    lost = SyncPreview.objects.filter(queued | running)
    if integration is not None:
        lost = lost.filter(integration=integration)
    return lost.update(status=SyncPreview.Status.FAILED, error=PREVIEW_LOST, finished_at=now)


def preview_again(*, preview: SyncPreview, user: User | None) -> SyncPreview:
    """A new preview of what `preview` previewed (it failed, or the user asks again): same reason, and for a
    settings preview the same proposed settings."""
    proposed = proposed_changes(preview) if preview.reason == SyncPreview.Reason.SETTINGS else None
    return preview_request(integration=preview.integration, reason=preview.reason, proposed=proposed, user=user)


def preview_valid(preview: SyncPreview) -> bool:
    """Whether confirming this preview may act on it: ready, younger than PREVIEW_VALID_SECONDS, and made for the
    integration's settings as they are now (a settings preview: for the settings it proposes, from those)."""
    if preview.status != SyncPreview.Status.READY or preview.finished_at is None or _stale_stop(preview):
        return False
    if timezone.now() - preview.finished_at > timedelta(seconds=settings.PREVIEW_VALID_SECONDS):
        return False
    now = settings_of(preview.integration)
    if preview.reason == SyncPreview.Reason.SETTINGS:  # its own settings differ by design: the calendars may not
        return all(preview.proposed.get(name) == now[name] for name in _CALENDARS)
    return preview.proposed == now


def preview_latest(*, integration: Integration) -> SyncPreview | None:
    """The preview the integration's page shows: the newest one not confirmed or discarded (a lost one failed
    first, so the page offers to preview again rather than waiting for ever)."""
    previews_end_lost(now=timezone.now(), integration=integration)
    latest = (
        integration.previews.exclude(status__in=[SyncPreview.Status.CONFIRMED, SyncPreview.Status.DISCARDED])
        .order_by("-created_at", "-pk")
        .first()
    )
    return None if latest is not None and _stale_stop(latest) else latest


def _stale_stop(preview: SyncPreview) -> bool:
    """A deletions preview of a stop that is over (sync.services discards it then; this holds whatever ended it):
    "Allow the deletion" means nothing on an integration that is not stopped."""
    stopped = preview.integration.status == Integration.Status.STOPPED
    return preview.reason == SyncPreview.Reason.DELETIONS and not stopped


def preview_confirmed(*, preview: SyncPreview) -> bool:
    """Mark the preview confirmed (once: a second click finds it confirmed and does nothing)."""
    return bool(
        SyncPreview.objects.filter(pk=preview.pk, status=SyncPreview.Status.READY).update(
            status=SyncPreview.Status.CONFIRMED
        )
    )


def preview_unconfirmed(*, preview: SyncPreview) -> None:
    """A confirmation whose sync could not be started: the preview is ready to confirm again."""
    SyncPreview.objects.filter(pk=preview.pk, status=SyncPreview.Status.CONFIRMED).update(
        status=SyncPreview.Status.READY
    )


def proposed_changes(preview: SyncPreview) -> dict[str, Any]:
    """Of a settings preview's proposed settings, those that differ from the integration's now."""
    current = settings_of(preview.integration)
    return {name: preview.proposed[name] for name in _SETTINGS if preview.proposed.get(name) != current[name]}


def preview_sides(preview: SyncPreview) -> list[dict[str, Any]]:
    """The preview's counts and examples per side, as the integration page shows them."""
    other = preview.integration.get_provider_display()
    rows = []
    for side, where in (("calsync", "calsync"), ("remote", other)):
        counts = preview.counts.get(side, {})
        rows.append({"side": side, "where": where,
                     **{action: counts.get(action, 0)
                        for action in ("created", "updated", "deleted", "filtered", "unsynced")},
                     "examples": [e for e in preview.examples if e["side"] == side]})  # fmt: skip
    return rows
