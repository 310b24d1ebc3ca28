from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def invitations_send(meeting_id: int, method: str, removed: list[str] | None = None) -> int:
    return services.invitations_send(meeting_id=meeting_id, method=method, removed=tuple(removed or ()))


@shared_task(acks_late=True)
def meeting_copy_changed(meeting_id: int, calendar_id: int) -> None:
    services.meeting_copy_changed(meeting_id=meeting_id, calendar_id=calendar_id)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def meeting_cancel(meeting_id: int, snapshot: str) -> None:
    services.meeting_cancel(meeting_id=meeting_id, snapshot=snapshot)


@shared_task(acks_late=True)
def meeting_copy_deleted(meeting_id: int, user_id: int) -> None:
    services.meeting_copy_deleted(meeting_id=meeting_id, user_id=user_id)
