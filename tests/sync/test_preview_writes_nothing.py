"""A preview writes nothing: not through a side that refuses every write, not at the Google emulator, not at a real
CalDAV server (Radicale); and what it counts is what the sync then does there."""

from __future__ import annotations

import pytest

from events import services as events
from events.models import Event
from integrations import registry
from integrations.caldav.services import caldav_connect, caldav_discover
from integrations.models import Integration
from sync import local
from sync import services as sync_services
from sync.memory import MemorySide
from sync.models import SyncMapping
from sync.preview import RecordingSide, preview_compute
from tests.integrations.test_google import connect as google_connect
from tests.integrations.test_google import google_side

from .items import event

pytestmark = pytest.mark.django_db


class Refused(Exception):
    pass


def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
    raise Refused("a preview must not write")


def test_a_side_that_refuses_every_write_is_never_written(member, calendar, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    remote = MemorySide(before_write=refuse)
    remote.user_put(event("r@test", "Remote one"))
    events.item_save(calendar=calendar, item=event("l@test", "Local one"))
    for name in ("item_save", "items_create_many", "items_update_many", "items_delete_many", "item_delete"):
        monkeypatch.setattr(local.services, name, refuse)
    monkeypatch.setitem(registry.SIDES, "google", "tests.sync.test_preview_writes_nothing")
    monkeypatch.setattr(f"{__name__}.SIDE", remote, raising=False)
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="google", calendar=calendar,
                                             remote_calendar_id="x")  # fmt: skip
    outcome = preview_compute(integration=integration, reason="first")
    assert outcome.counts == {"calsync": {"created": 1}, "remote": {"created": 1}}
    assert not remote.calls.get("create") and not remote.calls.get("create_many")


SIDE: MemorySide | None = None


def build_side(integration: Integration) -> MemorySide:  # the registry's entry for the test above
    assert SIDE is not None
    return SIDE


def test_recording_side_offers_only_the_batches_the_side_has() -> None:
    class OneByOne:
        def create(self, item):  # type: ignore[no-untyped-def]
            raise Refused

    recording = RecordingSide(OneByOne())  # type: ignore[arg-type]
    assert not hasattr(recording, "create_many")  # the engine then writes one by one, as the sync would
    assert recording.create(event("a@test")).item.uid == "a@test"
    assert list(recording.items) == ["a@test"]


def _google_state(google, email: str) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
    listed = google_side(google, email).changes(None).changed
    return sorted((e.id, e.version) for e in listed), len(google.state.sent_invitations)


def test_preview_through_the_google_emulator_sends_nothing(member_client, calendar, google, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    email = "preview.google@example.com"
    integration = google_connect(member_client, google, email, calendar, run_on_commit)
    remote = google_side(google, email)
    remote.create(event("g@x", "Made in Google"))
    meeting = event("m@x", "Planning", day=1, attendees=())
    events.item_save(calendar=calendar, item=meeting)
    events.item_save(calendar=calendar, item=event("c@x", "Made in calsync", day=2))
    before = _google_state(google, email)
    mappings = SyncMapping.objects.filter(integration=integration).count()
    outcome = preview_compute(integration=integration, reason="resync")
    assert _google_state(google, email) == before
    assert SyncMapping.objects.filter(integration=integration).count() == mappings
    with run_on_commit():
        sync_services.resync_request(integration=integration)
    run = integration.runs.order_by("-pk").first()
    assert run.status == "success" and run.counts == outcome.counts
    assert outcome.counts == {"calsync": {"created": 1}, "remote": {"created": 2}}


def test_preview_against_radicale_writes_nothing_there(member, calendar, radicale, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    url = radicale.new_calendar("Preview")
    remote = next(c for c in caldav_discover(url=radicale.base_url, username=radicale.username,
                                             password=radicale.password) if c.url == url)  # fmt: skip
    with run_on_commit():
        integration = caldav_connect(user=member, url=radicale.base_url, username=radicale.username,
                                     password=radicale.password, remote=remote, calendar=calendar)  # fmt: skip
    for i in range(3):
        events.item_save(calendar=calendar, item=event(f"r{i}@x", f"Event {i}", day=i))
    with run_on_commit():
        sync_services.sync_request_manual(integration=integration)
    events.item_save(calendar=calendar, item=event("r0@x", "Event 0, edited"))
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="r1@x"))
    side = registry.build_side(integration)
    before = sorted((e.id, e.version) for e in side.changes(None).changed)
    integration.refresh_from_db()
    outcome = preview_compute(integration=integration, reason="settings", proposed={"direction": "from_calsync"})
    assert sorted((e.id, e.version) for e in registry.build_side(integration).changes(None).changed) == before
    assert outcome.counts == {"remote": {"deleted": 1, "updated": 1}}
    Integration.objects.filter(pk=integration.pk).update(direction="from_calsync")
    run = sync_services.sync_execute(run_id=sync_services.sync_request(integration=integration, trigger="manual",
                                                                       queue=False).pk)  # fmt: skip
    assert run.counts == outcome.counts


def test_the_preview_store_forgets_a_mapping_it_made_then_removed_as_the_database_would(member, calendar) -> None:  # type: ignore[no-untyped-def]
    """A mapping the dry run saves and then removes (a copy written, then deleted in a later pass) is gone, as the
    row would be: not listed, not found, not counted (the mass-delete guard weighs that count)."""
    from sync.engine import Mapping
    from sync.preview import PreviewStore

    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="google", calendar=calendar,
                                             remote_calendar_id="x")  # fmt: skip
    store = PreviewStore(integration, None, None)
    kept, dropped = Mapping("k@x", "k", "1", "rk", "1", "h"), Mapping("d@x", "d", "1", "rd", "1", "h")
    store.save_many([kept, dropped])
    store.remove(dropped)
    assert [m.uid for m in store.all()] == ["k@x"] and store.count() == 1
    assert store.lookup(local_ids=["d"], remote_ids=["rd"], uids=["d@x"]) == []
    assert [m.uid for page in store.pages(10) for m in page] == ["k@x"]
    assert SyncMapping.objects.count() == 0
