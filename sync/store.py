"""The engine's StatusStore and Report, backed by the database."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice

from django.db import transaction
from django.db.models import Q

from events.ical import Item, is_private, serialise
from events.limits import printable
from integrations.models import Integration

from .engine import Mapping, Side, content_hash, side_name, source_key
from .errors import SyncError
from .liveness import lock_renew
from .models import SyncLogEntry, SyncMapping, SyncRun, UnsyncedItem

_CHUNK = 500  # ids per IN (...) clause


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    iterator = iter(values)
    while chunk := list(islice(iterator, _CHUNK)):
        yield chunk


def _to_engine(row: SyncMapping) -> Mapping:
    return Mapping(
        uid=row.uid,
        local_id=row.local_id,
        local_version=row.local_version,
        remote_id=row.remote_id,
        remote_version=row.remote_version,
        content_hash=row.content_hash,
        pk=row.pk,
        origin=row.origin,
        copy_hash=row.copy_hash,
    )


def _values(mapping: Mapping) -> dict[str, str]:
    return {
        "uid": mapping.uid,
        "local_id": mapping.local_id,
        "local_version": mapping.local_version,
        "remote_id": mapping.remote_id,
        "remote_version": mapping.remote_version,
        "content_hash": mapping.content_hash,
        "origin": mapping.origin,
        "copy_hash": mapping.copy_hash,
    }


class DbStatusStore:
    """Mappings and cursors in the database, written only while this run still holds the integration's lock."""

    def __init__(self, integration: Integration, lock_token: str = "") -> None:
        self.integration = integration
        self.lock_token = lock_token
        self._renewed = time.monotonic()
        self.local_cursor: str | None = integration.local_cursor or None
        self.remote_cursor: str | None = integration.remote_cursor or None

    def _rows(self):  # type: ignore[no-untyped-def]
        return SyncMapping.objects.filter(integration=self.integration)

    def lookup(self, local_ids: Iterable[str], remote_ids: Iterable[str], uids: Iterable[str]) -> list[Mapping]:
        found: dict[int, SyncMapping] = {}
        for field, values in (("local_id", local_ids), ("remote_id", remote_ids), ("uid", uids)):
            for chunk in _chunks(set(values)):
                for row in self._rows().filter(Q(**{f"{field}__in": chunk})):
                    found[row.pk] = row
        return [_to_engine(row) for row in found.values()]

    def all(self) -> list[Mapping]:
        return [_to_engine(row) for row in self._rows()]

    def pages(self, size: int) -> Iterator[list[Mapping]]:
        """Keyset pages by primary key: each page one indexed range read, however many mappings there are."""
        last = 0
        while page := [_to_engine(row) for row in self._rows().filter(pk__gt=last).order_by("pk")[:size]]:
            yield page
            last = page[-1].pk  # type: ignore[assignment]

    def count(self) -> int:
        return self._rows().count()

    def known(self, side: Side, pairs: Sequence[tuple[str, str]]) -> set[str]:
        id_field, version_field = (("local_id", "local_version") if side is Side.LOCAL
                                   else ("remote_id", "remote_version"))  # fmt: skip
        versions = dict(pairs)
        found: set[str] = set()
        for chunk in _chunks(versions):
            for item_id, version in (
                self._rows().filter(**{f"{id_field}__in": chunk}).values_list(id_field, version_field)
            ):
                if version and versions.get(item_id) == version:
                    found.add(item_id)
        return found

    def _heartbeat(self) -> None:
        """Stop if another run took the lock (the heartbeat thread keeps it alive; this notices a takeover)."""
        if not self.lock_token or time.monotonic() - self._renewed < 60:
            return
        if not lock_renew(integration_id=self.integration.pk, token=self.lock_token):
            raise SyncError("Another sync took over this integration; it carries on from here.")
        self._renewed = time.monotonic()

    def save(self, mapping: Mapping) -> None:
        self._heartbeat()
        values = _values(mapping)
        if mapping.pk is None:
            mapping.pk = SyncMapping.objects.create(integration=self.integration, **values).pk
        else:
            SyncMapping.objects.filter(pk=mapping.pk).update(**values)

    def save_many(self, mappings: list[Mapping]) -> None:
        """New mappings in one INSERT for the lot (a first sync records thousands), changed ones in one transaction
        (plain UPDATEs: Django's bulk_update, a CASE per field and row, costs more than it saves)."""
        self._heartbeat()
        new = [m for m in mappings if m.pk is None]
        old = [m for m in mappings if m.pk is not None]
        rows = SyncMapping.objects.bulk_create(SyncMapping(integration=self.integration, **_values(m)) for m in new)
        for mapping, row in zip(new, rows, strict=True):
            mapping.pk = row.pk
        with transaction.atomic():
            for mapping in old:
                SyncMapping.objects.filter(pk=mapping.pk).update(**_values(mapping))

    def remove(self, mapping: Mapping) -> None:
        if mapping.pk is not None:
            SyncMapping.objects.filter(pk=mapping.pk).delete()

    def remove_many(self, mappings: list[Mapping]) -> None:
        for chunk in _chunks(m.pk for m in mappings if m.pk is not None):  # type: ignore[misc]
            SyncMapping.objects.filter(pk__in=chunk).delete()

    def save_cursors(self, local: str | None, remote: str | None) -> None:
        self.local_cursor, self.remote_cursor = local, remote
        if (local or "", remote or "") == (self.integration.local_cursor, self.integration.remote_cursor):
            return  # a sync that found nothing: no write (the run's closing update checks the lock)
        rows = Integration.objects.filter(pk=self.integration.pk)
        if self.lock_token:
            rows = rows.filter(lock_token=self.lock_token)
        if not rows.update(local_cursor=local or "", remote_cursor=remote or ""):
            raise SyncError("Another sync took over this integration; it carries on from here.")
        self.integration.local_cursor, self.integration.remote_cursor = local or "", remote or ""


