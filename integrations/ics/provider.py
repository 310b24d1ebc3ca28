"""Builds the side of an ICS subscription from its stored (encrypted) URL."""

from __future__ import annotations

from integrations.models import Integration
from sync.models import SyncRun

from .adapter import FeedState, ICSSide

# Runs someone asked for ("Synchronize now", the first sync, saved settings): the feed is fetched even while the
# server said the last copy is fresh (Cache-Control max-age, up to ICS_MAX_FRESH_SECONDS).
ASKED = frozenset({SyncRun.Trigger.MANUAL, SyncRun.Trigger.FIRST})


def build_side(integration: Integration) -> ICSSide:
    """The URL is a secret (it may carry a token or credentials): it is kept encrypted and read only here. The
    shrink guard also counts the events synced from the feed (its mappings), which no cursor reset clears."""
    return ICSSide(url=integration.credentials["url"], allow_shrink=integration.allow_mass_delete,
                   synced=integration.mappings.count(), asked=integration.lock_trigger in ASKED)  # fmt: skip


def reset_cursor(cursor: str) -> str:
    """Comparing everything again means fetching the whole feed (no validators, no freshness), not forgetting
    which identity each event was synced under: a feed that regenerates UIDs would be copied again."""
    return FeedState.load(cursor).without_validators().dump() if cursor else ""
