"""Undo through the database and the pages: two calsync calendars synced by an integration, a run that deleted,
overwrote and settled a conflict, undone from its page; an undo of the undo; a safety stop's deletions put back;
who may undo what."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from events import services as events
from events.models import Event
from integrations.models import Integration
from sync import services
from sync.errors import TransientError
from sync.local import CalsyncSide
from sync.models import SyncRun
from sync.retention import prune
from sync.undo import undo_request
from tests.factories import CalendarFactory, UserFactory

from .items import event
from .test_services import connect, titles

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(member, calendar):  # type: ignore[no-untyped-def]
    return calendar, CalendarFactory(owner=member, name="Personal")


def sync_now(integration: Integration, run_on_commit) -> SyncRun:  # type: ignore[no-untyped-def]
    with run_on_commit():
        run = services.sync_request(integration=integration, trigger="manual")
    run.refresh_from_db()
    return run


def master(calendar, uid: str) -> Event:  # type: ignore[no-untyped-def]
    return Event.objects.get(calendar=calendar, uid=uid, parent=None)


def undo_page(client, run: SyncRun, data: dict | None = None, run_on_commit=None):  # type: ignore[no-untyped-def]
    url = reverse("integrations:undo_run", args=[run.pk])
    if data is None:
        return client.get(url)
    with run_on_commit():
        return client.post(url, data)


@pytest.fixture
def messy_run(member, pair, run_on_commit):  # type: ignore[no-untyped-def]
    """A run that deleted "b" in calsync, overwrote "a" in calsync and settled a conflict over "c"."""
    calendar, other = pair
    for uid, title in (("a@test", "A"), ("b@test", "B"), ("c@test", "C"), ("d@test", "D")):
        events.item_save(calendar=calendar, item=event(uid, title))
    integration = connect(member, pair, run_on_commit)
    events.item_save(calendar=other, item=event("a@test", "A edited at home"))
    events.item_delete(event=master(other, "b@test"))
    events.item_save(calendar=other, item=event("c@test", "C at home"))
    events.item_save(calendar=calendar, item=event("c@test", "C at work"))
    run = sync_now(integration, run_on_commit)
    assert titles(calendar) == titles(other) == ["A edited at home", "C at work", "D"]
    return integration, run


def test_undoing_a_run_restores_both_calendars_and_the_undo_of_it_returns(  # type: ignore[no-untyped-def]
    client, member, pair, run_on_commit, messy_run
) -> None:
    calendar, other = pair
    integration, run = messy_run
    client.force_login(member)
    page = undo_page(client, run)
    assert page.status_code == 200
    assert b'data-testid="put-back">1<' in page.content and b'data-testid="overwrite">2<' in page.content

    response = undo_page(client, run, {}, run_on_commit)

    assert response.status_code == 302 and response.url == reverse("integrations:detail", args=[integration.pk])
    undo = integration.runs.get(trigger="undo")
    assert (undo.status, undo.undo_of) == ("success", run)
    assert titles(calendar) == titles(other) == ["A", "B", "C at home", "D"]
    assert sync_now(integration, run_on_commit).counts == {}, "a sync after the undo has nothing to do"

    undo_page(client, undo, {}, run_on_commit)  # the undo of the undo

    assert titles(calendar) == titles(other) == ["A edited at home", "C at work", "D"]
    assert sync_now(integration, run_on_commit).counts == {}


def test_items_changed_since_are_listed_and_left_alone_unless_picked(  # type: ignore[no-untyped-def]
    client, member, pair, run_on_commit, messy_run
) -> None:
    calendar, other = pair
    integration, run = messy_run
    events.item_save(calendar=other, item=event("a@test", "A edited again"))
    sync_now(integration, run_on_commit)
    client.force_login(member)
    page = undo_page(client, run)
    changed = page.content.split(b'data-testid="changed-since"')[1].split(b"</fieldset>")[0]
    assert b'value="a@test"' in changed and b"b@test" not in changed

    undo_page(client, run, {}, run_on_commit)

    assert titles(calendar) == titles(other) == ["A edited again", "B", "C at home", "D"]
    assert integration.runs.get(trigger="undo").entries.filter(message__contains="left alone").count() == 1


def test_a_picked_item_changed_since_is_undone_too(client, member, pair, run_on_commit, messy_run) -> None:  # type: ignore[no-untyped-def]
    calendar, other = pair
    integration, run = messy_run
    events.item_save(calendar=other, item=event("a@test", "A edited again"))
    sync_now(integration, run_on_commit)
    client.force_login(member)
    undo_page(client, run, {"uids": ["a@test"]}, run_on_commit)
    assert titles(calendar) == titles(other) == ["A", "B", "C at home", "D"]


def emptied_at_the_provider(member, pair, run_on_commit) -> Integration:  # type: ignore[no-untyped-def]
    """Six shifts synced, then every one deleted at the other calendar (nothing synced since)."""
    calendar, other = pair
    for i in range(6):
        events.item_save(calendar=calendar, item=event(f"s{i}@test", f"Shift {i}"))
    integration = connect(member, pair, run_on_commit)
    for ev in Event.objects.filter(calendar=other, parent=None):
        events.item_delete(event=ev)
    return integration


def test_a_safety_stop_offers_to_put_back_what_it_held_and_does(client, member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    calendar, other = pair
    integration = emptied_at_the_provider(member, pair, run_on_commit)
    stopped = sync_now(integration, run_on_commit)
    assert stopped.status == "stopped" and stopped.entries.filter(action="withheld").count() == 6
    client.force_login(member)
    detail = client.get(reverse("integrations:detail", args=[integration.pk]))
    assert b"Put back the 6 items deleted at Another calsync calendar" in detail.content

    undo_page(client, stopped, {}, run_on_commit)

    integration.refresh_from_db()
    assert titles(other) == titles(calendar) == [f"Shift {i}" for i in range(6)]
    assert integration.status == "ok"
    assert sync_now(integration, run_on_commit).counts == {}, "the next sync is quiet"


def test_another_members_run_cannot_be_undone(client, member, tenant, messy_run) -> None:  # type: ignore[no-untyped-def]
    _, run = messy_run
    client.force_login(UserFactory(tenant=tenant, email="colleague@acme.test"))
    assert client.get(reverse("integrations:undo_run", args=[run.pk])).status_code == 404
    assert client.post(reverse("integrations:undo_run", args=[run.pk])).status_code == 404
    assert not SyncRun.objects.filter(trigger="undo").exists()


def test_a_run_still_going_on_is_not_undone(client, member, messy_run, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration, run = messy_run
    SyncRun.objects.filter(pk=run.pk).update(status="running")
    client.force_login(member)
    response = undo_page(client, run, {}, run_on_commit)
    assert response.status_code == 200 and b"has not finished yet" in response.content
    assert not integration.runs.filter(trigger="undo").exists()


def test_a_run_with_nothing_to_undo_says_so(client, member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, pair, run_on_commit)
    quiet = sync_now(integration, run_on_commit)
    client.force_login(member)
    page = undo_page(client, quiet)
    assert page.status_code == 200 and b'data-testid="nothing-to-undo"' in page.content


def test_every_run_since_a_moment_is_undone_from_the_logs_page(  # type: ignore[no-untyped-def]
    client, member, pair, run_on_commit, messy_run
) -> None:
    calendar, other = pair
    integration, run = messy_run
    events.item_delete(event=master(calendar, "d@test"))
    sync_now(integration, run_on_commit)
    client.force_login(member)
    since = run.created_at.astimezone(ZoneInfo(member.timezone)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    page = client.get(reverse("integrations:undo_since", args=[integration.pk]), {"since": since})
    assert b'data-testid="put-back">2<' in page.content
    with run_on_commit():
        client.post(reverse("integrations:undo_since", args=[integration.pk]), {"since": since})
    assert titles(calendar) == titles(other) == ["A", "B", "C at home", "D"]


def test_an_undo_that_fails_midway_is_retried_as_the_same_undo(  # type: ignore[no-untyped-def]
    client, member, pair, run_on_commit, messy_run, monkeypatch
) -> None:
    """A transient error after some of the undo's writes: the retry is an undo of the same run, and what the
    first attempt already put back is neither "changed since" nor written twice."""
    calendar, other = pair
    integration, run = messy_run
    create_many, calls = CalsyncSide.create_many, []

    def busy_once(side, items):  # type: ignore[no-untyped-def]
        calls.extend(item.uid for item in items)
        if len(calls) == 2:  # "b" is back in one calendar, not yet in the other
            raise TransientError("The server is busy.")
        return create_many(side, items)

    monkeypatch.setattr(CalsyncSide, "create_many", busy_once)
    client.force_login(member)
    undo_page(client, run, {}, run_on_commit)

    first, retry = integration.runs.filter(pk__gt=run.pk).order_by("pk")
    assert (first.trigger, first.status, retry.trigger, retry.status) == ("undo", "retrying", "undo", "success")
    assert (retry.undo_of, retry.undo_since, retry.undo_options, retry.attempt) == (run, None, first.undo_options, 2)
    assert calls == ["b@test", "b@test", "b@test"], "the retry re-created b only where it was missing"
    assert titles(calendar) == titles(other) == ["A", "B", "C at home", "D"]
    assert not retry.entries.filter(message__contains="left alone").exists()
    assert sync_now(integration, run_on_commit).counts == {}, "a sync after the undo has nothing to do"


def test_an_edit_in_calsync_not_synced_yet_is_listed_on_the_page_and_left_alone(  # type: ignore[no-untyped-def]
    client, member, pair, run_on_commit, messy_run
) -> None:
    """The run wrote "c" at the provider; the user edits it in calsync since, before any sync: the page lists it,
    and the undo leaves the edit as it is."""
    calendar, other = pair
    _, run = messy_run
    events.item_save(calendar=calendar, item=event("c@test", "C at work, moved"))
    client.force_login(member)
    page = undo_page(client, run)
    changed = page.content.split(b'data-testid="changed-since"')[1].split(b"</fieldset>")[0]
    assert b'value="c@test"' in changed and b"a@test" not in changed

    undo_page(client, run, {}, run_on_commit)

    assert "C at work, moved" in titles(calendar) and "C at work" in titles(other)


@pytest.mark.parametrize("since", ["0001-01-01T00:00", "1999-12-31T23:59", "9999-12-31T23:59"])
def test_a_moment_out_of_range_is_a_form_error_not_a_500(client, member, messy_run, since) -> None:  # type: ignore[no-untyped-def]
    integration, _ = messy_run
    member.timezone = "Europe/Berlin"
    member.save(update_fields=["timezone"])
    client.force_login(member)
    response = client.get(reverse("integrations:undo_since", args=[integration.pk]), {"since": since}, follow=True)
    assert response.status_code == 200
    assert b"after the year 2000" in response.content or b"in the past" in response.content


def test_a_pick_no_longer_listed_says_the_list_changed(client, member, messy_run, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration, run = messy_run
    client.force_login(member)
    response = undo_page(client, run, {"uids": ["gone@test"]}, run_on_commit)
    assert response.status_code == 200 and b"check them again" in response.content
    assert not integration.runs.filter(trigger="undo").exists()


def test_an_admin_reading_a_members_undo_never_sees_a_private_title(  # type: ignore[no-untyped-def]
    client, member, admin_user, pair, run_on_commit
) -> None:
    calendar, other = pair
    events.item_save(calendar=calendar, item=event("p@test", "Therapy session", visibility="PRIVATE"))
    integration = connect(member, pair, run_on_commit)
    events.item_save(calendar=other, item=event("p@test", "Therapy session moved", visibility="PRIVATE"))
    run = sync_now(integration, run_on_commit)
    events.item_save(calendar=other, item=event("p@test", "Therapy session again", visibility="PRIVATE"))
    sync_now(integration, run_on_commit)  # changed since: the undo leaves it alone, and logs so
    client.force_login(member)
    undo_page(client, run, {}, run_on_commit)
    undo = integration.runs.get(trigger="undo")
    assert undo.entries.filter(uid="p@test", message__contains="left alone").exists()

    client.force_login(admin_user)
    page = client.get(reverse("integrations:run_detail", args=[undo.pk]))

    assert page.status_code == 200 and b"Therapy" not in page.content


def test_a_stop_that_goes_on_logs_what_it_holds_back_once_and_the_offer_undoes_the_first(  # type: ignore[no-untyped-def]
    client, member, pair, run_on_commit
) -> None:
    calendar, other = pair
    integration = emptied_at_the_provider(member, pair, run_on_commit)
    for _ in range(3):
        services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    stops = list(integration.runs.filter(status="stopped").order_by("pk"))
    assert len(stops) == 3
    assert [run.entries.filter(action="withheld").count() for run in stops] == [6, 0, 0], "logged at the first stop"
    client.force_login(member)
    detail = client.get(reverse("integrations:detail", args=[integration.pk]))
    offer = reverse("integrations:undo_run", args=[stops[0].pk])
    assert b"Put back the 6 items" in detail.content and offer.encode() in detail.content

    undo_page(client, stops[0], {}, run_on_commit)

    assert titles(other) == titles(calendar) == [f"Shift {i}" for i in range(6)]


def test_undo_since_takes_the_runs_that_ran_since_even_if_asked_for_before(  # type: ignore[no-untyped-def]
    client, member, messy_run
) -> None:
    """A "Synchronize now" gets its row when asked for, then waits for the lock: it ran when it started."""
    integration, run = messy_run
    hours_ago = run.started_at - timedelta(hours=2)
    integration.runs.exclude(pk=run.pk).update(created_at=hours_ago, started_at=hours_ago)  # the first sync
    SyncRun.objects.filter(pk=run.pk).update(created_at=run.started_at - timedelta(hours=1))
    since = (run.started_at - timedelta(minutes=30)).astimezone(ZoneInfo(member.timezone))
    client.force_login(member)
    page = client.get(reverse("integrations:undo_since", args=[integration.pk]),
                      {"since": since.strftime("%Y-%m-%dT%H:%M:%S")})  # fmt: skip
    assert b'data-testid="put-back">1<' in page.content


@pytest.mark.parametrize("interruption", ["transient error", "pause"])
def test_the_offer_outlives_a_retry_or_a_pause_while_the_stop_goes_on(  # type: ignore[no-untyped-def]
    client, member, pair, run_on_commit, monkeypatch, interruption
) -> None:
    """Final review finding 2: a retrying or skipped run does not end the stop, so the offer stays (and a stop
    after it logs nothing again)."""
    integration = emptied_at_the_provider(member, pair, run_on_commit)
    first = services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    if interruption == "pause":
        Integration.objects.filter(pk=integration.pk).update(sync_enabled=False)
        integration.refresh_from_db()
        sync_now(integration, run_on_commit)  # "Sync is paused."
        Integration.objects.filter(pk=integration.pk).update(sync_enabled=True)
    else:
        real, calls = CalsyncSide.changes, []

        def flaky(self, cursor, *args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(1)
            if len(calls) == 1:
                raise TransientError("The provider answered 503.")
            return real(self, cursor, *args, **kwargs)

        monkeypatch.setattr(CalsyncSide, "changes", flaky)
        services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    statuses = set(integration.runs.values_list("status", flat=True))
    assert {"stopped", "retrying" if interruption != "pause" else "skipped"} <= statuses
    assert integration.runs.filter(entries__action="withheld").distinct().count() == 1, "logged once"
    client.force_login(member)
    detail = client.get(reverse("integrations:detail", args=[integration.pk]))
    assert b"Put back the 6 items" in detail.content
    assert reverse("integrations:undo_run", args=[first.pk]).encode() in detail.content


def test_retention_keeps_the_stop_the_offer_undoes_while_stopped(  # type: ignore[no-untyped-def]
    client, member, tenant, pair, run_on_commit
) -> None:
    integration = emptied_at_the_provider(member, pair, run_on_commit)
    for _ in range(3):
        services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    last = integration.runs.order_by("-pk").first()
    old = timezone.now() - timedelta(days=tenant.retention_days + 1)
    integration.runs.exclude(pk=last.pk).update(created_at=old)
    prune(tenant=tenant)
    client.force_login(member)
    assert b"Put back the 6 items" in client.get(reverse("integrations:detail", args=[integration.pk])).content
    # Once the stop is over (a sync went through), the stop is old history like any run.
    Integration.objects.filter(pk=integration.pk).update(allow_mass_delete=True)
    services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    integration.runs.exclude(status="success").update(created_at=old)
    prune(tenant=tenant)
    assert not integration.runs.filter(status="stopped").exists()


def test_a_stop_whose_logged_stop_is_gone_logs_the_held_items_again(  # type: ignore[no-untyped-def]
    client, member, pair, run_on_commit
) -> None:
    integration = emptied_at_the_provider(member, pair, run_on_commit)
    services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    integration.runs.filter(status="stopped").delete()  # e.g. deleted with the logs
    again = services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    assert again.status == "stopped" and again.entries.filter(action="withheld").count() == 6
    client.force_login(member)
    assert b"Put back the 6 items" in client.get(reverse("integrations:detail", args=[integration.pk])).content


def test_a_one_way_stop_offers_no_put_back_it_cannot_do_and_an_empty_undo_keeps_the_stop(  # type: ignore[no-untyped-def]
    client, member, pair, run_on_commit
) -> None:
    """Final review finding 3: into calsync only (as a read-only calendar or an ICS feed), the provider emptied:
    calsync may not write there, so the page says so and offers only allowing the deletion; the undo page counts
    nothing to put back and queues nothing; an undo that puts nothing back leaves the stop, and sends no mail."""
    calendar, other = pair
    for i in range(6):
        events.item_save(calendar=other, item=event(f"f{i}@test", f"Class {i}"))
    integration = connect(member, pair, run_on_commit, direction="to_calsync")
    for ev in Event.objects.filter(calendar=other, parent=None):
        events.item_delete(event=ev)
    stopped = sync_now(integration, run_on_commit)
    assert stopped.status == "stopped"
    client.force_login(member)
    detail = client.get(reverse("integrations:detail", args=[integration.pk])).content
    assert b"Put back the" not in detail and b'data-testid="undo-offer-unwritable"' in detail
    assert b"allow-deletion" in detail
    page = client.get(reverse("integrations:undo_run", args=[stopped.pk])).content
    assert b'data-testid="unwritable">6 items cannot be put back' in page and b"confirm-undo" not in page
    undo_page(client, stopped, {}, run_on_commit)
    assert not integration.runs.filter(trigger="undo").exists()

    sent = len(mail.outbox)
    with run_on_commit():  # an undo asked for anyway (as the service allows): it writes nothing, the stop stays
        undo = undo_request(integration=integration, run=stopped, options={})
    undo.refresh_from_db()
    integration.refresh_from_db()
    assert undo.status == "success" and undo.counts == {}
    assert integration.status == "stopped" and len(mail.outbox) == sent
    assert titles(calendar) == [f"Class {i}" for i in range(6)] and titles(other) == []


def test_an_admin_undoing_a_members_run_lands_on_the_undo_run_and_links_the_admin_logs(  # type: ignore[no-untyped-def]
    client, member, admin_user, pair, run_on_commit
) -> None:
    """Final review finding 5: the member's integration page is theirs alone; the admin follows the undo's run."""
    _, other = pair
    integration = emptied_at_the_provider(member, pair, run_on_commit)
    stopped = sync_now(integration, run_on_commit)
    client.force_login(admin_user)
    page = undo_page(client, stopped).content.decode()
    logs = f"{reverse('integrations:admin_logs')}?integration={integration.pk}"
    assert f'href="{logs}"' in page and reverse("integrations:detail", args=[integration.pk]) not in page
    assert client.get(logs).status_code == 200

    with run_on_commit():
        answer = client.post(reverse("integrations:undo_run", args=[stopped.pk]), {})
    undo = integration.runs.get(trigger="undo")
    assert answer.status_code == 302 and answer["Location"] == reverse("integrations:run_detail", args=[undo.pk])
    landed = client.get(answer["Location"])
    assert landed.status_code == 200 and b"The undo has started" in landed.content
    assert titles(other) == [f"Shift {i}" for i in range(6)]
