"""A published calendar (an ICS feed) as a read-only side of a sync.

A read is one conditional GET (client.py). 304: nothing changed, and the run costs that one request. 200: the
whole calendar, a complete listing (an event no longer in it is gone). Ids are the events' UIDs, kept stable
across feeds that regenerate them (identity.py); versions are hashes of the content. The cursor holds the
validators, when the copy stops being fresh (Cache-Control max-age: no request before), and the identities.

Two answers never delete anything: a feed that is gone (404, 410: FeedGone, the integration stops with that
error) and a feed that suddenly lists almost nothing of what was synced (SafetyStop, until the user allows the
deletion) — a publisher's broken export must not empty the user's calendar, whatever the operator's threshold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings

from events.ical import ICalError, Item, parse_calendar_lenient
from sync.adapter import Changes, Entry
from sync.errors import PermanentError, SafetyStop

from . import client
from .identity import Identities, stabilise, version

# A feed that had at least this many events and now lists fewer than a fifth of them looks broken, not emptied.
SHRINK_MIN_EVENTS = 3
SHRINK_FRACTION = 5
READ_ONLY = "A subscribed calendar is read only: calsync never writes to it."


@dataclass
class FeedState:
    """What the cursor carries from one read to the next."""

    etag: str = ""
    last_modified: str = ""
    fresh_until: float = 0.0
    identities: Identities = field(default_factory=Identities)

    @classmethod
    def load(cls, cursor: str | None) -> FeedState:
        try:
            data = json.loads(cursor or "{}")
            return cls(etag=str(data.get("etag", "")), last_modified=str(data.get("modified", "")),
                       fresh_until=float(data.get("fresh_until", 0)),
                       identities=Identities(dict(data.get("ids", {})), dict(data.get("aliases", {}))))  # fmt: skip
        except (ValueError, TypeError, AttributeError):
            return cls()  # unreadable: the next read is a complete listing, as for a first sync

    def without_validators(self) -> FeedState:
        """The state for a read that must list the whole feed: its identities only."""
        return FeedState(identities=self.identities)

    def dump(self) -> str:
        data: dict[str, Any] = {"etag": self.etag, "modified": self.last_modified}
        if self.fresh_until:
            data["fresh_until"] = round(self.fresh_until)
        data["ids"] = self.identities.fingerprints
        if self.identities.aliases:
            data["aliases"] = self.identities.aliases
        return json.dumps(data, separators=(",", ":"), sort_keys=True)


@dataclass
class ICSSide:
    url: str
    # The user confirmed that the feed really was emptied ("allow the deletion"): no SafetyStop this run.
    allow_shrink: bool = False
    # How many events are synced from the feed (the integration's mappings): with the cursor's identities, what
    # the shrink guard compares the new listing with.
    synced: int = 0
    # Someone asked for this run ("Synchronize now"): fetched (conditionally) even while the copy is fresh.
    asked: bool = False
    clock: Callable[[], float] = time.time
    # Nothing is ever written to a feed, so there are no calsync fields for it to drop (events.hidden).
    may_drop_hidden_fields: ClassVar[bool] = False
    _state: FeedState = field(default_factory=FeedState)
    _entries: dict[str, Entry] | None = None

    # --- reading -------------------------------------------------------------------------

    def changes(self, cursor: str | None) -> Changes:
        state = FeedState.load(cursor)
        self._state = state
        if cursor and state.fresh_until > self.clock() and not self.asked:
            return Changes(changed=[], deleted=[], cursor=cursor)  # the server said the copy is still fresh
        fetched = client.fetch(self.url, etag=state.etag if cursor else "",
                               last_modified=state.last_modified if cursor else "")  # fmt: skip
        if fetched.not_modified:
            return Changes(changed=[], deleted=[], cursor=self._next(state, fetched, state.identities).dump())
        assert fetched.body is not None
        entries, skipped, identities = self._read(fetched.body, state.identities)
        self._check_shrink(len(entries) + len(skipped), max(self.synced, len(state.identities.fingerprints)))
        self._entries = {e.id: e for e in entries}
        next_state = self._next(state, fetched, identities)
        return Changes(changed=entries, deleted=[], cursor=next_state.dump(), complete=True, skipped=skipped)

    def _next(self, state: FeedState, fetched: client.Fetched, identities: Identities) -> FeedState:
        fresh = min(fetched.max_age or 0, settings.ICS_MAX_FRESH_SECONDS)
        return FeedState(
            etag=fetched.etag or (state.etag if fetched.not_modified else ""),
            last_modified=fetched.last_modified or (state.last_modified if fetched.not_modified else ""),
            fresh_until=self.clock() + fresh if fresh > 0 else 0.0,
            identities=identities,
        )

    def _read(self, body: bytes, previous: Identities) -> tuple[list[Entry], list[tuple[str, str]], Identities]:
        host = client.host_of(self.url)
        if not body.strip():
            items, problems = [], []  # an empty answer is an empty calendar (the shrink check decides)
        else:
            try:
                items, problems = parse_calendar_lenient(body)
            except ICalError as exc:
                raise PermanentError(f"{host} does not serve a calendar calsync can read: {exc}") from None
        stable, identities, doubles = stabilise(items, previous)
        skipped = _unreadable(problems, previous, identities)
        skipped += [(item.uid, "The feed has another event under this identity; synced once.") for item in doubles]
        return [Entry(id=item.uid, version=version(item), item=item) for item in stable], skipped, identities

    def _check_shrink(self, now_listed: int, before: int) -> None:
        if self.allow_shrink or before < SHRINK_MIN_EVENTS or now_listed * SHRINK_FRACTION >= before:
            return
        raise SafetyStop(
            f"The feed at {client.host_of(self.url)} suddenly lists {now_listed} of the {before} events synced "
            "from it. Nothing was deleted. If the calendar really was emptied, allow the deletion."
        )

    def _listing(self) -> dict[str, Entry]:
        """The current events, for the engine's look-ups (a one-way sync putting an event back): fetched
        unconditionally if this run's read was a 304 or made no request."""
        if self._entries is None:
            fetched = client.fetch(self.url)
            entries, _, _ = self._read(fetched.body or b"", self._state.identities)
            self._entries = {e.id: e for e in entries}
        return self._entries

    def get(self, id: str) -> Entry | None:
        return self._listing().get(id)

    def find(self, uid: str) -> Entry | None:
        return self._listing().get(uid)

    # --- writing: never ---------------------------------------------------------------------

    def create(self, item: Item) -> Entry:
        raise PermanentError(READ_ONLY)

    def update(self, id: str, item: Item, version: str) -> Entry:
        raise PermanentError(READ_ONLY)

    def delete(self, id: str, version: str) -> None:
        raise PermanentError(READ_ONLY)


