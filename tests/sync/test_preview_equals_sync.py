"""A preview is what the sync then does, exactly: random calendars and settings, some syncs and edits before,
then a preview (which writes nothing) and the sync; the counts and the UIDs per (side, action) are equal."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import services as events
from events.models import Event
from integrations.models import Integration
from sync import services
from sync.controls import Controls, Copy, Flow
from sync.models import SyncLogEntry, SyncMapping, SyncPreview
from sync.preview import preview_compute
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
]
DIRECTIONS = list(Integration.Direction)
PRIMARIES = list(Integration.Primary)

# An edit: (side 0 calsync / 1 the other calendar, uid, title or None to delete)
edits = st.lists(st.tuples(st.integers(0, 1), st.sampled_from(UIDS), st.sampled_from(["A", "B secret", None])),
                 max_size=8)  # fmt: skip
setup = st.fixed_dictionaries({
    "before": edits, "synced": st.booleans(), "after": edits,
    "direction": st.sampled_from(DIRECTIONS), "primary": st.sampled_from(PRIMARIES),
    "controls": st.sampled_from(range(len(CONTROLS))), "new_direction": st.sampled_from(DIRECTIONS),
    "new_controls": st.sampled_from(range(len(CONTROLS))),
})  # fmt: skip


def _apply(calendars: list[Any], changes: list[tuple[int, str, str | None]]) -> None:
    for side, uid, title in changes:
        calendar = calendars[side]
        if title is None:
            found = Event.objects.filter(calendar=calendar, uid=uid, parent=None).first()
            if found is not None:
                events.item_delete(event=found)
        else:
            private = {"visibility": "PRIVATE"} if uid.startswith("u1") else {}
            events.item_save(calendar=calendar, item=event(uid, title, day=len(uid), **private))


def _state(integration: Integration, calendars: list[Any]) -> tuple[Any, ...]:
    integration.refresh_from_db()
    mappings = sorted(SyncMapping.objects.filter(integration=integration).values_list(
        "uid", "local_id", "local_version", "remote_id", "remote_version", "content_hash"))  # fmt: skip
    held = [sorted(Event.objects.filter(calendar=c).values_list("uid", "seq", "title")) for c in calendars]
    return integration.local_cursor, integration.remote_cursor, mappings, held


def _done(run: Any) -> dict[tuple[str, str], set[str]]:
    done: dict[tuple[str, str], set[str]] = {}
    for side, action, uid in SyncLogEntry.objects.filter(
        run=run, action__in=["created", "updated", "deleted", "withheld"]
    ).values_list("side", "action", "uid"):
        done.setdefault((side, action), set()).add(uid)
    return done


def _sync(integration: Integration, trigger: str = "manual") -> Any:
    run = services.sync_request(integration=integration, trigger=trigger, queue=False)
    return services.sync_execute(run_id=run.pk)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=setup, reason=st.sampled_from(["first", "resync", "settings", "deletions"]))
def test_preview_equals_what_the_sync_then_does(tenant, case: dict[str, Any], reason: str) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory(tenant=tenant, email=f"p{next(_users)}@acme.test")
    calendars = [CalendarFactory(owner=user, name="Work"), CalendarFactory(owner=user, name="Home")]
    integration = Integration.objects.create(
        tenant=tenant, user=user, provider="calsync", calendar=calendars[0], remote_calendar_id=str(calendars[1].pk),
        direction=case["direction"], primary=case["primary"], controls=CONTROLS[case["controls"]].to_json(),
    )  # fmt: skip
    _apply(calendars, case["before"])
    if reason != "first" and case["synced"]:
        _sync(integration)
    _apply(calendars, case["after"])
    proposed: dict[str, Any] = {}
    if reason == "settings":
        proposed = {"direction": case["new_direction"], "controls": CONTROLS[case["new_controls"]].to_json()}

    before = _state(integration, calendars)
    outcome = preview_compute(integration=integration, reason=reason, proposed=proposed)
    assert _state(integration, calendars) == before  # the preview wrote nothing

    _confirm_as_the_flow_would(integration, reason, proposed)
    run = _sync(integration, trigger={"first": "first", "resync": "resync"}.get(reason, "manual"))
    if outcome.stop:
        assert run.status == "stopped"
        return
    assert run.status in ("success", "partial"), run.error
    done = _done(run)
    assert {k: v for k, v in outcome.uids.items() if k[1] != "withheld"} == done
    assert {(s, a): n for s, actions in outcome.counts.items() for a, n in actions.items()} == {
        k: len(v) for k, v in done.items()
    }


def _confirm_as_the_flow_would(integration: Integration, reason: str, proposed: dict[str, Any]) -> None:
    """The settings confirming applies: the sync then runs as the preview assumed (sync.previews does this)."""
    if reason == SyncPreview.Reason.RESYNC:
        integration.config_merge({services.COMPARE_ALL: True})
    if reason == SyncPreview.Reason.DELETIONS:
        Integration.objects.filter(pk=integration.pk).update(allow_mass_delete=True)
    if proposed:
        from integrations.services import integration_controls_update

        Integration.objects.filter(pk=integration.pk).update(direction=proposed["direction"])
        integration.refresh_from_db()
        integration_controls_update(integration=integration, controls=Controls.from_json(proposed["controls"]))
