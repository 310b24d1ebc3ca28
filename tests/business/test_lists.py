"""The lists pages: who may change them, what archive and rename do to events, and the pickers' suggestions."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from business.models import Activity, Client, Project
from business.services import entry_merge, settings_for
from events import services as events
from events.ical import parse_calendar
from events.models import Event
from reports.models import TimeEntry
from tests.events.test_views import _form

from .test_links import _ics

pytestmark = pytest.mark.django_db


def _save(calendar, uid: str, **names: str) -> Event:  # type: ignore[no-untyped-def]
    return events.item_save(calendar=calendar, item=parse_calendar(_ics(uid, **names))[0]).event


def _suggest(browser, kind: str, **params: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    response = browser.get(reverse("business:suggest", args=[kind]), params)
    assert response.status_code == 200
    return response.json()["results"]


# --- who may change the lists -----------------------------------------------------------------------------------


def test_a_member_reads_the_lists_but_may_not_change_them_unless_the_organisation_allows(member_client, tenant):
    acme = Client.objects.create(tenant=tenant, name="Acme")

    page = member_client.get(reverse("business:list", args=["clients"]))
    assert page.status_code == 200 and "Acme" in page.content.decode()
    assert "Add a client" not in page.content.decode()
    refused = [
        member_client.post(reverse("business:create", args=["clients"]), {"name": "Globex"}),
        member_client.post(reverse("business:edit", args=["clients", acme.pk]), {"name": "Acme Corp"}),
        member_client.post(reverse("business:archive", args=["clients", acme.pk])),
        member_client.get(reverse("business:edit", args=["clients", acme.pk])),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert "Only your organisation" in refused[0].content.decode()
    acme.refresh_from_db()
    assert (acme.name, acme.archived_at, Client.objects.count()) == ("Acme", None, 1)

    allowed = settings_for(tenant)
    allowed.members_manage_lists = True
    allowed.save()
    done = member_client.post(reverse("business:create", args=["clients"]), {"name": "Globex"})
    assert done.status_code == 302
    assert Client.objects.get(name="Globex").created_by.email == "member@acme.test"


def test_the_admin_lets_members_manage_the_lists_on_the_organisation_page(admin_client_, tenant):
    form = {"name": "Acme", "timezone": "Europe/Berlin", "allowed_providers": ["google"],
            "members_manage_lists": "on"}  # fmt: skip
    assert admin_client_.post(reverse("admin_tenant"), form).status_code == 302
    assert settings_for(tenant).members_manage_lists is True
    page = admin_client_.get(reverse("admin_tenant")).content.decode()
    assert re.search(r'<input[^>]*name="members_manage_lists"[^>]*checked', page)

    assert admin_client_.post(reverse("admin_tenant"), {**form, "members_manage_lists": ""}).status_code == 302
    assert settings_for(tenant).members_manage_lists is False


def test_an_admin_adds_a_client_with_domains_and_a_project_under_it(admin_client_, tenant):
    made = admin_client_.post(
        reverse("business:create", args=["clients"]), {"name": "  Acme   Corp ", "email_domains": "Acme.com, @acme.io"}
    )
    assert made.status_code == 302
    acme = Client.objects.get(tenant=tenant)
    assert (acme.name, acme.email_domains) == ("Acme Corp", ["acme.com", "acme.io"])

    website = {"name": "Website", "client": acme.pk}
    assert admin_client_.post(reverse("business:create", args=["projects"]), website).status_code == 302
    assert admin_client_.post(reverse("business:create", args=["projects"]), {"name": "Hiring"}).status_code == 302
    assert admin_client_.post(reverse("business:create", args=["activities"]), {"name": "Design"}).status_code == 302
    assert Project.objects.get(name="Website").client == acme
    assert Project.objects.get(name="Hiring").client is None
    page = admin_client_.get(reverse("business:list", args=["projects"])).content.decode()
    assert "Website" in page and "Acme Corp" in page and "Internal" in page


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"name": "   "}, "Give the client a name."),
        ({"name": "acme"}, "There is already a client called “Acme”."),
        ({"name": "Initech", "email_domains": "not a domain"}, "“not” is not an email domain"),
        ({"name": "Initech", "email_domains": "acme.com"}, "acme.com is already a domain of the client “Acme”."),
    ],
)
def test_bad_input_is_refused_with_the_reason(admin_client_, tenant, form, problem):
    Client.objects.create(tenant=tenant, name="Acme", email_domains=["acme.com"])

    page = admin_client_.post(reverse("business:create", args=["clients"]), form)

    assert page.status_code == 200
    assert problem in page.content.decode()
    assert Client.objects.count() == 1


def test_an_archived_name_is_not_taken_twice_and_says_to_unarchive(admin_client_, tenant):
    old = Project.objects.create(tenant=tenant, name="Launch", archived_at="2026-01-01T00:00:00Z")

    page = admin_client_.post(reverse("business:create", args=["projects"]), {"name": "launch"})

    assert "It is archived: unarchive it instead." in page.content.decode()
    assert admin_client_.post(reverse("business:unarchive", args=["projects", old.pk])).status_code == 302
    old.refresh_from_db()
    assert old.archived_at is None


# --- tenant isolation -------------------------------------------------------------------------------------------


def test_another_organisations_entries_are_out_of_reach(admin_client_, other_tenant):
    theirs = Client.objects.create(tenant=other_tenant, name="Their client")
    project = Project.objects.create(tenant=other_tenant, name="Their project", client=theirs)

    assert "Their client" not in admin_client_.get(reverse("business:list", args=["clients"])).content.decode()
    assert admin_client_.get(reverse("business:edit", args=["clients", theirs.pk])).status_code == 404
    assert (
        admin_client_.post(reverse("business:edit", args=["clients", theirs.pk]), {"name": "Mine"}).status_code == 404
    )
    assert admin_client_.post(reverse("business:archive", args=["projects", project.pk])).status_code == 404
    assert admin_client_.post(reverse("business:propagate", args=["clients", theirs.pk])).status_code == 404
    # Nor can a project be put under their client.
    page = admin_client_.post(reverse("business:create", args=["projects"]), {"name": "X", "client": theirs.pk})
    assert page.status_code == 200 and "Select a valid choice" in page.content.decode()
    assert _suggest(admin_client_, "clients", q="their") == []
    assert _suggest(admin_client_, "projects", q="their") == []
    theirs.refresh_from_db()
    project.refresh_from_db()
    assert (theirs.name, project.archived_at) == ("Their client", None)


def test_an_unknown_list_is_not_found(admin_client_):
    assert admin_client_.get("/lists/users/").status_code == 404


# --- archive ----------------------------------------------------------------------------------------------------


def test_archive_keeps_old_events_linked_and_hides_the_entry_from_new_picks(admin_client_, admin_user, tenant):
    calendar = admin_user.calendars.create(tenant=tenant, name="Work")
    old = _save(calendar, "old", client="Acme")
    acme = old.client_ref

    assert admin_client_.post(reverse("business:archive", args=["clients", acme.pk])).status_code == 302

    acme.refresh_from_db()
    old.refresh_from_db()
    assert acme.is_archived
    assert (old.client_ref_id, old.client) == (acme.pk, "Acme")
    assert TimeEntry.objects.get(event=old).client_id == acme.pk
    assert _suggest(admin_client_, "clients", q="ac") == []
    # A copy edited in a calendar app that still names it keeps it (no second "Acme" appears).
    again = _save(calendar, "old", client="ACME")
    assert again.client_ref_id == acme.pk and Client.objects.count() == 1
    page = admin_client_.get(reverse("business:list", args=["clients"])).content.decode()
    assert "Archived" in page and "Unarchive" in page


def test_archiving_a_client_hides_its_projects_from_new_picks(member_client, tenant):
    acme = Client.objects.create(tenant=tenant, name="Acme", archived_at="2026-01-01T00:00:00Z")
    Project.objects.create(tenant=tenant, name="Website", client=acme)
    Project.objects.create(tenant=tenant, name="Web shop")

    assert [r["name"] for r in _suggest(member_client, "projects", q="web")] == ["Web shop"]


# --- rename -----------------------------------------------------------------------------------------------------


def test_rename_keeps_the_old_name_and_rewrites_the_events_with_new_versions(admin_client_, calendar, tenant,
                                                                             run_on_commit, settings):  # fmt: skip
    settings.BUSINESS_RENAME_BATCH = 2  # three items: two batches, the second queued by the first
    series = _save(calendar, "series", client="Initech", project="Audit", activity="Review",
                   extra="RRULE:FREQ=DAILY;COUNT=3\r\n")  # fmt: skip
    series = events.occurrence_update(master=series, recurrence_id=series.start, changes={"summary": "First"}).event
    others = [_save(calendar, uid, client="initech") for uid in ("a", "b")]
    untouched = _save(calendar, "c", client="Globex")
    before = {e.pk: e.seq for e in [series, *others, untouched]}
    initech = series.client_ref

    with run_on_commit():
        done = admin_client_.post(reverse("business:edit", args=["clients", initech.pk]),
                                  {"name": "Initech Ltd", "email_domains": "initech.com"})  # fmt: skip
    assert done.status_code == 302

    initech.refresh_from_db()
    assert (initech.name, initech.aliases, initech.email_domains) == ("Initech Ltd", ["Initech"], ["initech.com"])
    rows = Event.objects.filter(client_ref=initech)
    assert rows.count() == 4 and set(rows.values_list("client", flat=True)) == {"Initech Ltd"}  # the override too
    for event in [series, *others]:
        event.refresh_from_db()
        assert event.seq > before[event.pk]
        assert (event.client_ref_id, event.title) == (initech.pk, "Work")
    assert series.overrides.get().seq == series.seq
    assert (series.project, series.activity_type) == ("Audit", "Review")
    untouched.refresh_from_db()
    assert (untouched.seq, untouched.client) == (before[untouched.pk], "Globex")
    assert len({e.seq for e in Event.objects.filter(parent=None)}) == 4  # each item its own version
    # The old name, typed again anywhere, still means this client.
    assert _save(calendar, "d", client="INITECH").client_ref_id == initech.pk
    assert admin_client_.get(reverse("business:edit", args=["clients", initech.pk])).context["stale_count"] == 0


def test_a_rename_whose_task_was_lost_is_shown_and_started_again(admin_client_, calendar, run_on_commit):
    event = _save(calendar, "a", activity="Design")
    design = event.activity_ref
    with pytest.MonkeyPatch.context() as patch, run_on_commit():
        patch.setattr("business.services.publish", lambda *args: False)  # the queue is down
        admin_client_.post(reverse("business:edit", args=["activities", design.pk]), {"name": "UX design"})
    event.refresh_from_db()
    assert event.activity_type == "Design"

    page = admin_client_.get(reverse("business:edit", args=["activities", design.pk]))
    assert page.context["stale_count"] == 1 and "Update them now" in page.content.decode()
    with run_on_commit():
        admin_client_.post(reverse("business:propagate", args=["activities", design.pk]))
    event.refresh_from_db()
    assert event.activity_type == "UX design"


def test_a_project_renamed_to_a_name_under_the_same_client_is_refused(admin_client_, tenant):
    acme = Client.objects.create(tenant=tenant, name="Acme")
    Project.objects.create(tenant=tenant, name="Website", client=acme)
    app = Project.objects.create(tenant=tenant, name="App", client=acme)
    other = Project.objects.create(tenant=tenant, name="App", client=None)

    page = admin_client_.post(reverse("business:edit", args=["projects", app.pk]), {"name": "website"})
    assert "There is already a project called “Website”." in page.content.decode()
    # The same name under another client (or internal) is another project.
    assert (
        admin_client_.post(reverse("business:edit", args=["projects", other.pk]), {"name": "Website"}).status_code
        == 302
    )


def test_a_name_given_again_belongs_to_the_new_entry_not_the_renamed_one(admin_client_, calendar, tenant,
                                                                         run_on_commit):  # fmt: skip
    old = _save(calendar, "a", client="Acme").client_ref
    with run_on_commit():
        admin_client_.post(reverse("business:edit", args=["clients", old.pk]), {"name": "Acme Holdings"})
    new = Client.objects.create(tenant=tenant, name="Acme")  # a new client takes the freed name

    assert _save(calendar, "b", client="acme").client_ref_id == new.pk
    assert _save(calendar, "c", client="Acme Holdings").client_ref_id == old.pk


def test_renaming_to_an_earlier_name_of_another_entry_takes_that_name_over(admin_client_, tenant):
    first = Activity.objects.create(tenant=tenant, name="Meetings", aliases=["Calls"])
    second = Activity.objects.create(tenant=tenant, name="Phone")

    admin_client_.post(reverse("business:edit", args=["activities", second.pk]), {"name": "calls"})

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.aliases, second.name, second.aliases) == ([], "calls", ["Phone"])


# --- suggestions ------------------------------------------------------------------------------------------------


def test_suggestions_start_with_what_was_typed_then_contain_it_then_old_names(member_client, tenant, other_tenant):
    for name in ("Zeta Acme", "Acme", "Bacme", "acme labs"):
        Client.objects.create(tenant=tenant, name=name)
    Client.objects.create(tenant=tenant, name="Umbrella", aliases=["Old Acme Trading"])
    Client.objects.create(tenant=tenant, name="Acme archived", archived_at="2026-01-01T00:00:00Z")
    Client.objects.create(tenant=other_tenant, name="Acme elsewhere")

    results = _suggest(member_client, "clients", q=" ACME ")

    assert [r["name"] for r in results] == ["Acme", "acme labs", "Bacme", "Zeta Acme", "Umbrella"]
    assert results[-1]["also_known_as"] == "Old Acme Trading"
    assert [r["name"] for r in _suggest(member_client, "clients", q="")][:2] == ["Acme", "acme labs"]


def test_project_suggestions_follow_the_client_typed(member_client, tenant):
    acme = Client.objects.create(tenant=tenant, name="Acme", aliases=["Acme Inc"])
    globex = Client.objects.create(tenant=tenant, name="Globex")
    Project.objects.create(tenant=tenant, name="Website", client=acme)
    Project.objects.create(tenant=tenant, name="Website", client=globex)
    Project.objects.create(tenant=tenant, name="Hiring")

    def names(**params: str) -> list[tuple[str, str]]:
        return [(r["name"], r["detail"]) for r in _suggest(member_client, "projects", **params)]

    assert names(q="", client="acme inc") == [("Hiring", "Internal"), ("Website", "Acme")]
    assert names(q="web", client="Globex") == [("Website", "Globex")]
    assert names(q="", client="Nobody yet") == [("Hiring", "Internal")]
    assert names(q="web") == [("Website", "Acme"), ("Website", "Globex")]


def test_suggestions_need_a_signed_in_user(client, tenant):
    Client.objects.create(tenant=tenant, name="Acme")
    response = client.get(reverse("business:suggest", args=["clients"]), {"q": "a"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_event_and_occurrence_forms_offer_the_pickers(member_client, calendar):
    series = _save(calendar, "s", extra="RRULE:FREQ=DAILY;COUNT=3\r\n")
    for url in (
        reverse("events:event_create"),
        reverse("events:occurrence_edit", args=[series.pk, "20261103T090000Z"]),
    ):
        page = member_client.get(url).content.decode()
        assert 'list="pick-clients"' in page and 'list="pick-projects"' in page and 'list="pick-activities"' in page
        assert reverse("business:suggest", args=["projects"]) in page and "js/pick.js" in page


def test_a_long_list_is_read_in_a_few_queries(admin_client_, calendar, tenant, django_assert_max_num_queries):
    for i in range(30):
        client = Client.objects.create(tenant=tenant, name=f"Client {i}")
        Project.objects.create(tenant=tenant, name=f"Project {i}", client=client)
    _save(calendar, "a", client="Client 1", project="Project 1")
    admin_client_.get(reverse("business:list", args=["projects"]))  # the session and settings rows, made once

    with django_assert_max_num_queries(6):  # session, user, settings, the list with its counts: not one per row
        page = admin_client_.get(reverse("business:list", args=["projects"]))
    assert page.content.decode().count("<tr data-entry=") == 30


# --- the event form: no new picks of an archived entry ----------------------------------------------------------


def test_the_event_form_refuses_an_archived_entry_for_a_new_pick_but_keeps_one_an_event_had(member_client, calendar):
    old = _save(calendar, "old", client="Acme", project="Website", activity="Design")
    for entry in (old.client_ref, old.activity_ref):
        entry.archived_at = "2026-01-01T00:00:00Z"
        entry.save()

    refused = member_client.post(reverse("events:event_create"), _form(calendar, client="acme", activity_type="Design"))
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "The client “Acme” is archived" in page and "The activity “Design” is archived" in page
    assert not Event.objects.filter(title="Planning").exists()

    edit = {**_form(calendar, title="Renamed", client="Acme", project="Website", activity_type="Design"),
            "version": old.seq}  # fmt: skip
    assert member_client.post(reverse("events:event_edit", args=[old.pk]), edit).status_code == 302
    old.refresh_from_db()
    assert (old.title, old.client_ref.name, old.activity_ref.name) == ("Renamed", "Acme", "Design")
    # Its project is current: choosing it is fine; another archived client is not.
    Client.objects.create(tenant=calendar.tenant, name="Initech", archived_at="2026-01-01T00:00:00Z")
    moved = member_client.post(reverse("events:event_edit", args=[old.pk]), {**edit, "client": "Initech"})
    assert "The client “Initech” is archived" in moved.content.decode()


# --- merge ------------------------------------------------------------------------------------------------------


def test_merging_two_spellings_of_a_client_moves_events_projects_domains_and_names(admin_client_, calendar, tenant,
                                                                                   run_on_commit):  # fmt: skip
    dup = _save(calendar, "a", client="Acme Inc", project="Website", activity="Design")
    kept = _save(calendar, "b", client="Acme", project="Website")
    extra = _save(calendar, "c", client="Acme Inc", project="Mobile")
    acme_inc, acme = dup.client_ref, kept.client_ref
    acme_inc.aliases, acme_inc.email_domains = ["ACME Incorporated"], ["acme-inc.com"]
    acme_inc.save()
    acme.email_domains = ["acme.com"]
    acme.save()
    seq = dup.seq

    with run_on_commit():
        done = admin_client_.post(reverse("business:merge", args=["clients", acme_inc.pk]), {"into": acme.pk})
    assert done.status_code == 302

    acme.refresh_from_db()
    assert not Client.objects.filter(pk=acme_inc.pk).exists()
    assert (acme.aliases, acme.email_domains) == (["Acme Inc", "ACME Incorporated"], ["acme.com", "acme-inc.com"])
    dup.refresh_from_db()
    extra.refresh_from_db()
    assert (dup.client_ref_id, dup.client, extra.client) == (acme.pk, "Acme", "Acme")
    assert dup.seq > seq
    # "Website" under both became one project; "Mobile" moved over.
    assert dup.project_ref_id == kept.project_ref_id
    assert set(Project.objects.filter(tenant=tenant).values_list("name", "client")) == {
        ("Website", acme.pk), ("Mobile", acme.pk)}  # fmt: skip
    assert set(TimeEntry.objects.values_list("client_id", flat=True)) == {acme.pk}
    assert set(TimeEntry.objects.filter(event=dup).values_list("project_id", flat=True)) == {kept.project_ref_id}
    # The merged-away names still find the client.
    assert _save(calendar, "d", client="acme incorporated").client_ref_id == acme.pk


def test_projects_of_two_clients_are_not_merged_and_other_tenants_entries_are_not_offered(admin_client_, tenant,
                                                                                         other_tenant):  # fmt: skip
    acme, globex = (Client.objects.create(tenant=tenant, name=n) for n in ("Acme", "Globex"))
    mine = Project.objects.create(tenant=tenant, name="Web", client=acme)
    same_client = Project.objects.create(tenant=tenant, name="Website", client=acme)
    other_client = Project.objects.create(tenant=tenant, name="Website", client=globex)
    theirs = Client.objects.create(tenant=other_tenant, name="Their client")

    page = admin_client_.get(reverse("business:edit", args=["projects", mine.pk]))
    assert list(page.context["merge_form"].fields["into"].queryset) == [same_client]
    refused = admin_client_.post(reverse("business:merge", args=["projects", mine.pk]), {"into": other_client.pk})
    assert refused.status_code == 302 and Project.objects.filter(pk=mine.pk).exists()
    with pytest.raises(ValidationError, match="Only projects of the same client"):
        entry_merge(entry=mine, into=other_client)
    admin_client_.post(reverse("business:merge", args=["clients", acme.pk]), {"into": theirs.pk})
    assert Client.objects.filter(pk=acme.pk).exists() and Client.objects.filter(pk=theirs.pk).exists()
    assert (
        admin_client_.post(reverse("business:merge", args=["clients", theirs.pk]), {"into": acme.pk}).status_code == 404
    )


def test_a_refused_domain_leaves_the_name_unchanged_too(admin_client_, tenant):
    Client.objects.create(tenant=tenant, name="Globex", email_domains=["globex.com"])
    acme = Client.objects.create(tenant=tenant, name="Acme")

    page = admin_client_.post(reverse("business:edit", args=["clients", acme.pk]),
                              {"name": "Acme Corp", "email_domains": "globex.com"})  # fmt: skip

    assert "globex.com is already a domain of the client “Globex”." in page.content.decode()
    acme.refresh_from_db()
    assert (acme.name, acme.aliases, acme.email_domains) == ("Acme", [], [])


def test_rules_that_set_a_merged_away_entry_set_the_one_it_merged_into(tenant, admin_user):
    from business.models import AssignmentRule

    acme = Client.objects.create(tenant=tenant, name="Acme")
    acme_inc = Client.objects.create(tenant=tenant, name="Acme Inc")
    rule = AssignmentRule.objects.create(tenant=tenant, kind="title_keyword", value="acme", client=acme_inc)

    entry_merge(entry=acme_inc, into=acme)

    rule.refresh_from_db()
    assert rule.client_id == acme.pk
    assert not Client.objects.filter(pk=acme_inc.pk).exists()
