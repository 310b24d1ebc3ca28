"""Strict tenant isolation: every URL, tried with another tenant's rows, reveals nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from business.models import AssignmentRule, Client
from dav.models import AppPassword
from dav.services import app_password_create
from events.ical import Component, Item
from events.models import Event, ImportJob
from events.services import item_save
from integrations.models import Integration
from integrations.services import integration_create
from reports.services import saved_report_create
from scheduling.services import calendar_share
from sync.models import SyncPreview, SyncRun
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def _series(calendar, label: str = "Globex") -> Event:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 23, 10, tzinfo=BERLIN)
    component = Component(uid=f"secret@{label.lower()}", summary=f"{label} secret", start=start,
                          end=start + timedelta(hours=1), rrule="FREQ=WEEKLY")  # fmt: skip
    return item_save(calendar=calendar, item=Item(master=component)).event


def _rows_of(owner, label: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """One of each row a user owns (calendar, event, task, import, integration, run, app password)."""
    calendar = CalendarFactory(owner=owner, name=f"{label} board")
    event = _series(calendar, label)
    task = item_save(
        calendar=calendar,
        item=Item(master=Component(kind="VTODO", uid=f"t@{label.lower()}", summary=f"{label} todo")),
    )
    job = ImportJob.objects.create(tenant=owner.tenant, calendar=calendar, created_by=owner, filename="x.ics",
                                   payload="")  # fmt: skip
    other = CalendarFactory(owner=owner, name=f"{label} copy")
    integration = integration_create(
        user=owner, provider="calsync", calendar=calendar, remote_calendar_id=str(other.pk),
        remote_calendar_name=f"{label} copy", sync_enabled=False,
    )  # fmt: skip
    run = SyncRun.objects.create(tenant=owner.tenant, integration=integration, trigger="manual", error=label)
    example = {"side": "remote", "action": "created", "uid": "x", "title": f"{label} previewed", "start": "",
               "attendees": 0}  # fmt: skip
    preview = SyncPreview.objects.create(tenant=owner.tenant, integration=integration, reason="first",
                                         status="ready", examples=[example])  # fmt: skip
    lost = run.entries.create(action="conflict", message="kept theirs", detail=f"SUMMARY:{label} losing version",
                              uid=event.uid, title=event.title)  # fmt: skip
    app_password = app_password_create(user=owner, label=f"{label} phone").app_password
    share = calendar_share(calendar=calendar, grantee=None, level="details")
    listed = Client.objects.create(tenant=owner.tenant, name=f"{label} client", created_by=owner)
    saved = saved_report_create(owner=owner, name=f"{label} saved report", params={"group_by": ["client"]})
    rule = AssignmentRule.objects.create(tenant=owner.tenant, kind="title_keyword", value="secret", client=listed)
    return {"calendar": calendar, "event": event, "task": task.event, "job": job, "user": owner,
            "integration": integration, "run": run, "preview": preview, "lost": lost, "app_password": app_password,
            "share": share, "list_entry": listed, "saved_report": saved, "rule": rule}  # fmt: skip


@pytest.fixture
def foreign(outsider):  # type: ignore[no-untyped-def]
    """Rows of another tenant that the signed-in member must never reach."""
    return _rows_of(outsider, "Globex")


def _foreign_urls(foreign) -> dict[str, str]:  # type: ignore[no-untyped-def]
    rid = "20261130T090000Z"
    cal, event, task = foreign["calendar"].pk, foreign["event"].pk, foreign["task"].pk
    return {
        "events:event_detail": reverse("events:event_detail", args=[event]),
        "events:event_edit": reverse("events:event_edit", args=[event]),
        "events:event_summary": reverse("events:event_summary", args=[event]),
        "events:event_delete": reverse("events:event_delete", args=[event]),
        "events:occurrence_edit": reverse("events:occurrence_edit", args=[event, rid]),
        "events:occurrence_delete": reverse("events:occurrence_delete", args=[event, rid]),
        "events:grid_change": reverse("events:grid_change", args=[event]),
        "events:task_edit": reverse("events:task_edit", args=[task]),
        "events:task_delete": reverse("events:task_delete", args=[task]),
        "events:calendar_edit": reverse("events:calendar_edit", args=[cal]),
        "events:calendar_delete": reverse("events:calendar_delete", args=[cal]),
        "events:calendar_export": reverse("events:calendar_export", args=[cal]),
        "events:calendar_import": reverse("events:calendar_import", args=[cal]),
        "events:calendar_feed_rotate": reverse("events:calendar_feed_rotate", args=[cal]),
        "scheduling:share_create": reverse("scheduling:share_create", args=[cal]),
        "scheduling:share_delete": reverse("scheduling:share_delete", args=[foreign["share"].pk]),
        "dav:app_password_revoke": reverse("dav:app_password_revoke", args=[foreign["app_password"].pk]),
        "events:import_status": reverse("events:import_status", args=[foreign["job"].pk]),
        "meetings:respond": reverse("meetings:respond", args=[event]),
        "admin_user_edit": reverse("admin_user_edit", args=[foreign["user"].pk]),
        "reports:drill": reverse("reports:drill") + f"?group_by=calendar&key_calendar={cal}",
        **{
            f"reports:{name}": reverse(f"reports:{name}", args=[foreign["saved_report"].pk])
            for name in ("report_saved", "saved_edit", "saved_delete", "saved_update_query")
        },
        **{
            f"integrations:{name}": reverse(f"integrations:{name}", args=[foreign["integration"].pk])
            for name in (
                "detail",
                "controls",
                "sync_now",
                "allow_mass_delete",
                "status",
                "logs",
                "disconnect",
                "caldav_credentials",
                "exchange_credentials",
                "undo_since",
                "resync",
                "preview_state",
            )
        },
        **{
            f"operations:{name}": reverse(f"operations:{name}", args=[foreign["integration"].pk])
            for name in ("ask_reconnect", "sync_now", "resync")
        },
        **{
            f"integrations:{name}": reverse(f"integrations:{name}", args=[foreign["integration"].pk, previewed])
            for name in ("preview_confirm", "preview_retry")
            if (previewed := foreign["preview"].pk)
        },
        "integrations:run_detail": reverse("integrations:run_detail", args=[foreign["run"].pk]),
        "integrations:undo_run": reverse("integrations:undo_run", args=[foreign["run"].pk]),
        "integrations:lost_version": reverse("integrations:lost_version", args=[foreign["run"].pk, foreign["lost"].pk]),
        **{f"rules:{name}": reverse(f"rules:{name}", args=[foreign["rule"].pk]) for name in ("edit", "delete", "move")},
        **{
            f"business:{name}": reverse(f"business:{name}", args=["clients", foreign["list_entry"].pk])
            for name in ("edit", "archive", "unarchive", "propagate", "merge")
        },
        # An event's story, by UID (a deleted event has no row): the owner's logs and calendars only.
        **{
            f"integrations:{name}": reverse(f"integrations:{name}") + f"?uid={foreign['event'].uid}"
            for name in ("event_story", "admin_event_story")
        },
        "integrations:google_connect": reverse("integrations:google_connect")
        + f"?integration={foreign['integration'].pk}",
        "integrations:microsoft_connect": reverse("integrations:microsoft_connect")
        + f"?integration={foreign['integration'].pk}",
    }


# URLs that take no object id: they are checked for leaks of foreign rows in their listings.
LISTINGS = [
    "events:calendar", "events:grid_events", "events:calendar_list", "events:task_list", "events:calendar_index",
    "events:event_create", "events:task_create", "events:calendar_create", "settings", "admin_users",
    "admin_user_create", "admin_tenant",
    "integrations:connect_calsync", "integrations:admin_logs", "integrations:caldav_connect",
    "integrations:caldav_choose", "dav:app_passwords", "integrations:google_callback",
    "integrations:google_connect_workspace", "integrations:google_choose", "integrations:google_workspace",
    "integrations:microsoft_callback", "integrations:microsoft_choose", "integrations:microsoft_connect_organisation",
    "integrations:microsoft_organisation", "integrations:microsoft_consented", "integrations:exchange_connect",
    "integrations:exchange_choose", "integrations:exchange_connect_organisation", "integrations:exchange_organisation",
    "scheduling:find_time", "scheduling:settings", "scheduling:policy", "meetings:new", "meetings:sender",
    "business:list", "business:create", "business:suggest", "events:search", "rules:index", "rules:create",
    "rules:rerun", "operations:health",
    # The signed-in user's own: a feed subscription into their calendars; their integrations' live state
    # (tests/integrations/test_ics_source.py, tests/sync/test_live.py cover that nobody else's shows).
    "integrations:ics_subscribe", "integrations:live",
    # Finding an event by title in the sync logs (the foreign event is "Globex secret").
    "integrations:event_search", "integrations:admin_event_search",
]  # fmt: skip
# What the listings that need it are opened with.
LISTING_URLS = {"business:list": ("clients", ""), "business:create": ("projects", ""),
                "business:suggest": ("clients", "?q=glo"), "events:calendar": ("", "?week=2026-11-23"),
                "events:calendar_list": ("", "?from=2026-11-20&to=2027-01-31"),
                "events:grid_events": ("", "?start=2026-11-20&end=2027-01-20"),
                # the foreign series is "Globex secret", weekly from 23 November 2026
                "events:search": ("", "?q=secret&from=2026-11-20"),
                "integrations:event_search": ("", "?q=secret"),
                "integrations:admin_event_search": ("", "?q=secret")}  # fmt: skip
LISTINGS += ["reports:report", "reports:export_csv", "reports:export_xlsx", "reports:rules"]
# Takes no id and reads only the poster's own tenant (tests/reports/test_saved.py: sharing outside it is refused).
CREATES_ONLY = ["reports:saved_create"]
# Not tenant data at all.
PUBLIC = ["home", "healthz", "login", "logout", "password_change"]
# Authenticated by their own credentials (app passwords, a feed's secret token): tests/dav covers their isolation.
# (meetings: a signed answer link, the signed reply address; tests/meetings covers them.)
# The grid's JSON writes name a calendar in their body: tests/events/test_grid.py refuses another tenant's there.
JSON_WRITES = ["events:grid_create", "events:grid_visibility"]
OWN_CREDENTIALS = [
    "dav:dav",
    "dav:well_known",
    "dav:feed",
    "integrations:google_push",
    "integrations:microsoft_push",  # clientState per subscription: tests/integrations/test_microsoft_push.py
    "integrations:caldav_push",  # a token per registration: tests/integrations/test_caldav_push.py
    "meetings:answer",
    "meetings:inbound",
]


def _named_urls() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace: str = "") -> None:  # type: ignore[no-untyped-def]
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace != "admin":
                    walk(p.url_patterns, f"{namespace}{p.namespace}:" if p.namespace else namespace)
            elif isinstance(p, URLPattern) and p.name:
                names.add(f"{namespace}{p.name}")

    walk(get_resolver().url_patterns)
    return names


def test_every_url_is_covered_by_an_isolation_test(foreign) -> None:  # type: ignore[no-untyped-def]
    covered = set(_foreign_urls(foreign)) | set(LISTINGS) | set(PUBLIC) | set(OWN_CREDENTIALS) | set(CREATES_ONLY)
    covered |= set(JSON_WRITES)
    assert _named_urls() - covered == set(), "add the new URL to the isolation tests"


@pytest.mark.parametrize("method", ["get", "post"])
def test_no_url_reaches_another_tenants_objects(client, member, admin_user, foreign, method) -> None:  # type: ignore[no-untyped-def]
    for user in (member, admin_user):
        client.force_login(user)
        for name, url in _foreign_urls(foreign).items():
            response = getattr(client, method)(url)
            assert response.status_code in (403, 404, 405), f"{name} answered {response.status_code} for {user.email}"
            assert b"Globex" not in response.content, name
    # And nothing changed.
    assert Event.objects.filter(pk=foreign["event"].pk, title="Globex secret").exists()
    assert Integration.objects.filter(pk=foreign["integration"].pk).exists()
    assert not SyncRun.objects.exclude(pk=foreign["run"].pk).exists()
    assert (
        foreign["calendar"]
        .__class__.objects.filter(pk=foreign["calendar"].pk, feed_token=foreign["calendar"].feed_token)
        .exists()
    )
    assert AppPassword.objects.filter(pk=foreign["app_password"].pk).exists()
    assert Client.objects.filter(pk=foreign["list_entry"].pk, name="Globex client", archived_at=None).exists()


# Steps reached only from another page (a provider's answer, a pending connection): without it they redirect.
REDIRECTING = {"integrations:google_callback", "integrations:microsoft_callback", "integrations:microsoft_consented",
               "integrations:google_connect_workspace", "integrations:microsoft_connect_organisation",
               "integrations:exchange_connect_organisation"}  # fmt: skip


def _pending_connections(client) -> None:  # type: ignore[no-untyped-def]
    """A connection waiting at its choice step for each provider, so those pages list the user's calendars."""
    from dataclasses import asdict

    from calsync import crypto
    from integrations.caldav.client import RemoteCalendar
    from integrations.connecting import MailboxCalendar
    from integrations.google.services import GoogleCalendar

    mailbox = [asdict(MailboxCalendar("remote-1", "Remote calendar", True))]
    session = client.session
    session["caldav_pending"] = {
        "url": "https://dav.example.com/",
        "username": "u",
        "secret": crypto.encrypt({"password": "p"}),
        "calendars": [asdict(RemoteCalendar("https://dav.example.com/c/", "Remote"))],
    }
    session["google_pending"] = {
        "account": "a@example.com",
        "auth": "oauth",
        "secret": "",
        "calendars": [asdict(GoogleCalendar("a@example.com", "Remote", True))],
    }
    session["microsoft_pending"] = {
        "auth": "organisation",
        "account": "a@example.com",
        "secret": "",
        "calendars": mailbox,
    }
    session["exchange_pending"] = {"auth": "organisation", "account": "a@example.com", "calendars": mailbox}
    session.save()  # fmt: skip


