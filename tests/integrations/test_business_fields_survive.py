"""Client, project and activity survive an edit of the event in each provider (the Google, Microsoft Graph and
Exchange emulators, Radicale and Xandikos), and the report counts the new hours under them afterwards.

Each test makes the event in calsync, syncs it out, changes its title and time the way a user of that provider
does, syncs it back, and asks the report engine (reports.engine), as the event's owner would."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from business.models import Activity, Client, Project
from events import services as events
from events.models import Event
from reports.engine import ReportQuery, drill_down, report_run
from tests.sync.items import BERLIN, START, event

pytestmark = pytest.mark.django_db

NAMES = {"client": "Acme", "project": "Roof", "activity_type": "Site visit"}
NEW_START, NEW_END = START.replace(hour=14), START.replace(hour=16)  # moved and made two hours long


@pytest.fixture
def entries(tenant):  # type: ignore[no-untyped-def]
    acme = Client.objects.create(tenant=tenant, name="Acme")
    return (
        acme,
        Project.objects.create(tenant=tenant, name="Roof", client=acme),
        Activity.objects.create(tenant=tenant, name="Site visit"),
    )


def _made_in_calsync(calendar, uid: str) -> Event:  # type: ignore[no-untyped-def]
    return events.item_save(calendar=calendar, item=event(uid, "Roof inspection", **NAMES)).event


def _query(member) -> ReportQuery:  # type: ignore[no-untyped-def]
    return ReportQuery(tenant_id=member.tenant_id, viewer_id=member.pk, start=dt.date(2026, 11, 1),
                       end=dt.date(2026, 11, 30), zone="Europe/Berlin",
                       group_by=("client", "project", "activity"))  # fmt: skip


def _assert_survived(calendar, member, uid: str, entries, minutes_before: int) -> None:  # type: ignore[no-untyped-def]
    """Still the same entries, the new title and time stored, and the report's numbers moved with them."""
    acme, roof, visit = entries
    row = Event.objects.get(calendar=calendar, uid=uid, parent=None)
    assert (row.client_ref_id, row.project_ref_id, row.activity_ref_id) == (acme.pk, roof.pk, visit.pk)
    assert (row.title, row.start, row.end) == ("Roof inspection (moved)", NEW_START, NEW_END)
    report = report_run(query=_query(member))
    assert minutes_before == 60
    assert [(r.key, r.labels, r.minutes, r.count) for r in report.rows] == [
        ((acme.pk, roof.pk, visit.pk), ("Acme", "Roof", "Site visit"), 120, 1)
    ]
    assert (report.total_minutes, report.total_count) == (120, 1)
    drilled, total = drill_down(query=_query(member), key={"client": acme.pk})
    assert total == 1
    assert (drilled[0].title, drilled[0].start.astimezone(BERLIN).hour) == ("Roof inspection (moved)", 14)


def _minutes(member) -> int:  # type: ignore[no-untyped-def]
    return report_run(query=_query(member)).total_minutes


def test_google(member_client, member, calendar, google, run_on_commit, entries, monkeypatch) -> None:
    from tests.integrations.test_google import connect, sync_now
    from tests.integrations.test_google_fidelity import _ui_edit

    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda seconds: None)
    email = "survive@example.com"
    _made_in_calsync(calendar, "g@x")
    integration = connect(member_client, google, email, calendar, run_on_commit)
    before = _minutes(member)
    _ui_edit(google, email, "g@x", summary="Roof inspection (moved)",
             start={"dateTime": NEW_START.isoformat(), "timeZone": "Europe/Berlin"},
             end={"dateTime": NEW_END.isoformat(), "timeZone": "Europe/Berlin"})  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    _assert_survived(calendar, member, "g@x", entries, before)


def test_microsoft_graph(member_client, member, calendar, microsoft, run_on_commit, entries) -> None:
    from tests.integrations.test_microsoft import connect, sync_now
    from tests.integrations.test_microsoft_roundtrip import _outlook_event

    login = "survive@contoso.example"
    _made_in_calsync(calendar, "m@x")
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    before = _minutes(member)
    written = _outlook_event(microsoft, login, "m@x")
    # What Outlook sends: a PATCH of the changed properties only.
    microsoft.state.update(login, written["id"], {
        "subject": "Roof inspection (moved)",
        "start": {"dateTime": "2026-11-23T14:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-11-23T16:00:00", "timeZone": "W. Europe Standard Time"},
    }, None)  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    _assert_survived(calendar, member, "m@x", entries, before)


def test_exchange(member_client, member, calendar, exchange, run_on_commit, entries) -> None:
    from tests.integrations.test_exchange import connect, outlook, sync_now
    from tests.integrations.test_exchange_roundtrip import _outlook_edit, _stored

    integration = connect(member_client, exchange, calendar, run_on_commit, name="survive")
    _made_in_calsync(calendar, "x@x")
    assert sync_now(integration, run_on_commit).status == "success"
    before = _minutes(member)
    side = outlook(exchange, "survive@corp.example")
    stored = _stored(exchange, "survive@corp.example", "x@x")
    # Outlook: GetItem, then UpdateItem with SetItemField of what changed.
    _outlook_edit(side, stored["id"], subject="Roof inspection (moved)", start=NEW_START, end=NEW_END)
    assert sync_now(integration, run_on_commit).status == "success"
    _assert_survived(calendar, member, "x@x", entries, before)


def test_caldav_server(member, calendar, remote, run_on_commit, entries) -> None:
    from tests.integrations.test_caldav import connect, sync_now

    server, url, cal = remote
    _made_in_calsync(calendar, "c@x")
    integration = connect(member, calendar, server, url, run_on_commit)
    before = _minutes(member)
    obj = cal.event_by_uid("c@x")
    # As an iPhone edits: the whole item PUT back, every X- property it read kept.
    data = obj.data.replace("\r\n", "\n")
    data = re.sub(r"(?m)^SUMMARY:.*$", "SUMMARY:Roof inspection (moved)", data)
    obj.data = data.replace("T100000", "T140000").replace("T110000", "T160000").replace("\n", "\r\n")
    obj.save()
    sync_now(integration, run_on_commit)
    _assert_survived(calendar, member, "c@x", entries, before)
