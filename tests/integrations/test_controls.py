"""Sync controls in the product: the form, the service that saves them, the removal preview, the hub lines,
the filtered entries on the log pages, and the controls the sync service hands the engine."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from events import services as events
from integrations.controls_forms import ControlsForm
from integrations.models import Integration
from integrations.selectors import also_synced_with, controls_owner, removals_preview
from integrations.services import integration_controls_update, integration_update_settings
from scheduling.models import PersonalScheduling
from sync import services as sync_services
from sync.controls import PERSONAL_FLOW, Controls, Copy, Flow, Owner, Window
from sync.models import SyncLogEntry, SyncMapping, SyncRun
from tests.factories import CalendarFactory
from tests.sync.items import event

pytestmark = pytest.mark.django_db


def make(user: Any, calendar: Any, provider: str = "google", name: str = "personal", **fields: Any) -> Integration:
    return Integration.objects.create(tenant=user.tenant, user=user, provider=provider, calendar=calendar,
                                      remote_calendar_id=f"{name}@{provider}", remote_calendar_name=name,
                                      local_cursor="L1", remote_cursor="R1", **fields)  # fmt: skip


def post_data(**values: Any) -> dict[str, Any]:
    """A valid controls form: everything copied both ways, all events, primary wins; `values` override."""
    data: dict[str, Any] = {"window_from": "all", "conflicts": "primary", "into_copy": "all", "out_copy": "all"}
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


def mapped(integration: Integration, uid: str, origin: str) -> None:
    SyncMapping.objects.create(integration=integration, uid=uid, local_id=uid, local_version="1",
                               remote_id=f"r-{uid}", remote_version="1", content_hash="h", origin=origin)  # fmt: skip


# --- the form ----------------------------------------------------------------------------------------


def test_the_form_turns_its_fields_into_controls(member, calendar) -> None:
    form = ControlsForm(post_data(into_copy="busy", into_skip_declined="on", into_keywords="lunch, Dentist ,",
                                  into_not_before="2026-01-01", into_not_after="2026-12-31", out_copy="title",
                                  out_private_as_busy="on", window_from="now", days_ahead="90",
                                  conflicts="keep_both"),
                        integration=make(member, calendar))  # fmt: skip
    assert form.is_valid(), form.errors
    controls = form.controls()
    assert controls.into_calsync == Flow(copy=Copy.BUSY, skip_declined=True, keywords=("lunch", "Dentist"),
                                         not_before=date(2026, 1, 1), not_after=date(2026, 12, 31))  # fmt: skip
    assert controls.out_of_calsync == Flow(copy=Copy.TITLE, private_as_busy=True)
    assert controls.window == Window(from_now=True, days_ahead=90)
    assert controls.conflicts == "keep_both"
    # What is stored reads back into the same form.
    again = ControlsForm(integration=make(member, calendar, name="again", controls=controls.to_json()))
    assert again.initial["into_keywords"] == "lunch, Dentist" and again.initial["window_from"] == "now"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"into_not_before": "2026-05-02", "into_not_after": "2026-05-01"}, "into_not_after", "must not be earlier"),
        ({"days_ahead": "0"}, "days_ahead", "greater than or equal to 1"),
        ({"days_ahead": "3651"}, "days_ahead", "less than or equal to 3650"),
        ({"into_keywords": "lunch,,dentist"}, "into_keywords", "single commas"),
        ({"window_from": "date"}, "window_start", "Choose the day"),
        ({"into_not_before": "tomorrow"}, "into_not_before", "valid date"),
        ({"into_copy": "everything"}, "into_copy", "valid choice"),
    ],
)
def test_the_form_says_what_is_wrong(member, calendar, values, field, message) -> None:  # type: ignore[no-untyped-def]
    form = ControlsForm(post_data(**values), integration=make(member, calendar))
    assert not form.is_valid()
    assert message in " ".join(form.errors[field])


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "2201-01-01", "9999-12-31"])
def test_the_form_refuses_days_outside_the_years_it_takes(member_client, member, calendar, day) -> None:
    """Far-off days answer with a message, not a 500 (the removal preview judged them against events)."""
    integration = make(member, calendar)
    events.item_save(calendar=calendar, item=event("lunch@x", "Lunch"))
    mapped(integration, "lunch@x", "calsync")
    url = reverse("integrations:controls", args=[integration.pk])
    for field in ("out_not_before", "out_not_after", "into_not_before", "into_not_after", "window_start"):
        values = {field: day, "window_from": "date" if field == "window_start" else "all"}
        page = member_client.post(url, post_data(**values))
        assert page.status_code == 200
        assert page.content.decode().count("Enter a day between the years 1900 and 2200.") == 1
    integration.refresh_from_db()
    assert integration.controls == {}


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_filters_on_the_first_and_last_days_of_the_calendar_do_not_overflow(zone) -> None:
    """Stored controls (or a form that let them through) with the calendar's first or last day: every item is
    judged, none raises."""
    owner = Owner(zone=zone)
    item = event("a@x", "Lunch")
    assert Flow(not_before=date.min).admit(item, owner) is None
    assert Flow(not_after=date.max).admit(item, owner) is None
    assert Flow(not_before=date.max).admit(item, owner) == "Filtered: before the start date."
    assert Flow(not_after=date.min).admit(item, owner) == "Filtered: after the end date."


def test_only_the_directions_the_integration_copies_are_shown_and_the_other_is_kept(member, calendar) -> None:
    kept = Flow(copy=Copy.TITLE, skip_free=True)
    integration = make(member, calendar, direction="to_calsync",
                       controls=Controls(out_of_calsync=kept).to_json())  # fmt: skip
    form = ControlsForm(post_data(out_copy=None, into_copy="busy"), integration=integration)
    assert [s["prefix"] for s in form.sections()] == ["into"] and "out_copy" not in form.fields
    assert form.is_valid(), form.errors
    assert form.controls().out_of_calsync == kept and form.controls().into_calsync.copy == Copy.BUSY
    read_only = make(member, calendar, name="holidays", remote_read_only=True)
    assert [s["prefix"] for s in ControlsForm(integration=read_only).sections()] == ["into"]


def test_a_personal_calendar_first_ticked_presets_busy_only_into_calsync(member, calendar) -> None:
    integration = make(member, calendar)
    form = ControlsForm(post_data(personal="on", into_skip_free="on"), integration=integration)
    assert form.is_valid(), form.errors
    into = form.controls().into_calsync
    assert (into.copy, into.private_as_busy, into.skip_free) == (PERSONAL_FLOW.copy, True, True)
    # Once ticked, the user's own choice for the flow stands.
    integration.controls = form.controls().to_json()
    again = ControlsForm(post_data(personal="on", into_copy="all"), integration=integration)
    assert again.is_valid() and again.controls().into_calsync.copy == Copy.ALL


# --- the service -------------------------------------------------------------------------------------


def test_saving_changed_controls_clears_both_cursors_and_queues_a_sync(member, calendar) -> None:
    integration = make(member, calendar)
    new = Controls(into_calsync=Flow(copy=Copy.BUSY))
    assert integration_controls_update(integration=integration, controls=new)
    integration.refresh_from_db()
    assert Controls.from_json(integration.controls) == new
    assert (integration.local_cursor, integration.remote_cursor) == ("", "")
    assert integration.config[sync_services.COMPARE_ALL] is True
    assert integration.runs.filter(trigger=SyncRun.Trigger.MANUAL).count() == 1


def test_saving_the_same_controls_changes_nothing(member, calendar) -> None:
    same = Controls(window=Window(days_ahead=30))
    integration = make(member, calendar, controls=same.to_json())
    assert not integration_controls_update(integration=integration, controls=same)
    integration.refresh_from_db()
    assert (integration.local_cursor, integration.remote_cursor) == ("L1", "R1")
    assert not integration.runs.exists() and sync_services.COMPARE_ALL not in integration.config


def test_a_paused_integration_saves_controls_without_a_sync(member, calendar) -> None:
    integration = make(member, calendar, sync_enabled=False)
    assert integration_controls_update(integration=integration, controls=Controls(personal=True))
    assert not integration.runs.exists()


def compare_all(integration: Integration) -> Integration:
    Integration.objects.filter(pk=integration.pk).update(lock_token="t")
    integration.refresh_from_db()
    sync_services._compare_all_when_due(integration, "t")
    integration.refresh_from_db()
    return integration


def test_a_moving_window_is_compared_whole_once_a_day(member, calendar) -> None:
    integration = compare_all(make(member, calendar, controls=Controls(window=Window(days_ahead=30)).to_json()))
    assert (integration.local_cursor, integration.remote_cursor) == ("", "")
    first = integration.config[sync_services.COMPARED_ALL_AT]
    Integration.objects.filter(pk=integration.pk).update(local_cursor="L2", remote_cursor="R2")
    integration = compare_all(integration)  # the same day: the cursors stand
    assert (integration.local_cursor, integration.remote_cursor) == ("L2", "R2")
    day_ago = (timezone.now() - timedelta(days=1, minutes=1)).isoformat()
    Integration.objects.filter(pk=integration.pk).update(config={sync_services.COMPARED_ALL_AT: day_ago})
    integration = compare_all(integration)
    assert (integration.local_cursor, integration.remote_cursor) == ("", "")
    assert integration.config[sync_services.COMPARED_ALL_AT] > first


def test_a_fixed_window_keeps_its_cursors_unless_the_controls_changed(member, calendar) -> None:
    fixed = Controls(window=Window(start=date(2026, 1, 1))).to_json()
    integration = compare_all(make(member, calendar, controls=fixed))
    assert (integration.local_cursor, integration.remote_cursor) == ("L1", "R1")
    Integration.objects.filter(pk=integration.pk).update(config={sync_services.COMPARE_ALL: True})
    integration = compare_all(integration)
    assert (integration.local_cursor, integration.remote_cursor) == ("", "")
    assert sync_services.COMPARE_ALL not in integration.config


def test_saving_controls_keeps_config_keys_written_meanwhile(member, calendar) -> None:
    """The page's integration was read before a run wrote its own keys (a colour agreed, a push channel): saving
    the controls adds its key to what is stored now, not to what the page read."""
    integration = make(member, calendar, config={"account": "ann@x"})
    Integration.objects.filter(pk=integration.pk).update(config={"account": "ann@x", "color": "#112233"})
    assert integration_controls_update(integration=integration, controls=Controls(personal=True))
    integration.refresh_from_db()
    assert integration.config == {"account": "ann@x", "color": "#112233", sync_services.COMPARE_ALL: True}


def test_a_run_compares_everything_with_the_controls_saved_since_it_was_read(member, calendar) -> None:
    """A run read its integration, then the user saved new controls (marking the next run to compare everything)
    and a colour was agreed: the run compares everything under the new controls and drops no key."""
    old = Controls(window=Window(days_ahead=30)).to_json()
    run_view = make(member, calendar, controls=old)
    Integration.objects.filter(pk=run_view.pk).update(lock_token="t")
    new = Controls(window=Window(days_ahead=30), into_calsync=Flow(skip_free=True))
    assert integration_controls_update(integration=Integration.objects.get(pk=run_view.pk), controls=new)
    stored = Integration.objects.get(pk=run_view.pk)
    Integration.objects.filter(pk=run_view.pk).update(config={**stored.config, "color": "#112233"})
    sync_services._compare_all_when_due(run_view, "t")
    assert Controls.from_json(run_view.controls) == new  # what the engine is handed next
    run_view.refresh_from_db()
    assert run_view.config["color"] == "#112233" and sync_services.COMPARED_ALL_AT in run_view.config
    assert sync_services.COMPARE_ALL not in run_view.config and run_view.remote_cursor == ""


def test_the_engine_gets_the_controls_with_the_owners_addresses_and_hours(member, calendar, admin_user) -> None:
    PersonalScheduling.objects.create(tenant=member.tenant, user=member, working_hours={"0": ["08:00", "12:00"]})
    stored = Controls(into_calsync=Flow(skip_declined=True, working_hours_only=True))
    integration = make(member, calendar, controls=stored.to_json(), config={"account": "Ann@Gmail.example"})
    rules = sync_services._engine_settings(integration)
    assert rules.controls.into_calsync == stored.into_calsync
    owner = rules.controls.owner
    assert owner.emails == {"member@acme.test", "ann@gmail.example"}
    assert owner.hours == {0: (time(8), time(12))} and owner.zone == "Europe/Berlin"
    theirs = make(admin_user, CalendarFactory(owner=admin_user, tenant=admin_user.tenant))
    assert controls_owner(theirs).hours[4] == (time(9), time(17))  # without their own: the organisation's


def test_a_read_only_calendar_never_syncs_out_whatever_is_stored(member, calendar) -> None:
    integration = make(member, calendar, remote_read_only=True, direction="both")
    assert sync_services._engine_settings(integration).direction == "to_calsync"
    integration_update_settings(integration=integration, direction="both")
    integration.refresh_from_db()
    assert integration.direction == "to_calsync"


# --- the removal preview ---------------------------------------------------------------------------------


def test_the_preview_counts_only_copies_calsync_made_and_newly_filtered(member, calendar, outsider) -> None:
    integration = make(member, calendar, controls=Controls(out_of_calsync=Flow(skip_all_day=False)).to_json())
    for uid, title, origin in [
        ("lunch-out@x", "Lunch with Bob", "calsync"),  # calsync's event copied to Google: removed there
        ("lunch-in@x", "Team lunch", "remote"),  # Google's event copied into calsync: removed in calsync
        ("lunch-both@x", "Lunch", ""),  # on both sides before the sync: never removed
        ("work@x", "Planning", "calsync"),  # not filtered
    ]:
        events.item_save(calendar=calendar, item=event(uid, title))
        mapped(integration, uid, origin)
    mapped(integration, "gone@x", "calsync")  # its event no longer exists: nothing to judge
    # Another tenant's integration with the same UIDs and events is not this one's business.
    elsewhere = CalendarFactory(owner=outsider, tenant=outsider.tenant)
    theirs = make(outsider, elsewhere)
    for uid in ("lunch-out@x", "lunch-in@x"):
        events.item_save(calendar=elsewhere, item=event(uid, "Lunch"))
        mapped(theirs, uid, "calsync")
    lunch = Flow(keywords=("lunch",))
    new = Controls(into_calsync=lunch, out_of_calsync=lunch, owner=controls_owner(integration))
    removals = {r.side: r for r in removals_preview(integration=integration, controls=new)}
    assert (removals["remote"].count, removals["calsync"].count) == (1, 1)
    assert removals["remote"].text == (
        "This removes 1 event calsync copied into Google Calendar. Nothing you created there is touched."
    )
    # Filters that were already in place remove nothing new; one-way integrations count only their direction.
    integration.controls = new.to_json()
    assert removals_preview(integration=integration, controls=new) == []
    one_way = make(member, calendar, name="one-way", direction="to_calsync")
    mapped(one_way, "lunch-out@x", "calsync")
    assert removals_preview(integration=one_way, controls=new) == []


def test_saving_filters_that_remove_copies_asks_for_confirmation(member_client, member, calendar) -> None:
    integration = make(member, calendar)
    events.item_save(calendar=calendar, item=event("lunch@x", "Lunch"))
    mapped(integration, "lunch@x", "calsync")
    url = reverse("integrations:controls", args=[integration.pk])
    page = member_client.post(url, post_data(out_keywords="lunch"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "This removes 1 event calsync copied into Google Calendar" in text and "Tick the box to confirm" in text
    integration.refresh_from_db()
    assert integration.controls == {} and integration.remote_cursor == "R1"
    done = member_client.post(url, post_data(out_keywords="lunch", confirm_removals="on"))
    assert done.status_code == 302
    integration.refresh_from_db()
    assert integration.controls == {}  # previewed first (tests/integrations/test_preview_flow.py)
    preview = integration.previews.get(reason="settings")
    assert Controls.from_json(preview.proposed["controls"]).out_of_calsync.keywords == ("lunch",)


def test_filters_that_read_what_shaped_copies_lack_count_every_copy_as_up_to(member_client, member, calendar) -> None:
    """Copies into calsync made busy-only hold no title, description or attendees: a keyword or declined filter
    cannot be judged on them, yet the engine (reading the source) would remove some. Each may go: all are
    counted, as "up to", and the user confirms."""
    busy = Controls(into_calsync=Flow(copy=Copy.BUSY))
    integration = make(member, calendar, controls=busy.to_json())
    for uid in ("lunch@x", "planning@x"):
        events.item_save(calendar=calendar, item=busy.into_calsync.shape(event(uid, "Lunch")))
        mapped(integration, uid, "remote")
    owner = controls_owner(integration)
    for added in (Flow(copy=Copy.BUSY, keywords=("lunch",)), Flow(copy=Copy.BUSY, skip_declined=True)):
        [removal] = removals_preview(integration=integration, controls=Controls(into_calsync=added, owner=owner))
        assert (removal.side, removal.count) == ("calsync", 2)
        assert removal.text.startswith("This may remove up to 2 events calsync copied into calsync")
    # Filters the shaped copy answers (its time, free/busy) are counted exactly.
    assert removals_preview(integration=integration, controls=Controls(
        into_calsync=Flow(copy=Copy.BUSY, skip_free=True), owner=owner)) == []  # fmt: skip
    url = reverse("integrations:controls", args=[integration.pk])
    page = member_client.post(url, post_data(into_copy="busy", into_keywords="lunch"))
    assert page.status_code == 200 and "Tick the box to confirm" in page.content.decode()
    integration.refresh_from_db()
    assert Controls.from_json(integration.controls) == busy


def test_the_controls_page_is_the_owners_only(client, outsider, member, calendar) -> None:
    integration = make(member, calendar)
    client.force_login(outsider)
    answer = client.post(reverse("integrations:controls", args=[integration.pk]), post_data(into_copy="busy"))
    assert answer.status_code == 404
    integration.refresh_from_db()
    assert integration.controls == {}


# --- the hub and the log pages ----------------------------------------------------------------------------


def test_pages_say_which_integrations_share_a_calendar(member_client, member, calendar) -> None:
    outlook = make(member, calendar, provider="microsoft", name="work")
    google = make(member, calendar, provider="google", name="personal")
    make(member, CalendarFactory(owner=member, name="Elsewhere"), provider="caldav", name="nextcloud")
    assert also_synced_with(google) == "Microsoft 365 / Outlook (work)"
    assert also_synced_with(outlook) == "Google Calendar (personal)"
    page = member_client.get(reverse("integrations:detail", args=[google.pk])).content.decode()
    assert "Also synced with: Microsoft 365 / Outlook (work)" in page and "nextcloud" not in page
    calendar_page = member_client.get(reverse("events:calendar_edit", args=[calendar.pk])).content.decode()
    assert "Synced with:" in calendar_page and "(work)" in calendar_page and "(personal)" in calendar_page
    alone = make(member, CalendarFactory(owner=member, name="Alone"), name="alone")
    assert "Also synced with" not in member_client.get(reverse("integrations:detail", args=[alone.pk])).content.decode()


def test_the_log_pages_show_filtered_items(member_client, member, calendar) -> None:
    integration = make(member, calendar)
    counts = {"remote": {"created": 1, "filtered": 3}}
    run = SyncRun.objects.create(tenant=member.tenant, integration=integration, trigger="manual", status="success",
                                 finished_at=timezone.now(), counts=counts)  # fmt: skip
    SyncLogEntry.objects.create(run=run, action="filtered", uid="a@x", title="Dentist",
                                message="“Dentist” was not copied. Filtered: matches a keyword.")  # fmt: skip
    logs = member_client.get(reverse("integrations:logs", args=[integration.pk])).content.decode()
    assert "3 filtered" in logs
    detail = member_client.get(reverse("integrations:run_detail", args=[run.pk])).content.decode()
    assert "Filtered out" in detail and "Filtered: matches a keyword." in detail
