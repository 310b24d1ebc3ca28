"""`manage.py report` prints what the reports page shows, and refuses bad input with a clear message."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from events import services
from events.ical import parse_calendar
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db


def _meeting(calendar, uid: str, start: str, end: str, client: str) -> None:  # type: ignore[no-untyped-def]
    event = f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\nX-CALSYNC-CLIENT:{client}\r\n"
    ics = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n{event}END:VEVENT\r\nEND:VCALENDAR\r\n"
    services.item_save(calendar=calendar, item=parse_calendar(ics)[0])


def _run(*args: str) -> str:
    out = StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def booked(calendar, admin_user, tenant):  # type: ignore[no-untyped-def]
    colleague = CalendarFactory(owner=UserFactory(tenant=tenant, email="colleague@acme.test"), tenant=tenant)
    _meeting(calendar, "a", "20261102T090000Z", "20261102T103000Z", "Acme")
    _meeting(colleague, "b", "20261103T090000Z", "20261103T100000Z", "Globex")
    return tenant


def test_json_grouped_by_client_and_user(booked):
    data = json.loads(_run("--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30",
                           "--group-by", "client,user"))  # fmt: skip

    assert [(r["labels"], r["minutes"], r["hours"], r["count"]) for r in data["rows"]] == [
        (["Acme", "member@acme.test"], 90, 1.5, 1),
        (["Globex", "colleague@acme.test"], 60, 1.0, 1),
    ]
    assert (data["tenant"], data["total_minutes"], data["zone"]) == ("acme", 150, "UTC")


def test_csv_and_a_members_view(booked):
    everyone = _run("--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv")
    own = _run("--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv",
               "--as", "member@acme.test")  # fmt: skip

    assert everyone.splitlines() == ["Client,Hours,Minutes,Events", "Acme,1.5,90,1", "Globex,1.0,60,1",
                                     "Total,2.5,150,2"]  # fmt: skip
    assert own.splitlines() == ["Client,Hours,Minutes,Events", "Acme,1.5,90,1", "Total,1.5,90,1"]


def test_filters_narrow_the_report(booked):
    data = json.loads(_run("--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30"))
    globex = next(r["key"][0] for r in data["rows"] if r["labels"] == ["Globex"])

    narrowed = json.loads(_run("--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30",
                               "--filter", f"client={globex}", "--group-by", "user"))  # fmt: skip

    assert [(r["labels"], r["minutes"]) for r in narrowed["rows"]] == [(["colleague@acme.test"], 60)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--from", "2026-11-01", "--to", "2026-11-30"], "No tenant with slug 'nope'"),
        (["--tenant", "acme", "--from", "2026-13-01", "--to", "2026-11-30"], "'2026-13-01' is not a date"),
        (["--tenant", "acme", "--from", "2026-11-30", "--to", "2026-11-01"], "ends before it starts"),
        (["--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30", "--group-by", "mood"], "Unknown grouping"),
        (["--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30", "--zone", "Nowhere/Town"], "time zone"),
        (["--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30", "--as", "x@y.test"], "No active person"),
        (["--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30", "--filter", "client=abc"], "a number"),
        (["--tenant", "acme", "--from", "2026-11-01", "--to", "2026-11-30", "--filter", "mood=1"], "GROUP=ID"),
    ],
)
def test_bad_input_is_a_clear_error(booked, args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)


def test_a_tenant_without_an_admin_needs_a_named_viewer(other_tenant):
    UserFactory(tenant=other_tenant, email="only@globex.test")

    with pytest.raises(CommandError, match="no active admin"):
        _run("--tenant", "globex", "--from", "2026-11-01", "--to", "2026-11-30")
    assert "Total,0.0,0,0" in _run("--tenant", "globex", "--from", "2026-11-01", "--to", "2026-11-30",
                                   "--format", "csv", "--as", "only@globex.test")  # fmt: skip