def test_listings_never_show_another_tenants_rows(client, admin_user, foreign) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    CalendarFactory(owner=admin_user, name="Admin's own")
    _pending_connections(client)
    for name in LISTINGS:
        kind, query = LISTING_URLS.get(name, ("", ""))
        response = client.get(reverse(name, args=[kind] if kind else []) + query)
        assert response.status_code == (302 if name in REDIRECTING else 200), name
        assert b"Globex" not in response.content and b"globex" not in response.content, name
        if name.endswith("_choose"):
            assert b"Admin&#x27;s own" in response.content, name  # the page did list calendars: the user's only


def test_a_member_cannot_reach_a_colleagues_calendar(client, member, tenant) -> None:  # type: ignore[no-untyped-def]
    colleague = UserFactory(tenant=tenant, email="colleague@acme.test")
    calendar = CalendarFactory(owner=colleague, name="Colleague's private")
    event = _series(calendar)
    client.force_login(member)
    assert client.get(reverse("events:event_detail", args=[event.pk])).status_code == 404
    assert client.get(reverse("events:calendar_export", args=[calendar.pk])).status_code == 404


def test_members_are_kept_out_of_the_admin_area(member_client, member) -> None:  # type: ignore[no-untyped-def]
    for name in ("admin_users", "admin_user_create", "admin_tenant", "integrations:admin_logs", "scheduling:policy"):
        assert member_client.get(reverse(name)).status_code == 403
    assert member_client.get(reverse("admin_user_edit", args=[member.pk])).status_code == 403


