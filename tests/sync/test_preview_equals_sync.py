"""A preview is what the sync then does, exactly: random calendars and settings, some syncs and edits before,
then a preview (which writes nothing), its confirmation through the integration's service and the runs that
starts; the counts and the UIDs per (side, action) are equal.

The other calendar is a calsync calendar or a provider-like side (sync.memory: ids, etags, batches, and it refuses
tasks as Google, Graph and EWS do); the items include tasks, meetings with a guest at a client's domain (the
assignment rules add the client, which the run carries back) and the controls include keep-both conflicts."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from business.models import Client
from events import services as events
from events.ical import Attendee
from events.models import Event
from integrations import registry
from integrations.models import Integration
from integrations.services import integration_preview_confirm
from sync import services
from sync.controls import Conflicts, Controls, Copy, Flow
from sync.memory import MemorySide
from sync.models import SyncLogEntry, SyncMapping, SyncRun
from sync.preview import preview_compute
from sync.previews import preview_execute, preview_request
from tests.factories import CalendarFactory, UserFactory

from .items import event

pytestmark = pytest.mark.django_db

_users = itertools.count()
UIDS = [f"u{i}@test" for i in range(8)]
CONTROLS = [
    Controls(),
    Controls(out_of_calsync=Flow(copy=Copy.BUSY)),
    Controls(into_calsync=Flow(keywords=("secret",))),
    Controls(out_of_calsync=Flow(skip_all_day=True), into_calsync=Flow(private_as_busy=True)),
    Controls(conflicts=Conflicts.KEEP_BOTH),
]
DIRECTIONS = list(Integration.Direction)
PRIMARIES = list(Integration.Primary)
# What an edit writes: a title; "guest" (a meeting with a guest at the client's domain), "task" (a VTODO, which a
# provider's calendar of events refuses); None deletes.
WRITES = ["A", "B secret", "guest", "task", None]

# An edit: (side 0 calsync / 1 the other calendar, uid, what)
edits = st.lists(st.tuples(st.integers(0, 1), st.sampled_from(UIDS), st.sampled_from(WRITES)), max_size=8)
setup = st.fixed_dictionaries({
    "before": edits, "synced": st.booleans(), "after": edits, "provider": st.booleans(),
    "direction": st.sampled_from(DIRECTIONS), "primary": st.sampled_from(PRIMARIES),
    "controls": st.sampled_from(range(len(CONTROLS))), "new_direction": st.sampled_from(DIRECTIONS),
    "new_controls": st.sampled_from(range(len(CONTROLS))),
})  # fmt: skip


@pytest.fixture
def provider_sides(monkeypatch: pytest.MonkeyPatch) -> dict[int, MemorySide]:
    """Integrations whose other calendar is a provider-like memory side (by integration id): every run and
    preview reaches the same one, through the registry as a provider's side is reached."""
    sides: dict[int, MemorySide] = {}
    built = registry.build_side
    monkeypatch.setattr(registry, "build_side", lambda i: sides[i.pk] if i.pk in sides else built(i))
    return sides


def _item(uid: str, what: str) -> Any:
    private = {"visibility": "PRIVATE"} if uid.startswith("u1") else {}
    if what == "task":
        return event(uid, "Task", day=len(uid), kind="VTODO", **private)
    if what == "guest":
        return event(uid, "Planning", day=len(uid), attendees=(Attendee("ann@acme.example"),), **private)
    return event(uid, what, day=len(uid), **private)


def _apply(calendar: Any, memory: MemorySide | None, other: Any, changes: list[tuple[int, str, str | None]]) -> None:
    for side, uid, what in changes:
        if side == 1 and memory is not None:
            found = memory.find(uid)
            if what is None:
                if found is not None:
                    memory.user_delete(found.id)
            else:
                memory.user_put(_item(uid, what), id=found.id if found else None)
            continue
        target = calendar if side == 0 else other
        if what is None:
            if (held := Event.objects.filter(calendar=target, uid=uid, parent=None).first()) is not None:
                events.item_delete(event=held)
        else:
            events.item_save(calendar=target, item=_item(uid, what))


def _state(integration: Integration, calendars: list[Any], memory: MemorySide | None) -> tuple[Any, ...]:
    integration.refresh_from_db()
    mappings = sorted(SyncMapping.objects.filter(integration=integration).values_list(
        "uid", "local_id", "local_version", "remote_id", "remote_version", "content_hash"))  # fmt: skip
    held = [sorted(Event.objects.filter(calendar=c).values_list("uid", "seq", "title")) for c in calendars]
    remote = sorted((e.id, e.version) for e in memory.items.values()) if memory is not None else []
    return integration.local_cursor, integration.remote_cursor, mappings, held, remote


