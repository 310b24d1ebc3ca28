"""Assignment rules: events made outside calsync get a client, project and activity by the organisation's rules,
on arrival and again over a date range on request."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from business.models import Activity, AssignmentRule, Client, Project, RuleMatch, RuleRun
from business.rules import selectors
from business.rules.services import RuleInvalid, RuleSpec, rule_create, rule_move, rule_run_create, rules_apply
from events import services
from events.ical import Attendee, Person
from events.models import Event
from tests.sync.items import event

pytestmark = pytest.mark.django_db

Kind = AssignmentRule.Kind


@pytest.fixture
def acme(tenant):  # type: ignore[no-untyped-def]
    return Client.objects.create(tenant=tenant, name="Acme", email_domains=["acme.example"])


def _rule(tenant, kind: str, value: str = "", **sets: object) -> AssignmentRule:  # type: ignore[no-untyped-def]
    return rule_create(tenant=tenant, user=None, spec=RuleSpec(kind=kind, value=value, **sets))  # type: ignore[arg-type]


def _arrive(calendar, item, origin: str = "google") -> Event:  # type: ignore[no-untyped-def]
    with services.writes_from(origin):
        return services.item_save(calendar=calendar, item=item).event


def _with_guest(uid: str, email: str, summary: str = "Call", **fields: object):  # type: ignore[no-untyped-def]
    return event(uid, summary, attendees=(Attendee(email=email),), **fields)


def test_an_attendee_of_a_clients_domain_assigns_the_client_on_arrival(calendar, acme) -> None:
    got = _arrive(calendar, _with_guest("a@x", "ann@eu.acme.example"))

    assert (got.client_ref_id, got.client) == (acme.pk, "Acme")
    match = RuleMatch.objects.get(event=got)
    assert (match.field, match.rule, match.reason) == ("client", None, "attendee ann@eu.acme.example")


def test_writes_made_in_calsync_are_left_as_given(calendar, acme) -> None:
    result = services.item_save(calendar=calendar, item=_with_guest("a@x", "ann@acme.example"))

    assert result.event.client == "" and not result.amended
    assert not RuleMatch.objects.exists()


def test_rules_fill_only_empty_fields_first_match_per_field(calendar, tenant, acme) -> None:
    globex = Client.objects.create(tenant=tenant, name="Globex")
    meetings = Activity.objects.create(tenant=tenant, name="Meetings")
    calls = Activity.objects.create(tenant=tenant, name="Calls")
    _rule(tenant, Kind.TITLE_KEYWORD, "Weekly  SYNC", activity=meetings)
    _rule(tenant, Kind.ATTENDEE_DOMAIN, "@globex.example", client=globex, activity=calls)
    _rule(tenant, Kind.CALENDAR, calendar=calendar, activity=calls)

    both = _arrive(calendar, _with_guest("a@x", "bo@globex.example", "Our weekly sync"))
    kept = _arrive(calendar, _with_guest("b@x", "bo@globex.example", "Weekly sync", client="Initech"))
    not_a_word = _arrive(calendar, event("c@x", "weekly syncing"))

    assert (both.client, both.activity_type) == ("Globex", "Meetings")  # the earlier rule wins the activity
    assert (kept.client, kept.activity_type) == ("Initech", "Meetings")  # a client given is kept
    assert (not_a_word.client, not_a_word.activity_type) == ("", "Calls")  # whole words only; the calendar rule
    shown = selectors.matches_of(event=both)
    assert [(m.field, m.name) for m in shown] == [("Client", "Globex"), ("Activity", "Meetings")]
    assert "weekly sync" in shown[1].rule and shown[1].reason == "“weekly sync” in the title"


def test_a_project_rule_sets_its_client_and_never_contradicts_the_events_client(calendar, tenant, acme) -> None:
    website = Project.objects.create(tenant=tenant, name="Website", client=acme)
    _rule(tenant, Kind.TITLE_KEYWORD, "web", project=website)

    fresh = _arrive(calendar, event("a@x", "Web review"))
    other = _arrive(calendar, event("b@x", "Web review", client="Globex"))

    assert (fresh.client_ref_id, fresh.project_ref_id) == (acme.pk, website.pk)
    assert (other.client, other.project) == ("Globex", "")


def test_an_organiser_rule_and_changed_occurrences(calendar, tenant) -> None:
    partner = Client.objects.create(tenant=tenant, name="Partner")
    _rule(tenant, Kind.ORGANIZER_DOMAIN, "partner.example", client=partner)
    item = event("a@x", "Invite", organizer=Person(email="boss@partner.example"))
    from tests.sync.items import series

    moved = series("s@x")
    moved = replace(moved, master=replace(moved.master, organizer=Person(email="boss@partner.example")),
                    overrides=tuple(replace(o, organizer=Person(email="boss@partner.example"))
                                    for o in moved.overrides))  # fmt: skip

    assert _arrive(calendar, item).client == "Partner"
    master = _arrive(calendar, moved)
    assert master.client == "Partner" and master.overrides.get().client == "Partner"


def test_a_rule_must_make_sense(tenant, other_tenant, acme) -> None:
    foreign = Client.objects.create(tenant=other_tenant, name="Theirs")
    internal = Project.objects.create(tenant=tenant, name="Admin")
    for spec, message in [
        (RuleSpec(kind=Kind.ATTENDEE_DOMAIN, value="acme.example"), "must set"),
        (RuleSpec(kind=Kind.ATTENDEE_DOMAIN, value="ann@acme.example", client=acme), "domain"),
        (RuleSpec(kind=Kind.TITLE_KEYWORD, value="  ", client=acme), "Enter"),
        (RuleSpec(kind=Kind.CALENDAR, client=acme), "calendar"),
        (RuleSpec(kind=Kind.TITLE_KEYWORD, value="x", client=foreign), "another organisation"),
        (RuleSpec(kind=Kind.TITLE_KEYWORD, value="x", client=acme, project=internal), "internal project"),
    ]:
        with pytest.raises(RuleInvalid, match=message):
            rule_create(tenant=tenant, user=None, spec=spec)


def test_rules_move_up_and_down(tenant, acme) -> None:
    one, _two, three = (_rule(tenant, Kind.TITLE_KEYWORD, word, client=acme) for word in ("a", "b", "c"))
    rule_move(rule=three, up=True)
    rule_move(rule=one, up=False)
    rule_move(rule=one, up=False)  # already last: stays
    assert [r.value for r in selectors.rules(tenant=tenant)] == ["c", "b", "a"]


# --- running the rules again over a range -------------------------------------------------------------------


def _in_calsync(calendar, uid: str, day: int, **fields: object) -> Event:  # type: ignore[no-untyped-def]
    return services.item_save(calendar=calendar, item=_with_guest(uid, "ann@acme.example", day=day, **fields)).event


def test_a_rerun_changes_only_unassigned_events_unless_asked(calendar, tenant, acme) -> None:
    # 2026-11-23 + day; the range below holds days 0 and 1 only.
    unassigned = _in_calsync(calendar, "u@x", 0)
    assigned = _in_calsync(calendar, "a@x", 1, client="Globex")
    outside = _in_calsync(calendar, "o@x", 9)
    seq = assigned.seq

    preview = selectors.preview(tenant=tenant, start=date(2026, 11, 23), end=date(2026, 11, 24), overwrite=False)
    assert (preview.checked, preview.changed) == (2, 1)
    assert preview.by_rule == [("A client's own email domains", 1)]
    assert rules_apply(tenant=tenant, start=date(2026, 11, 23), end=date(2026, 11, 24)) == (2, 1)

    rows = {e.uid: e for e in Event.objects.filter(parent=None)}
    assert rows["u@x"].client_ref_id == acme.pk and rows["u@x"].seq > unassigned.seq  # through the write path
    assert (rows["a@x"].client, rows["a@x"].seq) == ("Globex", seq)
    assert rows["o@x"].client == "" and rows["o@x"].seq == outside.seq

    assert rules_apply(tenant=tenant, start=date(2026, 11, 23), end=date(2026, 11, 24), overwrite=True) == (2, 1)
    assert Event.objects.get(uid="a@x").client == "Acme"


def test_the_command_previews_and_applies(calendar, tenant, acme, capsys) -> None:
    _in_calsync(calendar, "u@x", 0)
    call_command("apply_rules", "--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30", "--dry-run")
    assert "Would change 1 of 1 events." in capsys.readouterr().out
    assert Event.objects.get(uid="u@x").client == ""

    call_command("apply_rules", "--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30")
    assert "Checked 1 events, changed 1." in capsys.readouterr().out
    assert Event.objects.get(uid="u@x").client == "Acme"
    assert RuleRun.objects.get().status == RuleRun.Status.DONE

    with pytest.raises(CommandError, match="before the first"):
        call_command("apply_rules", "--tenant", "acme", "--from", "2026-11-30", "--to", "2026-11-01")
    with pytest.raises(CommandError, match="No tenant"):
        call_command("apply_rules", "--tenant", "nope", "--from", "2026-11-01", "--to", "2026-11-30")


def test_a_queued_run_is_done_by_the_task(calendar, tenant, acme, run_on_commit) -> None:
    _in_calsync(calendar, "u@x", 0)
    with run_on_commit():
        run = rule_run_create(tenant=tenant, user=None, start=date(2026, 11, 1), end=date(2026, 11, 30),
                              overwrite=False)  # fmt: skip
    run.refresh_from_db()
    assert (run.status, run.checked_count, run.changed_count) == ("done", 1, 1)


def test_a_rerun_skips_an_event_that_now_breaks_a_limit_and_goes_on(calendar, tenant, acme, settings) -> None:
    crowded = event("crowd@x", "Call", attendees=(Attendee(email="ann@acme.example"), Attendee(email="bo@b.example")))
    services.item_save(calendar=calendar, item=crowded)
    _in_calsync(calendar, "u@x", 0)
    settings.ICAL_MAX_ATTENDEES = 1  # lowered after the first was stored

    assert rules_apply(tenant=tenant, start=date(2026, 11, 23), end=date(2026, 11, 23)) == (2, 1)
    assert (Event.objects.get(uid="crowd@x").client, Event.objects.get(uid="u@x").client) == ("", "Acme")
