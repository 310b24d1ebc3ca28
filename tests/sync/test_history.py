"""An event's story ("why is this here?") from real syncs: each step in order with its direction and the winner of a
conflict, the deletion and who made it; the search by title finds deleted events; tenants, members and private
items of others stay apart; the pages stay bounded for an item synced thousands of times."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.tenancy import Scope
from events import services as events
from events.models import Event, Tombstone
from integrations.models import Integration
from integrations.services import integration_create
from sync import history, services
from sync.controls import Controls, Flow
from sync.engine import Settings, Side, sync
from sync.errors import ItemRejected
from sync.memory import MemorySide, MemoryStore
from sync.models import SyncLogEntry, SyncRun
from sync.store import RunReport
from sync.undo import undo_request
from tests.factories import CalendarFactory, UserFactory

from .items import event

pytestmark = pytest.mark.django_db


def _connect(user, run_on_commit, name: str = "Personal") -> tuple[Integration, object]:  # type: ignore[no-untyped-def]
    calendar, other = CalendarFactory(owner=user, name=f"{name} work"), CalendarFactory(owner=user, name=name)
    with run_on_commit():
        integration = integration_create(user=user, provider="calsync", calendar=calendar,
                                         remote_calendar_id=str(other.pk), remote_calendar_name=name)  # fmt: skip
    return integration, other


def _sync(integration: Integration) -> SyncRun:
    return services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual").pk)


def _bare_integration(user) -> Integration:  # type: ignore[no-untyped-def]
    calendar = CalendarFactory(owner=user)
    return Integration.objects.create(tenant=user.tenant, user=user, provider="calsync", calendar=calendar,
                                      remote_calendar_id="1")  # fmt: skip


def _master(calendar, uid: str) -> Event:  # type: ignore[no-untyped-def]
    return Event.objects.get(calendar=calendar, uid=uid, parent=None)


@pytest.fixture
def lived(member, run_on_commit):  # type: ignore[no-untyped-def]
    """Made at the provider, copied in, changed on both sides (calsync wins), deleted at the provider."""
    integration, other = _connect(member, run_on_commit)
    events.item_save(calendar=other, item=event("standup@test", "Standup"))
    first = _sync(integration)
    events.item_save(calendar=integration.calendar, item=event("standup@test", "Standup (calsync)"))
    events.item_save(calendar=other, item=event("standup@test", "Standup (provider)"))
    clash = _sync(integration)
    events.item_delete(event=_master(other, "standup@test"))
    gone = _sync(integration)
    return {"integration": integration, "other": other, "runs": (first, clash, gone)}


def test_the_story_tells_each_step_in_order_with_directions_and_the_winner(member, lived) -> None:  # type: ignore[no-untyped-def]
    first, clash, gone = lived["runs"]
    name = str(lived["integration"])
    story = history.event_story(scope=Scope(member), uid="standup@test")
    assert story is not None and story.deleted and story.title == "Standup (calsync)"
    assert story.origin == f"Copied into calsync from {name} by sync {first.pk}."
    told = [(step.kind, step.text) for step in story.steps]
    assert [kind for kind, _ in told] == ["created", "conflict", "updated", "deleted"]
    assert told[0][1] == f"{name} → calsync: copied into calsync by sync {first.pk}."
    assert told[1][1].startswith(f"Conflict, calsync won (sync {clash.pk}): Changed in both calendars")
    assert told[2][1].startswith(f"calsync → {name}: changed in calsync;")
    assert told[3][1] == (f"{name} → calsync: deleted at {name} first; sync {gone.pk} deleted it in calsync.")
    assert story.steps[1].entry is not None  # the losing version is a link away
    tombstone = Tombstone.objects.get(calendar=lived["integration"].calendar, uid="standup@test")
    assert tombstone.via == "calsync" and tombstone.deleted_by is None  # the sync deleted it, for the provider


def test_the_story_page_links_the_losing_version_and_the_search_finds_the_deleted_event(
    member_client, member, lived
) -> None:  # type: ignore[no-untyped-def]
    logs = member_client.get(reverse("integrations:logs", args=[lived["integration"].pk])).content.decode()
    assert "Find an event by title (also deleted ones)" in logs
    found = member_client.get(reverse("integrations:event_search"), {"q": "standup"}).content.decode()
    assert found.count('data-testid="found-row"') == 1 and 'data-testid="deleted"' in found
    assert "Standup (calsync)" in found and "?uid=standup%40test" in found
    page = member_client.get(reverse("integrations:event_story"), {"uid": "standup@test"}).content.decode()
    assert page.count('data-testid="story-step"') == 4 and "The version that lost" in page
    lost = SyncLogEntry.objects.get(uid="standup@test", action="conflict")
    assert (
        "SUMMARY:Standup (provider)"
        in member_client.get(reverse("integrations:lost_version", args=[lost.run_id, lost.pk])).content.decode()
    )


def test_made_in_calsync_and_deleted_there_by_its_user(member_client, member, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration, other = _connect(member, run_on_commit)
    name = str(integration)
    made = events.item_save(calendar=integration.calendar, item=event("lunch@test", "Lunch")).event
    copied = _sync(integration)
    detail = member_client.get(reverse("events:event_detail", args=[made.pk])).content.decode()
    assert "Why is this here?" in detail and "?uid=lunch%40test" in detail
    member_client.post(reverse("events:event_delete", args=[made.pk]))
    removed = _sync(integration)
    assert not Event.objects.filter(calendar=other, uid="lunch@test").exists()
    story = history.event_story(scope=Scope(member), uid="lunch@test")
    assert story is not None and story.deleted and story.origin.startswith("Made in calsync, then copied to")
    assert [s.text for s in story.steps] == [
        f"calsync → {name}: copied to {name} by sync {copied.pk}.",
        "Deleted in calsync in calsync's pages by member@acme.test.",
        f"calsync → {name}: deleted in calsync first; sync {removed.pk} deleted it at {name}.",
    ]


def test_an_unsynced_event_made_in_calsync_tells_where_it_came_from(member) -> None:  # type: ignore[no-untyped-def]
    calendar = CalendarFactory(owner=member)
    events.item_save(calendar=calendar, item=event("solo@test", "Solo"))
    story = history.event_story(scope=Scope(member), uid="solo@test")
    assert story is not None and story.origin == "Made in calsync by member@acme.test." and story.steps == []
    assert history.event_story(scope=Scope(member), uid="nothing@test") is None


def test_other_tenants_and_colleagues_are_not_reached(client, member, admin_user, lived, outsider) -> None:  # type: ignore[no-untyped-def]
    colleague = UserFactory(tenant=member.tenant, email="colleague@acme.test")
    for user in (outsider, colleague):
        client.force_login(user)
        assert client.get(reverse("integrations:event_story"), {"uid": "standup@test"}).status_code == 404
        assert "Standup" not in client.get(reverse("integrations:event_search"), {"q": "stand"}).content.decode()
    client.force_login(outsider)  # an admin, of another organisation
    assert client.get(reverse("integrations:admin_event_story"), {"uid": "standup@test"}).status_code == 404
    assert "Standup" not in client.get(reverse("integrations:admin_event_search"), {"q": "stand"}).content.decode()
    client.force_login(member)  # a member is kept out of the admin pages
    assert client.get(reverse("integrations:admin_event_story"), {"uid": "standup@test"}).status_code == 403
    assert client.get(reverse("integrations:admin_event_search"), {"q": "stand"}).status_code == 403
    client.force_login(admin_user)  # the organisation's admin reads it, with whose it is
    page = client.get(reverse("integrations:admin_event_story"), {"uid": "standup@test"}).content.decode()
    assert "Standup (calsync)" in page and "member@acme.test" in page
    assert client.get(reverse("integrations:event_story"), {"uid": "standup@test"}).status_code == 404  # not theirs


@pytest.fixture
def secrets(member, run_on_commit):  # type: ignore[no-untyped-def]
    """A member's private event, synced; another private one, synced, changed and then deleted (its log entries
    only)."""
    integration, other = _connect(member, run_on_commit)
    events.item_save(calendar=other, item=event("held@test", "Salary talk", visibility="PRIVATE"))
    events.item_save(calendar=other, item=event("gone@test", "Doctor visit", visibility="CONFIDENTIAL"))
    run = _sync(integration)
    events.item_save(calendar=other, item=event("gone@test", "Doctor visit (moved)", day=1, visibility="CONFIDENTIAL"))
    _sync(integration)
    events.item_delete(event=_master(other, "gone@test"))
    _sync(integration)
    # Written by real syncs: the copy and the deletion of the confidential one are both marked private.
    flags = set(SyncLogEntry.objects.filter(uid="gone@test").values_list("action", "private"))
    assert flags == {("created", True), ("updated", True), ("deleted", True)}
    return {"integration": integration, "run": run}


def test_an_admin_never_sees_the_titles_of_others_private_events(client, admin_user, member, secrets) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    for words in ("salary", "doctor", "talk", "visit"):
        found = client.get(reverse("integrations:admin_event_search"), {"q": words}).content.decode()
        assert 'data-testid="found-row"' not in found, words
    for uid in ("held@test", "gone@test"):
        page = client.get(reverse("integrations:admin_event_story"), {"uid": uid}).content.decode()
        assert "Private event" in page and "Salary" not in page and "Doctor" not in page, uid
    run_page = client.get(reverse("integrations:run_detail", args=[secrets["run"].pk])).content.decode()
    assert run_page.count("Private event") == 2 and "Salary" not in run_page and "Doctor" not in run_page
    assert (
        "Private event"
        not in client.get(
            reverse("integrations:run_detail", args=[secrets["run"].pk]), {"q": "salary"}
        ).content.decode()
    )
    # Its owner sees their own private titles everywhere.
    client.force_login(member)
    assert "Doctor visit" in client.get(reverse("integrations:event_search"), {"q": "doctor"}).content.decode()
    assert "Salary talk" in client.get(reverse("integrations:event_story"), {"uid": "held@test"}).content.decode()
    assert "Salary talk" in client.get(reverse("integrations:run_detail", args=[secrets["run"].pk])).content.decode()


def test_a_private_event_sent_as_busy_is_logged_private_by_its_source_and_by_its_undo(
    client, admin_user, member, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    """Final review finding 1: "private events as busy" writes a shaped copy with no CLASS, while the line's title is
    the source's: the line is private by the source, so the title stays hidden once the event is deleted; an undo's
    lines are private by what the undone runs logged."""
    integration, other = _connect(member, run_on_commit)
    Integration.objects.filter(pk=integration.pk).update(
        controls=Controls(out_of_calsync=Flow(private_as_busy=True)).to_json()
    )
    integration.refresh_from_db()
    events.item_save(calendar=integration.calendar, item=event("t@test", "Therapy session", visibility="PRIVATE"))
    _sync(integration)
    assert _master(other, "t@test").title == "Busy"
    events.item_delete(event=_master(integration.calendar, "t@test"))
    gone = _sync(integration)
    with run_on_commit():
        undo_request(integration=integration, run=gone, options={})
    lines = list(SyncLogEntry.objects.filter(uid="t@test").order_by("pk").values_list("action", "side", "private"))
    assert lines[:2] == [("created", "remote", True), ("deleted", "remote", True)] and len(lines) > 2
    assert all(private for _, _, private in lines), lines
    client.force_login(admin_user)
    found = client.get(reverse("integrations:admin_event_search"), {"q": "Therapy"}).content.decode()
    story = client.get(reverse("integrations:admin_event_story"), {"uid": "t@test"}).content.decode()
    assert "Therapy session" not in found and "Therapy session" not in story and "Private event" in story


def test_filtered_unsynced_and_duplicate_lines_of_a_private_item_hide_its_title(client, admin_user, member) -> None:  # type: ignore[no-untyped-def]
    """Review finding 2: lines about an item that never reached calsync (filtered out, refused, a second copy of
    its UID) are private by the item itself, so an admin sees no title on the run's page, the search or the story."""
    run = SyncRun.objects.create(tenant=member.tenant, integration=_bare_integration(member), trigger="manual")
    local, remote = MemorySide(), MemorySide()
    remote.user_put(event("twice@test", "Therapy", visibility="PRIVATE"), id="copy-1")
    remote.user_put(event("twice@test", "Therapy", visibility="PRIVATE"), id="copy-2")
    remote.user_put(event("free@test", "Massage", visibility="CONFIDENTIAL", transparency="TRANSPARENT"))

    def refuse(name: str) -> None:
        raise ItemRejected("Refused by calsync.")

    local.before_write = refuse
    report = RunReport(run)
    sync(local, remote, MemoryStore(), Settings(controls=Controls(into_calsync=Flow(skip_free=True))), report)
    report.flush()
    assert sorted(run.entries.values_list("action", "uid", "private")) == [
        ("filtered", "free@test", True),
        ("note", "twice@test", True),
        ("unsynced", "twice@test", True),
    ]
    client.force_login(admin_user)
    run_page = client.get(reverse("integrations:run_detail", args=[run.pk])).content.decode()
    assert run_page.count("Private event") == 3 and "Therapy" not in run_page and "Massage" not in run_page
    for words in ("therapy", "massage"):
        found = client.get(reverse("integrations:admin_event_search"), {"q": words}).content.decode()
        assert 'data-testid="found-row"' not in found, words
    for uid in ("twice@test", "free@test"):
        story = client.get(reverse("integrations:admin_event_story"), {"uid": uid}).content.decode()
        assert "Therapy" not in story and "Massage" not in story, uid
    client.force_login(member)
    assert "Therapy" in client.get(reverse("integrations:run_detail", args=[run.pk])).content.decode()