def _runs(integration: Integration, after: int) -> Iterator[SyncRun]:
    """The runs the confirmation queued, each run as a worker would run it."""
    for run in SyncRun.objects.filter(integration=integration, pk__gt=after).order_by("pk"):
        yield services.sync_execute(run_id=run.pk)  # type: ignore[misc]


def _done(runs: list[SyncRun]) -> tuple[dict[tuple[str, str], set[str]], dict[tuple[str, str], int]]:
    """What the runs did: the UIDs per (side, action) their logs name, and their counts added up."""
    done: dict[tuple[str, str], set[str]] = {}
    for side, action, uid in SyncLogEntry.objects.filter(
        run__in=runs, action__in=["created", "updated", "deleted", "withheld", "filtered", "unsynced"]
    ).values_list("side", "action", "uid"):
        done.setdefault((side, action), set()).add(uid)  # (a filtered or unsynced item's line names no side)
    counts: dict[tuple[str, str], int] = {}
    for run in runs:
        for side, actions in run.counts.items():
            for action, n in actions.items():
                counts[(side, action)] = counts.get((side, action), 0) + n
    return done, counts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=setup, reason=st.sampled_from(["first", "resync", "settings", "deletions"]))
def test_preview_equals_what_the_sync_then_does(tenant, provider_sides, case: dict[str, Any], reason: str) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory(tenant=tenant, email=f"p{next(_users)}@acme.test")
    Client.objects.get_or_create(tenant=tenant, name="Acme", defaults={"email_domains": ["acme.example"]})
    calendars = [CalendarFactory(owner=user, name="Work"), CalendarFactory(owner=user, name="Home")]
    integration = Integration.objects.create(
        tenant=tenant, user=user, provider="calsync", calendar=calendars[0], remote_calendar_id=str(calendars[1].pk),
        direction=case["direction"], primary=case["primary"], controls=CONTROLS[case["controls"]].to_json(),
        awaiting_confirmation=reason == "first",
    )  # fmt: skip
    memory = provider_sides.setdefault(integration.pk, MemorySide(events_only=True)) if case["provider"] else None
    _apply(calendars[0], memory, calendars[1], case["before"])
    if reason != "first" and case["synced"]:
        services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual", queue=False).pk)
    _apply(calendars[0], memory, calendars[1], case["after"])
    if reason == "deletions":  # previewed at a safety stop only: once it is over, there is nothing to allow
        Integration.objects.filter(pk=integration.pk).update(status=Integration.Status.STOPPED)
    proposed: dict[str, Any] = {}
    if reason == "settings":
        proposed = {"direction": case["new_direction"], "controls": CONTROLS[case["new_controls"]].to_json()}
        assume(proposed != {"direction": case["direction"], "controls": CONTROLS[case["controls"]].to_json()})

    before = _state(integration, calendars, memory)
    outcome = preview_compute(integration=integration, reason=reason, proposed=proposed)
    preview = preview_request(integration=integration, reason=reason, proposed=proposed or None, user=user)
    preview = preview_execute(preview_id=preview.pk)
    assert _state(integration, calendars, memory) == before  # the previews wrote nothing
    assert preview is not None and (preview.status, preview.counts) == ("ready", outcome.counts), preview.error

    last = SyncRun.objects.filter(integration=integration).order_by("pk").values_list("pk", flat=True).last() or 0
    assert integration_preview_confirm(preview=preview, user=user) is None  # acted on, not made again
    runs = list(_runs(integration, last))
    if outcome.stop:
        assert runs[0].status == "stopped"
        return
    assert runs and all(run.status in ("success", "partial") for run in runs), [r.error for r in runs]
    done, counts = _done(runs)
    sideless = ("filtered", "unsynced")
    assert {k: v for k, v in outcome.uids.items() if k[1] not in sideless} == {
        k: v for k, v in done.items() if k[1] not in sideless
    }
    for action in sideless:
        assert {u for k, v in outcome.uids.items() if k[1] == action for u in v} == done.get(("", action), set())
    previewed = {(s, a): n for s, actions in outcome.counts.items() for a, n in actions.items() if a != "unsynced"}
    assert previewed == counts
