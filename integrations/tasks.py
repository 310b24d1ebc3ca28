"""Periodic work for integrations (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="integrations.google_renew_channels")
def google_renew_channels() -> int:
    """Google push channels live at most a week: open a successor for each that ends within a day."""
    from .google.services import channels_renew

    return channels_renew()


@shared_task(name="integrations.microsoft_renew_subscriptions")
def microsoft_renew_subscriptions() -> int:
    """Graph subscriptions end within a week: renew those ending within a day, retry failed ones."""
    from .microsoft.push import subscriptions_renew

    return subscriptions_renew()


@shared_task(name="integrations.microsoft_push_repair")
def microsoft_push_repair(integration_id: int, event: str) -> None:
    """A Graph lifecycle notification: reauthorize, or subscribe again after a removal."""
    from .microsoft.push import push_repair

    push_repair(integration_id=integration_id, event=event)
