"""Several calendars of one account: a second, different calendar connects; the same calendar twice does not.

Microsoft 365 (Graph), Exchange on-premises (EWS) and Google, each through its connect pages against its
emulator; Graph and EWS are two roads to one mailbox, so the same calendar reached over both is refused too.
"""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from events import services as events
from integrations.models import Integration

from .test_exchange import PASSWORD, SETTINGS, _login
from .test_exchange import connect as connect_exchange
from .test_google import connect as connect_google
from .test_google import sign_in
from .test_microsoft import connect as connect_microsoft
from .test_microsoft import consent

pytestmark = pytest.mark.django_db

TWICE = "is already connected"


def _connected() -> list[tuple[str, str]]:
    return sorted(Integration.objects.values_list("provider", "remote_calendar_name"))


def test_graph_a_team_calendar_beside_the_main_one(member_client, member, calendar, microsoft, run_on_commit) -> None:
    login = "two.cals@contoso.example"
    connect_microsoft(member_client, microsoft, login, calendar, run_on_commit)
    team = events.calendar_create(owner=member, name="Team")
    # The chooser lists the second calendar and takes it.
    connect_microsoft(member_client, microsoft, login, team, run_on_commit, remote_name="Team")
    assert _connected() == [("microsoft", "Calendar"), ("microsoft", "Team")]
    assert all(run.status == "success" for run in member.integrations.get(remote_calendar_name="Team").runs.all())


def test_graph_the_same_calendar_twice_is_refused(member_client, member, calendar, microsoft, run_on_commit) -> None:
    login = "once@contoso.example"
    first = connect_microsoft(member_client, microsoft, login, calendar, run_on_commit)
    other = events.calendar_create(owner=member, name="Other")
    start = member_client.get(reverse("integrations:microsoft_connect"))
    member_client.get(consent(microsoft, start["Location"], login))
    page = member_client.post(reverse("integrations:microsoft_choose"), {
        "remote": first.remote_calendar_id, "calendar": other.pk, "sync_enabled": "on", "direction": "both",
        "primary": "calsync", "automatic": "true", "error_email": "alerts@acme.test"}).content.decode()  # fmt: skip
    assert "already connected" in page and "duplicate your events" in page
    assert _connected() == [("microsoft", "Calendar")]


def test_ews_a_team_calendar_beside_the_main_one(member_client, member, calendar, exchange, run_on_commit) -> None:
    connect_exchange(member_client, exchange, calendar, run_on_commit, name="twocals")
    exchange.state.add_folder("twocals@corp.example", "Team")
    team = events.calendar_create(owner=member, name="Team")
    connect_exchange(member_client, exchange, team, run_on_commit, name="twocals", folder="Team")
    assert _connected() == [("exchange", "Calendar"), ("exchange", "Team")]


def test_ews_the_same_calendar_twice_is_refused(member_client, member, calendar, exchange, run_on_commit) -> None:
    first = connect_exchange(member_client, exchange, calendar, run_on_commit, name="once")
    other = events.calendar_create(owner=member, name="Other")
    member_client.post(reverse("integrations:exchange_connect"), {
        "url": exchange.url, "domain": "CORP", "username": "once", "password": PASSWORD,
        "mailbox": "once@corp.example"})  # fmt: skip
    choice = {"remote": first.remote_calendar_id, "calendar": other.pk, **SETTINGS}
    page = member_client.post(reverse("integrations:exchange_choose"), choice).content.decode()
    assert "already connected" in page and "duplicate your events" in page
    assert _connected() == [("exchange", "Calendar")]


def _ews_choice(member_client, exchange, address: str, folder: str, calendar) -> str:  # type: ignore[no-untyped-def]
    login = {"url": exchange.url, "domain": "CORP", "username": address.split("@")[0], "password": PASSWORD,
             "mailbox": address}  # fmt: skip
    member_client.post(reverse("integrations:exchange_connect"), login)
    remote = next(f.id for f in exchange.state.mailboxes[address].folders.values() if f.name == folder)
    return member_client.post(reverse("integrations:exchange_choose"),
                              {"remote": remote, "calendar": calendar.pk, **SETTINGS}).content.decode()  # fmt: skip


def test_graph_then_ews_the_same_calendar_is_refused_another_is_not(member_client, member, calendar, exchange,
                                                                   microsoft, run_on_commit) -> None:  # fmt: skip
    """One mailbox, two roads to it: its main calendar over both would show every event twice."""
    address = _login(exchange, "both")
    exchange.state.add_folder(address, "Team")
    connect_microsoft(member_client, microsoft, address, calendar, run_on_commit)
    other = events.calendar_create(owner=member, name="Other")
    page = _ews_choice(member_client, exchange, address, "Calendar", other)
    assert f"The calendar “Calendar” of the mailbox {address} {TWICE} (to “Work”, through Microsoft 365" in page
    assert _connected() == [("microsoft", "Calendar")]
    with run_on_commit():
        _ews_choice(member_client, exchange, address, "Team", other)
    assert _connected() == [("exchange", "Team"), ("microsoft", "Calendar")]


def test_google_another_calendar_of_the_account_connects(member_client, member, calendar, google,
                                                        run_on_commit) -> None:  # fmt: skip
    email = "cals@example.com"
    connect_google(member_client, google, email, calendar, run_on_commit)
    team = events.calendar_create(owner=member, name="Team")
    sign_in(member_client, google, email)
    remote = f"team-{hashlib.sha256(email.encode()).hexdigest()[:12]}@group.calendar.google.com"
    form = {"remote": remote, "calendar": team.pk, "sync_enabled": "on", "direction": "both", "primary": "calsync",
            "automatic": "true", "error_email": "alerts@acme.test"}  # fmt: skip
    with run_on_commit():
        done = member_client.post(reverse("integrations:google_choose"), form)
    assert done.status_code == 302, done.content.decode()[:2000]
    assert sorted(Integration.objects.values_list("remote_calendar_id", flat=True)) == sorted([email, remote])