def test_an_admin_cannot_open_the_losing_version_of_anothers_private_event(client, admin_user, member) -> None:  # type: ignore[no-untyped-def]
    integration = _bare_integration(member)
    run = SyncRun.objects.create(tenant=member.tenant, integration=integration, trigger="manual")
    report = RunReport(run)
    loser = event("p@test", "Therapy", visibility="PRIVATE")
    report.conflict(Side.LOCAL, "p@test", "Therapy", "Changed in both calendars; calsync won.", loser)
    report.unsynced(Side.REMOTE, "p@test", "Therapy", "Refused by the provider.")  # told without the item
    report.flush()
    assert list(run.entries.values_list("action", "side", "private")) == [
        ("conflict", "calsync", True),
        ("unsynced", "", True),
    ]
    lost = run.entries.get(action="conflict")
    url = reverse("integrations:lost_version", args=[run.pk, lost.pk])
    client.force_login(admin_user)
    assert client.get(url).status_code == 404
    client.force_login(member)
    assert "Therapy" in client.get(url).content.decode()


def test_the_story_of_an_item_synced_thousands_of_times_is_paged_in_few_queries(
    client, member, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    integration = _bare_integration(member)
    run = SyncRun.objects.create(tenant=member.tenant, integration=integration, trigger="automatic")
    SyncLogEntry.objects.bulk_create(
        SyncLogEntry(run=run, action="updated", side="remote", uid="busy@test", title=f"Busy {n}", message="m")
        for n in range(3000)
    )
    client.force_login(member)
    url = reverse("integrations:event_story")
    with django_assert_max_num_queries(14):
        first = client.get(url, {"uid": "busy@test"}).content.decode()
    assert first.count('data-testid="story-step"') == history.STEPS_PER_PAGE and "Page 1 of 60" in first
    with django_assert_max_num_queries(14):
        last = client.get(url, {"uid": "busy@test", "page": 60}).content.decode()
    assert last.count('data-testid="story-step"') == history.STEPS_PER_PAGE
    with django_assert_max_num_queries(14):
        found = client.get(reverse("integrations:event_search"), {"q": "busy"}).content.decode()
    assert found.count('data-testid="found-row"') == 1 and "Busy 2999" in found
    assert client.get(url, {"uid": "busy@test", "page": "x"}).status_code == 200  # the first page
    assert client.get(url, {"uid": "x" * 5000}).status_code == 404


def test_no_uid_is_no_story_and_bad_words_are_no_error(client, admin_user, member) -> None:  # type: ignore[no-untyped-def]
    """Review findings 4 and 12: an empty uid would select every line without one (notes, across the organisation
    on the admin page); a NUL byte is refused by PostgreSQL (run this under CI=true)."""
    run = SyncRun.objects.create(tenant=member.tenant, integration=_bare_integration(member), trigger="manual")
    SyncLogEntry.objects.create(run=run, action="note", message="“Secret plan” appears twice in calsync (same UID).")
    client.force_login(admin_user)
    for name in ("integrations:event_story", "integrations:admin_event_story"):
        for query in ({}, {"uid": ""}, {"uid": "  "}, {"uid": "\x00"}):
            response = client.get(reverse(name), query)
            assert response.status_code == 404 and "Secret plan" not in response.content.decode(), (name, query)
        assert client.get(reverse(name), {"uid": "a\x00b"}).status_code == 404
    for name in ("integrations:event_search", "integrations:admin_event_search"):
        assert client.get(reverse(name), {"q": "plan\x00"}).status_code == 200
        short = client.get(reverse(name), {"q": "pl"}).content.decode()
        assert 'data-testid="search-short"' in short and 'data-testid="found-row"' not in short
    assert client.get(reverse("integrations:run_detail", args=[run.pk]), {"q": "\x00"}).status_code == 200


def test_the_search_by_title_reads_only_the_newest_runs(client, member, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Review finding 7: a substring no index serves is matched in a bounded window of the newest runs."""
    integration = _bare_integration(member)
    for title in ("Old offsite", "New offsite", "Newest standup"):
        run = SyncRun.objects.create(tenant=member.tenant, integration=integration, trigger="manual")
        SyncLogEntry.objects.create(run=run, action="created", side="remote", uid=f"{title}@test", title=title)
    monkeypatch.setattr(history, "SEARCH_RUNS", 2)
    client.force_login(member)
    found = client.get(reverse("integrations:event_search"), {"q": "offsite"}).content.decode()
    assert "New offsite" in found and "Old offsite" not in found


def test_an_undos_writes_are_told_as_the_undos_not_as_edits(client, member, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    """Final review finding 7: a safety stop, its undo (put back) and the undo of that undo (removed again): the
    story says the undo did it, never "deleted in calsync first", and no two lines of a run contradict."""
    integration, other = _connect(member, run_on_commit)
    for i in range(6):
        events.item_save(calendar=integration.calendar, item=event(f"s{i}@test", f"Shift {i}"))
    _sync(integration)
    for found in Event.objects.filter(calendar=other, parent=None):
        events.item_delete(event=found)
    stopped = _sync(integration)
    with run_on_commit():
        undo = undo_request(integration=integration, run=stopped, options={})
    undo.refresh_from_db()
    with run_on_commit():
        undo_request(integration=integration, run=undo, options={})
    again = integration.runs.order_by("-pk").first()
    assert again.trigger == "undo" and not Event.objects.filter(uid="s0@test").exists()
    client.force_login(member)
    story = client.get(reverse("integrations:event_story"), {"uid": "s0@test"}).content.decode()
    assert f"Removed again from calsync by an undo (sync {again.pk})." in story
    assert f"Removed again from {integration} by an undo (sync {again.pk})." in story
    assert "first; sync" not in story.split("safety stop")[-1], "an undo's removal told as someone's deletion"