def _unreadable(problems: list[dict[str, str]], previous: Identities, kept: Identities) -> list[tuple[str, str]]:
    """The ids of the events calsync cannot read, reported "Not synced" and kept (never deleted). An event under
    a UID that stands for a known identity is that identity. One under a new UID (a feed that regenerates them)
    cannot be fingerprinted, so it stands for the identities the readable events left unmatched: those stay
    listed, and stay in `kept` (their old fingerprints) so that the event, once readable, is matched again."""
    known = {**{uid: uid for uid in previous.fingerprints}, **previous.aliases}
    vacant = [stable for stable in previous.fingerprints if stable not in kept.fingerprints]
    skipped: list[tuple[str, str]] = []
    unknown = False
    for problem in problems:
        uid, why = problem["uid"], f"calsync cannot read this event: {problem['reason']}"
        unknown = unknown or uid not in known
        stable = known.get(uid) or (vacant[0] if vacant else uid or "(no UID)")
        if stable in vacant:
            vacant.remove(stable)
        skipped.append((stable, why))
    # An unreadable event under an unknown UID, and more identities unmatched than such events: the rest may be
    # deletions, or events calsync cannot tell apart; while that lasts, keeping them deletes nothing by mistake.
    skipped += [(stable, "calsync cannot tell whether this event is still in the feed (the feed has an unreadable "
                 "event).") for stable in vacant if unknown]  # fmt: skip
    for stable, _ in skipped:
        if stable in previous.fingerprints:
            kept.fingerprints.setdefault(stable, previous.fingerprints[stable])
    return skipped
