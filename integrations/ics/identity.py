"""Stable identities for the events of a feed whose publisher regenerates UIDs on every fetch.

Some booking systems and exporters write a fresh UID into each copy of their feed. Taken at its word, every poll
would delete every event in calsync and create it again. So each event keeps the identity it was first synced
under: an event under a UID never seen before that has the same start, end, title and recurrence as an event
that vanished from the feed in the same fetch is that event, under its old identity. What is needed for that
(the fingerprint of each synced event, and which new UIDs stand for which old ones) travels in the cursor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from events.ical import Item, temporal_to_text, with_uid


@dataclass
class Identities:
    """stable id -> fingerprint of every event of the last listing; feed UID -> stable id where they differ."""

    fingerprints: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


def fingerprint(item: Item) -> str:
    """What identifies an event when its UID cannot: its kind, start, end, title and recurrence."""
    master = item.master
    parts = [
        master.kind,
        temporal_to_text(master.start) if master.start is not None else "",
        temporal_to_text(master.end) if master.end is not None else "",
        master.summary.strip(),
        master.rrule,
        ",".join(sorted(temporal_to_text(d) for d in master.rdates)),
        ",".join(sorted(temporal_to_text(d) for d in master.exdates)),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def version(item: Item) -> str:
    """A hash of the item's content (under its stable UID): the feed's own DTSTAMP and LAST-MODIFIED, rewritten
    on every export, are not part of it (events.ical drops them)."""
    return hashlib.sha256(repr(item).encode()).hexdigest()[:32]


def stabilise(items: Iterable[Item], previous: Identities) -> tuple[list[Item], Identities, list[Item]]:
    """The items under their stable UIDs, the identities to keep for the next fetch, and the items left out
    because another item of the feed already holds their identity."""
    items = list(items)
    held: dict[str, Item] = {}
    unplaced: list[Item] = []
    for item in items:
        stable = previous.aliases.get(item.uid) or (item.uid if item.uid in previous.fingerprints else "")
        if stable and stable not in held:
            held[stable] = item
        else:
            unplaced.append(item)
    vacant: dict[str, list[str]] = {}
    for stable, print_ in previous.fingerprints.items():
        if stable not in held:
            vacant.setdefault(print_, []).append(stable)
    left_out: list[Item] = []
    for item in unplaced:
        candidates = vacant.get(fingerprint(item), [])
        stable = candidates.pop(0) if candidates else item.uid
        if stable in held:
            left_out.append(item)
            continue
        held[stable] = item
    kept = Identities(
        fingerprints={stable: fingerprint(item) for stable, item in held.items()},
        aliases={item.uid: stable for stable, item in held.items() if item.uid != stable},
    )
    return [with_uid(item, stable) if item.uid != stable else item for stable, item in held.items()], kept, left_out
