"""A provider for tests whose remote side takes `config["seconds"]` to list its changes: a slow but live sync."""

from __future__ import annotations

import time

from integrations.calsync_calendar import build_side as calsync_side
from sync.adapter import Changes, Known
from sync.local import CalsyncSide


class SlowSide(CalsyncSide):
    seconds = 0.0

    def changes(self, cursor: str | None, known: Known | None = None) -> Changes:
        time.sleep(self.seconds)  # as a provider that makes us wait (one long call: no progress to report)
        return super().changes(cursor, known)


def build_side(integration):  # type: ignore[no-untyped-def]
    side = calsync_side(integration)
    slow = SlowSide(side.calendar)
    slow.seconds = float(integration.config.get("seconds", 0))
    return slow
