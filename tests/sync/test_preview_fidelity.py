"""The preview's dry run against the cases a first pass alone misses, each compared with the sync that follows:
a keep-both conflict's copy, an assignment rule's addition carried back, a task the provider's calendar refuses,
an item the controls filter; and the preview's report implements the engine's Report protocol method for method."""

from __future__ import annotations

import inspect

import pytest

from business.models import Client
from events import services as events
from events.ical import Attendee
from integrations import registry
from integrations.models import Integration
from sync import engine
from sync import services as sync_services
from sync.controls import Conflicts, Controls, Copy, Flow
from sync.memory import MemorySide
from sync.preview import PreviewReport, preview_compute
from tests.factories import CalendarFactory

from .items import event

pytestmark = pytest.mark.django_db


def test_the_preview_report_implements_every_method_of_the_engines_report() -> None:
    wanted = {name for name, _ in inspect.getmembers(engine.Report, inspect.isfunction) if not name.startswith("_")}
    assert wanted >= {"applied", "withheld", "conflict", "unsynced", "settled", "note", "filtered"}
    for name in wanted:
        assert inspect.signature(getattr(PreviewReport, name)) == inspect.signature(getattr(engine.Report, name)), name


@pytest.fixture
def other(member, monkeypatch):  # type: ignore[no-untyped-def]
    """A provider-like other calendar (refuses tasks, as Google, Graph and EWS do), reached through the registry."""
    side = MemorySide(events_only=True)
    built = registry.build_side
    monkeypatch.setattr(registry, "build_side", lambda i: side if i.provider == "google" else built(i))
    return side


def _integration(member, calendar, **fields):  # type: ignore[no-untyped-def]
    return Integration.objects.create(tenant=member.tenant, user=member, provider="google", calendar=calendar,
                                      remote_calendar_id="x", **fields)  # fmt: skip


def _sync(integration: Integration, trigger: str = "manual") -> dict[str, dict[str, int]]:
    run = sync_services.sync_execute(
        run_id=sync_services.sync_request(integration=integration, trigger=trigger, queue=False).pk
    )
    assert run.status in ("success", "partial"), run.error
    return run.counts  # type: ignore[no-any-return]


def test_a_keep_both_conflicts_copy_is_carried_to_the_other_calendar_as_in_the_sync(member, calendar, other) -> None:  # type: ignore[no-untyped-def]
    integration = _integration(member, calendar, controls=Controls(conflicts=Conflicts.KEEP_BOTH).to_json())
    events.item_save(calendar=calendar, item=event("c@test", "Original"))
    _sync(integration, "first")
    events.item_save(calendar=calendar, item=event("c@test", "Ours"))
    other.user_put(event("c@test", "Theirs"), id=other.find("c@test").id)  # type: ignore[union-attr]

    previewed = preview_compute(integration=integration, reason="settings").counts
    assert previewed["remote"].get("created") == 1  # the kept copy, written by the echo pass
    assert previewed == _sync(integration)


def test_a_client_the_rules_add_is_carried_back_in_the_same_run(member, calendar, other) -> None:  # type: ignore[no-untyped-def]
    Client.objects.create(tenant=member.tenant, name="Acme", email_domains=["acme.example"])
    other.user_put(event("g@test", "Planning", attendees=(Attendee("ann@acme.example"),)))
    integration = _integration(member, calendar)

    previewed = preview_compute(integration=integration, reason="first").counts
    assert previewed == {"calsync": {"created": 1}, "remote": {"updated": 1}}
    assert previewed == _sync(integration, "first")


def test_a_task_the_other_calendar_refuses_is_counted_as_not_synced(member, calendar, other) -> None:  # type: ignore[no-untyped-def]
    events.item_save(calendar=calendar, item=event("t@test", "Task", kind="VTODO"))
    events.item_save(calendar=calendar, item=event("e@test", "Event"))
    integration = _integration(member, calendar)

    outcome = preview_compute(integration=integration, reason="first")
    assert outcome.counts == {"remote": {"created": 1, "unsynced": 1}}
    assert outcome.uids[("remote", "unsynced")] == {"t@test"}
    counts = _sync(integration, "first")
    assert counts == {"remote": {"created": 1}}  # the run lists the refused task among its unsynced items


def test_filtered_items_are_counted_not_a_crash(member, calendar, other) -> None:  # type: ignore[no-untyped-def]
    events.item_save(calendar=calendar, item=event("b@test", "Private", visibility="PRIVATE"))
    events.item_save(calendar=calendar, item=event("s@test", "secret plan"))
    controls = Controls(out_of_calsync=Flow(copy=Copy.BUSY, keywords=("secret",)))
    integration = _integration(member, calendar, controls=controls.to_json())

    outcome = preview_compute(integration=integration, reason="first")
    assert outcome.counts == _sync(integration, "first")
    assert outcome.counts["calsync"] == {"filtered": 1}


def test_a_calsync_calendar_keeps_its_rule_in_one_place(member, calendar) -> None:  # type: ignore[no-untyped-def]
    """CalsyncSide.check refuses what a save refuses (a task in a calendar of events) without saving anything."""
    from sync.errors import ItemRejected
    from sync.local import CalsyncSide

    events_only = CalendarFactory(owner=member, components="VEVENT")
    with pytest.raises(ItemRejected):
        CalsyncSide(events_only).check(event("t@test", "Task", kind="VTODO"))
    assert not events_only.events.exists()


def test_a_caldav_first_sync_is_counted_as_emailing_nobody(member, calendar) -> None:  # type: ignore[no-untyped-def]
    """The CalDAV side's own rule: before the first sync it knows no address of the owner's (every write is then
    marked SCHEDULE-AGENT=CLIENT), and a meeting made in calsync has no ORGANIZER, which no server schedules."""
    from events.ical import Person
    from integrations.caldav.adapter import CalDAVSide
    from sync.preview import RecordingSide, _invitations

    planned = Integration(tenant=member.tenant, user=member, provider="caldav", calendar=calendar,
                          remote_calendar_id="https://dav.example/cal/")  # fmt: skip
    guests = (Attendee("guest@x.example"),)
    own = event("own@test", "Mine", attendees=guests, organizer=Person(member.email))
    formless = event("form@test", "Made in calsync", attendees=guests)
    for addresses, sent in (((), 0), ((member.email,), 1)):
        remote = CalDAVSide(client=None, calendar_url="https://dav.example/cal/", own_addresses=addresses)  # type: ignore[arg-type]
        recorded = RecordingSide(remote)  # type: ignore[arg-type]
        recorded._create(own)
        recorded._create(formless)
        found = _invitations(planned, recorded, remote)  # type: ignore[arg-type]
        assert (found["with_attendees"], found["invitations"]) == (2, sent)
