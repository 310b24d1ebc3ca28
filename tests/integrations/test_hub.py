"""Google and Microsoft 365 both syncing with one calsync calendar (a hub): each provider's events reach the other
through calsync, end to end through both emulators, with no echo and no duplicate, whatever order the two
integrations sync in; a round with nothing new writes nothing anywhere."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from events import services as events
from events.models import Event
from integrations import registry
from integrations.caldav.services import caldav_connect, caldav_discover
from integrations.models import Integration
from sync.adapter import Entry
from tests.integrations import test_google as g
from tests.integrations import test_microsoft as m
from tests.sync.items import event, series

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


class Hub:
    """The three sides and the two integrations."""

    def __init__(self, member_client, calendar, google, microsoft, run_on_commit) -> None:  # type: ignore[no-untyped-def]
        self.calendar, self.run_on_commit = calendar, run_on_commit
        # Accounts of their own: the emulators live for the whole session.
        self.email, login = f"hub-{uuid.uuid4().hex[:8]}@example.com", f"hub-{uuid.uuid4().hex[:8]}@contoso.example"
        self.to_google = g.connect(member_client, google, self.email, calendar, run_on_commit)
        self.to_outlook = m.connect(member_client, microsoft, login, calendar, run_on_commit)
        self.google, self.outlook = g.google_side(google, self.email), m.outlook(microsoft, login)
        self.sides: dict[str, Any] = {"google": self.google, "outlook": self.outlook}

    def sync(self, *order: Integration) -> list[dict[str, Any]]:
        """One run of each integration in this order; what each changed."""
        runs = [m.sync_now(integration, self.run_on_commit) for integration in order]
        assert all(run.status == "success" for run in runs), [(run.status, run.error) for run in runs]
        return [run.counts for run in runs]

    def settle(self, *order: Integration) -> None:
        """Rounds in this order until one writes nothing, then one more that must write nothing and rewrite no
        item anywhere. A change on any side crosses in at most two rounds (into calsync, then out to the
        integrations that ran before it): a third writing round would be an echo."""
        for _ in range(2):
            if not any(_wrote(counts) for counts in self.sync(*order)):
                break
        else:
            assert not any(_wrote(counts) for counts in self.sync(*order)), "the hub kept writing: an echo loop"
        versions = self.versions()
        assert not any(_wrote(counts) for counts in self.sync(*order)), "a round after convergence wrote"
        assert self.versions() == versions, "a round after convergence rewrote an item"

    def add_caldav(self, member, server) -> None:  # type: ignore[no-untyped-def]
        """A third integration on the same calsync calendar: a calendar on a real CalDAV server (Radicale)."""
        url = server.new_calendar(f"Hub {uuid.uuid4().hex[:6]}")
        login = {"url": server.base_url, "username": server.username, "password": server.password}
        (remote,) = [c for c in caldav_discover(**login) if c.url == url]
        with self.run_on_commit():
            self.to_caldav = caldav_connect(user=member, remote=remote, calendar=self.calendar, **login)
        self.caldav = registry.build_side(self.to_caldav)
        self.sides["caldav"] = self.caldav

    def titles(self) -> dict[str, dict[str, str]]:
        """Each side's events as {uid: title}, after checking no event, and no occurrence of a series (keyed by
        (uid, recurrence_id)), is there twice."""
        rows = Event.objects.filter(calendar=self.calendar)
        found = {"calsync": [(e.uid, e.title) for e in rows.filter(parent=None)]}
        keys = {"calsync": [(e.uid, _instant(e.recurrence_id)) for e in rows]}
        for name, side in self.sides.items():
            items = [e.item for e in _entries(side)]
            found[name] = [(item.uid, item.master.summary) for item in items]
            keys[name] = [
                (item.uid, _instant(c.recurrence_id)) for item in items for c in (item.master, *item.overrides)
            ]
        for side, pairs in keys.items():
            twice = [key for key, n in Counter(pairs).items() if n > 1]
            assert not twice, f"duplicates in {side}: {twice}"
        return {side: dict(pairs) for side, pairs in found.items()}

    def everywhere(self) -> dict[str, str]:
        seen = self.titles()
        assert all(titles == seen["calsync"] for titles in seen.values()), seen
        return seen["calsync"]

    def versions(self) -> dict[str, dict[str, str]]:
        """Every item's version on every side (etag, changeKey, calsync's change sequence)."""
        found = {"calsync": dict(Event.objects.filter(calendar=self.calendar).values_list("uid", "seq"))}
        found.update({name: {e.item.uid: e.version for e in _entries(side)} for name, side in self.sides.items()})
        return found


def _instant(recurrence_id: Any) -> str | None:
    """A recurrence id comparable across time zones (None for a master)."""
    if isinstance(recurrence_id, datetime) and recurrence_id.tzinfo is not None:
        return recurrence_id.astimezone(UTC).isoformat()
    return None if recurrence_id is None else str(recurrence_id)


def _entries(side: Any) -> list[Entry]:
    return list(side.changes(None).changed)


def _wrote(counts: dict[str, Any]) -> bool:
    return any(n for target in counts.values() for n in target.values())


@pytest.fixture
def hub(member_client, calendar, google, microsoft, run_on_commit) -> Hub:  # type: ignore[no-untyped-def]
    return Hub(member_client, calendar, google, microsoft, run_on_commit)


def test_creates_edits_and_deletes_on_each_side_reach_the_other_two_once(hub: Hub) -> None:
    made_in_google = hub.google.create(event("from-google@x", "Made in Google"))
    made_in_outlook = hub.outlook.create(event("from-outlook@x", "Made in Outlook", day=1))
    events.item_save(calendar=hub.calendar, item=event("from-calsync@x", "Made in calsync", day=2))
    hub.settle(hub.to_google, hub.to_outlook)
    assert hub.everywhere() == {
        "from-google@x": "Made in Google",
        "from-outlook@x": "Made in Outlook",
        "from-calsync@x": "Made in calsync",
    }
    # Each event edited on a side other than the one it was made on; the other order this time.
    in_outlook = {e.item.uid: e for e in _entries(hub.outlook)}["from-google@x"]
    hub.outlook.update(in_outlook.id, event("from-google@x", "Google's, edited in Outlook"), in_outlook.version)
    in_google = hub.google.find("from-outlook@x")
    assert in_google is not None
    hub.google.update(in_google.id, event("from-outlook@x", "Outlook's, edited in Google", day=1), in_google.version)
    local = Event.objects.get(calendar=hub.calendar, uid="from-calsync@x", parent=None)
    events.item_save(calendar=hub.calendar, item=event("from-calsync@x", "calsync's, edited", day=2), name=local.name)
    hub.settle(hub.to_outlook, hub.to_google)
    assert hub.everywhere() == {
        "from-google@x": "Google's, edited in Outlook",
        "from-outlook@x": "Outlook's, edited in Google",
        "from-calsync@x": "calsync's, edited",
    }
    # Deletions, again each on another side than where the event was made.
    in_google = hub.google.find("from-calsync@x")
    assert in_google is not None
    hub.google.delete(in_google.id, in_google.version)
    hub.outlook.delete(made_in_outlook.id, hub.outlook.get(made_in_outlook.id).version)  # type: ignore[union-attr]
    events.item_delete(event=Event.objects.get(calendar=hub.calendar, uid="from-google@x", parent=None))
    hub.settle(hub.to_google, hub.to_outlook)
    assert hub.everywhere() == {}
    assert hub.google.get(made_in_google.id) is None


def test_a_quiet_round_writes_nothing_in_either_order(hub: Hub) -> None:
    hub.google.create(event("g@x", "Google"))
    hub.outlook.create(event("o@x", "Outlook", day=1))
    hub.settle(hub.to_outlook, hub.to_google)
    before, versions = hub.everywhere(), hub.versions()
    for order in ((hub.to_google, hub.to_outlook), (hub.to_outlook, hub.to_google)):
        assert [_wrote(counts) for counts in hub.sync(*order)] == [False, False]
    assert hub.everywhere() == before == {"g@x": "Google", "o@x": "Outlook"}
    assert hub.versions() == versions  # not one item rewritten, on any side


def test_a_series_with_a_moved_and_a_cancelled_occurrence_crosses_the_hub(hub: Hub, google) -> None:  # type: ignore[no-untyped-def]
    uid = g._series_in_google(google, hub.email)  # moved on 30 Nov (to 1 Dec), cancelled on 14 Dec
    hub.settle(hub.to_google, hub.to_outlook)
    (in_outlook,) = [e.item for e in _entries(hub.outlook) if e.item.uid == uid]
    assert in_outlook.master.rrule == "FREQ=WEEKLY;COUNT=5"
    assert [o.summary for o in in_outlook.overrides] == ["Standup (moved)"]
    assert len(in_outlook.master.exdates) == 1
    # Outlook cancels another occurrence; it reaches calsync and Google, and nothing else moves.
    master = Event.objects.get(calendar=hub.calendar, uid=uid, parent=None)
    (entry,) = [e for e in _entries(hub.outlook) if e.item.uid == uid]
    hub.outlook.update(entry.id, _cancelled(entry.item, datetime(2026, 12, 7, 9, 30, tzinfo=BERLIN)), entry.version)
    hub.settle(hub.to_outlook, hub.to_google)
    master.refresh_from_db()
    assert len(master.exdates) == 2 and master.overrides.count() == 1
    in_google = hub.google.find(uid)
    assert in_google is not None and len(in_google.item.master.exdates) == 2
    assert [o.summary for o in in_google.item.overrides] == ["Standup (moved)"]
    assert hub.everywhere() == {uid: "Standup"}


def _cancelled(item: Any, occurrence: datetime) -> Any:
    return replace(item, master=replace(item.master, exdates=(*item.master.exdates, occurrence)))


def test_a_third_integration_over_caldav_joins_the_hub(hub: Hub, member, radicale) -> None:  # type: ignore[no-untyped-def]
    """Radicale, Google and Outlook on one calsync calendar: each one's event reaches the three others once, edits
    and deletions too, in rounds of varying order, and a quiet round rewrites nothing."""
    hub.add_caldav(member, radicale)
    all_three = (hub.to_google, hub.to_outlook, hub.to_caldav)
    hub.google.create(event("g@x", "Google"))
    hub.outlook.create(event("o@x", "Outlook", day=1))
    hub.caldav.create(event("d@x", "Radicale", day=2))
    events.item_save(calendar=hub.calendar, item=event("c@x", "calsync", day=3))
    hub.settle(*all_three)
    assert hub.everywhere() == {"g@x": "Google", "o@x": "Outlook", "d@x": "Radicale", "c@x": "calsync"}

    found = hub.caldav.find("g@x")
    hub.caldav.update(found.id, event("g@x", "Google, edited on the CalDAV server"), found.version)
    found = hub.google.find("d@x")
    hub.google.update(found.id, event("d@x", "Radicale, edited in Google", day=2), found.version)
    hub.settle(hub.to_caldav, hub.to_outlook, hub.to_google)
    assert hub.everywhere() == {"g@x": "Google, edited on the CalDAV server", "o@x": "Outlook",
                                "d@x": "Radicale, edited in Google", "c@x": "calsync"}  # fmt: skip

    found = hub.caldav.find("o@x")
    hub.caldav.delete(found.id, found.version)
    hub.settle(hub.to_outlook, hub.to_caldav, hub.to_google)
    assert set(hub.everywhere()) == {"g@x", "d@x", "c@x"}
    versions = hub.versions()
    assert not any(_wrote(counts) for counts in hub.sync(hub.to_caldav, hub.to_google, hub.to_outlook))
    assert hub.versions() == versions


def _outlook_series(hub: Hub, microsoft) -> str:  # type: ignore[no-untyped-def]
    """A weekly series made in Outlook, its second occurrence moved and retitled, its fourth cancelled."""
    state, login = microsoft.state, hub.to_outlook.config["account"]
    calendar_id = hub.to_outlook.remote_calendar_id
    series = state.create(login, calendar_id, {
        "subject": "Review", "start": {"dateTime": "2026-11-23T09:30:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-11-23T09:45:00", "timeZone": "W. Europe Standard Time"},
        "recurrence": m.WEEKLY_FIVE_TIMES})  # fmt: skip
    calendar = state.calendars[calendar_id]
    window = (datetime(2026, 11, 1, tzinfo=BERLIN), datetime(2027, 1, 31, tzinfo=BERLIN))
    instances = state.instances_of(calendar, calendar.events[series["id"]], *window)
    state.update(login, instances[1]["id"], {"subject": "Review (moved)", "start": {
        "dateTime": "2026-12-01T14:00:00", "timeZone": "W. Europe Standard Time"}, "end": {
        "dateTime": "2026-12-01T14:15:00", "timeZone": "W. Europe Standard Time"}}, None)  # fmt: skip
    state.delete(login, instances[3]["id"], None)
    return str(series["iCalUId"])


def test_a_series_made_in_outlook_reaches_google_and_an_occurrence_edited_in_calsync_reaches_both(  # type: ignore[no-untyped-def]
    hub: Hub, microsoft
) -> None:
    uid = _outlook_series(hub, microsoft)
    hub.settle(hub.to_outlook, hub.to_google)
    found = hub.google.find(uid)
    assert found is not None and found.item.master.rrule == "FREQ=WEEKLY;COUNT=5"
    assert [o.summary for o in found.item.overrides] == ["Review (moved)"] and len(found.item.master.exdates) == 1

    master = Event.objects.get(calendar=hub.calendar, uid=uid, parent=None)
    events.occurrence_update(master=master, recurrence_id=datetime(2026, 12, 7, 9, 30, tzinfo=BERLIN),
                             changes={"summary": "Review (late)", "start": datetime(2026, 12, 7, 11, tzinfo=BERLIN),
                                      "end": datetime(2026, 12, 7, 11, 15, tzinfo=BERLIN)})  # fmt: skip
    hub.settle(hub.to_google, hub.to_outlook)
    for side in (hub.google, hub.outlook):
        item = side.find(uid).item
        assert sorted(o.summary for o in item.overrides) == ["Review (late)", "Review (moved)"], side
        assert len(item.master.exdates) == 1
    assert hub.everywhere() == {uid: "Review"}


def test_a_series_made_in_calsync_crosses_to_both_and_an_exception_edited_in_google_comes_back(hub: Hub) -> None:
    events.item_save(calendar=hub.calendar, item=series("weekly@x", "Planning", moved_summary="Planning (moved)"))
    hub.settle(hub.to_outlook, hub.to_google)
    for side in (hub.google, hub.outlook):
        item = side.find("weekly@x").item
        assert item.master.rrule == "FREQ=WEEKLY" and [o.summary for o in item.overrides] == ["Planning (moved)"]
    found = hub.google.find("weekly@x")
    moved = found.item.overrides[0]
    edited = replace(found.item, overrides=(replace(moved, summary="Planning (moved, in Google)"),))
    hub.google.update(found.id, edited, found.version)
    hub.settle(hub.to_google, hub.to_outlook)
    for side in (hub.google, hub.outlook):
        assert [o.summary for o in side.find("weekly@x").item.overrides] == ["Planning (moved, in Google)"]
    master = Event.objects.get(calendar=hub.calendar, uid="weekly@x", parent=None)
    assert [o.title for o in master.overrides.all()] == ["Planning (moved, in Google)"]
    assert hub.everywhere() == {"weekly@x": "Planning"}


def test_the_same_event_edited_in_google_and_outlook_at_once_ends_the_same_everywhere(hub: Hub) -> None:
    """The first integration to sync brings its edit into calsync; for the second both sides changed, calsync (the
    primary) wins and the losing edit is kept in its log: one version on every side, not a ping-pong."""
    hub.google.create(event("both@x", "Original"))
    hub.settle(hub.to_google, hub.to_outlook)
    in_google, in_outlook = hub.google.find("both@x"), hub.outlook.find("both@x")
    hub.google.update(in_google.id, event("both@x", "Edited in Google"), in_google.version)
    hub.outlook.update(in_outlook.id, event("both@x", "Edited in Outlook"), in_outlook.version)
    hub.settle(hub.to_google, hub.to_outlook)
    assert hub.everywhere() == {"both@x": "Edited in Google"}
    lost = hub.to_outlook.runs.filter(entries__action="conflict").values_list("entries__detail", flat=True)
    assert any("SUMMARY:Edited in Outlook" in detail for detail in lost)