def test_operator_without_tenant_is_refused_politely(client, django_user_model) -> None:  # type: ignore[no-untyped-def]
    operator = django_user_model.objects.create_superuser(email="ops@calsync.test", password="x" * 20)
    client.force_login(operator)
    response = client.get(reverse("events:calendar"))
    assert response.status_code == 403
    assert "This account belongs to no organisation." in response.content.decode()


# --- a colleague in the same tenant: every Scope method keeps a member to their own rows ---------------------


@pytest.fixture
def colleague_rows(tenant):  # type: ignore[no-untyped-def]
    return _rows_of(UserFactory(tenant=tenant, email="colleague@acme.test"), "Colleague")


def test_no_url_reaches_a_colleagues_objects(client, member, colleague_rows) -> None:  # type: ignore[no-untyped-def]
    client.force_login(member)
    for method in ("get", "post"):
        for name, url in _foreign_urls(colleague_rows).items():
            response = getattr(client, method)(url)
            assert response.status_code in (403, 404, 405), f"{name} answered {response.status_code} to {method}"
            assert b"Colleague" not in response.content, name
    assert SyncRun.objects.filter(pk=colleague_rows["run"].pk).exists()
    assert Integration.objects.filter(pk=colleague_rows["integration"].pk).exists()


def test_a_members_scope_holds_only_their_own_rows(member, colleague_rows, foreign) -> None:  # type: ignore[no-untyped-def]
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    from accounts.tenancy import Scope

    mine = _rows_of(member, "Mine")
    scope = Scope(member)
    listings = {"calendars": "calendar", "events": "event", "integrations": "integration",
                "app_passwords": "app_password", "calendar_shares": "share"}  # fmt: skip
    for listing, key in listings.items():
        found = set(getattr(scope, listing)().values_list("pk", flat=True))
        assert mine[key].pk in found and colleague_rows[key].pk not in found, listing
    lookups = {"calendar": "calendar", "event": "event", "import_job": "job", "integration": "integration",
               "app_password": "app_password", "run": "run", "calendar_share": "share"}  # fmt: skip
    second = _rows_of(member, "Second")  # with two of each, a lookup must return the one asked for
    for lookup, key in lookups.items():
        for rows in (mine, second):
            assert getattr(scope, lookup)(rows[key].pk) == rows[key], lookup
        for rows in (colleague_rows, foreign):
            with pytest.raises(Http404):
                getattr(scope, lookup)(rows[key].pk)
    own_events = {rows[key].pk for rows in (mine, second) for key in ("event", "task")}
    assert set(scope.events().values_list("pk", flat=True)) == own_events
    # The administration half refuses a member outright, even for their own rows.
    for admin_only in (scope.tenant_integrations, scope.require_admin, lambda: scope.managed_user(member.pk)):
        with pytest.raises(PermissionDenied, match="Only your organisation's admins"):
            admin_only()


def test_an_admins_scope_holds_the_tenants_runs_and_users_and_no_one_elses(
    admin_user, member, colleague_rows, foreign
) -> None:  # type: ignore[no-untyped-def]
    from django.http import Http404

    from accounts.tenancy import Scope

    scope = Scope(admin_user)
    assert scope.run(colleague_rows["run"].pk) == colleague_rows["run"]
    assert set(scope.tenant_runs()) == {colleague_rows["run"]}
    assert set(scope.tenant_integrations()) == {colleague_rows["integration"]}
    assert set(scope.users()) == {admin_user, member, colleague_rows["user"]}
    assert scope.managed_user(member.pk) == member
    scope.require_admin()
    # An admin's own-calendar methods are still their own: a colleague's calendar is not "theirs".
    with pytest.raises(Http404):
        scope.calendar(colleague_rows["calendar"].pk)
    with pytest.raises(Http404):
        scope.integration(colleague_rows["integration"].pk)
    for lookup in (scope.run, scope.managed_user):
        with pytest.raises(Http404):
            lookup(foreign["run"].pk if lookup == scope.run else foreign["user"].pk)
