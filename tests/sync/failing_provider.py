"""A provider for tests whose remote side fails as the integration's config says."""

from __future__ import annotations

from integrations.calsync_calendar import build_side as calsync_side
from sync import errors


def build_side(integration):  # type: ignore[no-untyped-def]
    failure = integration.config.get("fail", "")
    if failure == "transient":
        raise errors.TransientError("The calendar server is busy (503).", retry_after=120)
    if failure == "revoked":
        raise errors.AuthRevoked("The calendar refused our access: please reconnect.")
    if failure == "permanent":
        raise errors.PermanentError("The calendar no longer exists.")
    return calsync_side(integration)