class RunReport:
    """Writes what the engine reports to the run's log and the unsynced-items list.

    Given a run row (a user is watching), it writes there. A scheduled sync starts without one (`integration`,
    `trigger`, `started_at`): the row is written the first time the run has something to say, so a sync that
    found nothing leaves none (`quiet`)."""

    def __init__(
        self,
        run: SyncRun | None = None,
        *,
        integration: Integration | None = None,
        trigger: str = "",
        started_at: datetime | None = None,
    ) -> None:
        self.written = run
        self.integration = run.integration if run is not None else integration
        self.trigger, self.started_at = trigger, started_at
        self.counts: Counter[tuple[str, str]] = Counter()
        # Items the controls filter out are said again at every complete listing: on their own they are no news
        # (no run row, not busy, no run_changed), and are logged only in a run that has something else to say.
        self.filtered_counts: Counter[tuple[str, str]] = Counter()
        self._filtered_lines: list[tuple[str, str, str, bool]] = []
        self.conflicts = 0
        self.unsynced_keys: set[tuple[str, str]] = set()
        self.synced_uids: set[str] = set()
        self.pending: list[SyncLogEntry] = []
        # UIDs of private items this run met: its other entries for them (an unsynced or filtered line, told without
        # the item) are private too when written.
        self.private_uids: set[str] = set()
        self._waiting: bool | None = None  # whether the integration has unsynced items: asked once a run

    @property
    def run(self) -> SyncRun:
        """The run's row, written now if this is the first time it is needed."""
        if self.written is None:
            assert self.integration is not None
            self.written = SyncRun.objects.create(
                tenant_id=self.integration.tenant_id,
                integration=self.integration,
                trigger=self.trigger,
                status=SyncRun.Status.RUNNING,
                started_at=self.started_at,
                due_at=self.started_at,
            )
            for uid, title, message, private in self._filtered_lines:
                self._log("filtered", message, uid, title, private=private)
            self._filtered_lines.clear()
        return self.written

    @property
    def quiet(self) -> bool:
        """Nothing to say: no row was needed, nothing was changed, and nothing is left unsynced."""
        return self.written is None and not (self.counts or self.conflicts or self.unsynced_keys or self.pending)

    def _log(self, action: str, message: str, uid: str = "", title: str = "", **extra: object) -> None:
        uid, title, message = printable(uid), printable(title), printable(message)  # a refused item's own text
        # The versions kept (a conflict's loser, what a change overwrote) as a text column may hold them: a NUL a
        # provider let into an event would otherwise fail the whole log's write (PostgreSQL refuses it).
        extra = {k: printable(v) if k in ("before", "detail") and isinstance(v, str) else v for k, v in extra.items()}
        entry = SyncLogEntry(run=self.run, action=action, uid=uid[:255], title=title[:500], message=message, **extra)
        if entry.private and entry.uid:
            self.private_uids.add(entry.uid)
        self.pending.append(entry)
        if len(self.pending) >= 500:
            self.flush()

    def flush(self) -> None:
        """Write the buffered log entries (one query per 500: a first sync logs every item it copies)."""
        if not self.pending:
            return
        for entry in self.pending:
            entry.private = entry.private or entry.uid in self.private_uids
        SyncLogEntry.objects.bulk_create(self.pending)
        self.pending.clear()

    def applied(
        self,
        target: Side,
        action: str,
        uid: str,
        title: str,
        item: Item | None = None,
        before: Item | None = None,
        private: bool = False,
    ) -> None:
        self.counts[(target.value, action)] += 1
        self.synced_uids.add(uid)
        where = side_name(target)
        self._log(
            action,
            f"“{title or uid}” {action} in {where}.",
            uid,
            title,
            side=target.value,
            before=serialise([before]) if before is not None else "",
            after_hash=content_hash(item) if item is not None else "",
            private=private or is_private(item if item is not None else before),
        )

    def withheld(self, side: Side, uid: str, title: str, item: Item | None = None) -> None:
        where = side_name(side)
        self._log(
            "withheld",
            f"“{title or uid}” was not deleted in {where}: the deletion was held back for safety.",
            uid,
            title,
            level=SyncLogEntry.Level.WARNING,
            side=side.value,
            private=is_private(item),
        )

    def conflict(self, winner: Side, uid: str, title: str, message: str, loser: Item | None) -> None:
        self.conflicts += 1
        detail = serialise([loser]) if loser is not None else ""
        # `side` of a conflict is the side that won (the event's story says so: sync.history).
        self._log("conflict", message, uid, title, level=SyncLogEntry.Level.WARNING, detail=detail,
                  side=winner.value, private=is_private(loser))  # fmt: skip

    def unsynced(
        self, side: Side, uid: str, title: str, reason: str, source: str = "", item: Item | None = None
    ) -> None:
        self.unsynced_keys.add((side.value, uid))
        self._waiting = True
        UnsyncedItem.objects.update_or_create(
            integration=self.integration,
            side=side.value,
            uid=printable(uid)[:255],
            defaults={"title": printable(title)[:500], "reason": printable(reason), "source": source[:1000]},
        )
        self._log("unsynced", f"“{title or uid}” was not synced: {reason}", uid, title,
                  level=SyncLogEntry.Level.WARNING, private=is_private(item))  # fmt: skip

    def note(self, message: str, uid: str = "", item: Item | None = None) -> None:
        self._log("note", message, uid, private=is_private(item))

    def filtered(self, side: Side, uid: str, title: str, reason: str, item: Item | None = None) -> None:
        """An item the controls keep from the other side: counted per side and logged, neither an error nor an
        unsynced item."""
        self.filtered_counts[(side.value, "filtered")] += 1
        message = f"“{title or uid}” was not copied: {reason}"
        if self.written is None:
            self._filtered_lines.append((uid, title, message, is_private(item)))
        else:
            self._log("filtered", message, uid, title, private=is_private(item))

    def count_json(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for (target, action), n in (self.counts + self.filtered_counts).items():
            result.setdefault(target, {})[action] = n
        return result

    def settled(self, side: Side, ids: Sequence[str]) -> None:
        """Items read or deleted where they live are no longer waiting: a failure that remains is reported again."""
        if self._waiting is None:  # one cheap query a run, not one a page
            self._waiting = UnsyncedItem.objects.filter(integration=self.integration).exists()
        if not self._waiting:
            return  # the usual case: nothing to clear
        for chunk in _chunks(set(ids)):
            query = Q(source__in=[source_key(side, item_id) for item_id in chunk])
            if side is Side.LOCAL:  # calsync's ids are UIDs: rows written before `source` existed are found too
                query |= Q(source="", uid__in=chunk)
            UnsyncedItem.objects.filter(query, integration=self.integration).delete()

    def clear_resolved(self) -> None:
        """Items that synced this run are no longer unsynced."""
        if self.synced_uids:
            for chunk in _chunks(self.synced_uids):
                UnsyncedItem.objects.filter(integration=self.integration, uid__in=chunk).delete()
