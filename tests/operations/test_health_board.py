"""The health board: statuses, counts, filters, paging, a constant number of queries, and `manage.py health`."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations.models import ExchangeServer, GoogleWorkspace, Integration
from operations import health
from sync.models import UnsyncedItem

pytestmark = pytest.mark.django_db
BOARD = reverse("operations:health")


def _rows(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Email -> the text of that user's rows on the board page."""
    html = response.content.decode()
    rows = re.findall(r'<tr data-testid="health-row".*?</tr>', html, re.S)
    found: dict[str, str] = {}
    email = ""
    for row in rows:  # a user's first row names them; their other integrations' rows follow it
        named = re.search(r"[\w.+-]+@[\w.-]+\.test", row)
        email = named.group(0) if named else email
        found[email] = found.get(email, "") + re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))
    return found


def test_one_table_decides_the_status_in_python_and_in_the_database(tenant, member, connect) -> None:  # type: ignore[no-untyped-def]
    for status in Integration.Status.values:
        for enabled in (True, False):
            for waiting in (True, False):
                connect(member, status=status, sync_enabled=enabled, awaiting_confirmation=waiting)
    annotated = Integration.objects.annotate(board=health.board_status_sql())
    assert {(health.board_status(i), i.board) for i in annotated} == {(s, s) for s in health.BoardStatus.values}
    # A problem outranks the owner's pause: it is still there when they resume.
    paused_reauth = annotated.get(status="needs_reauth", sync_enabled=False, awaiting_confirmation=False)
    assert paused_reauth.board == "needs_reconnecting"
    assert annotated.get(status="ok", sync_enabled=False, awaiting_confirmation=True).board == "waiting"


def test_counts_per_status_and_users_without_integration(tenant, board_users, outsider, connect) -> None:  # type: ignore[no-untyped-def]
    connect(outsider, status="needs_reauth")  # another organisation's: never counted
    assert health.board_counts(tenant=tenant) == {
        "working": 1, "needs_reconnecting": 1, "stopped": 1, "error": 1, "waiting": 1, "paused": 1,
    }  # fmt: skip
    assert health.user_counts(tenant=tenant) == {"users": 7, "without_integration": 1}


def test_the_board_lists_every_user_with_status_last_sync_unsynced_and_error(admin_client_, board_users) -> None:  # type: ignore[no-untyped-def]
    ann = board_users["ann"].integrations.get()
    ann.last_synced_at = timezone.now().replace(year=2026, month=11, day=30, hour=9, minute=5)
    ann.save(update_fields=["last_synced_at"])
    for uid in ("a", "b", "c"):
        UnsyncedItem.objects.create(integration=ann, side="remote", uid=uid, reason="too big")
    rows = _rows(admin_client_.get(BOARD))
    assert set(rows) == {f"{n}@acme.test" for n in board_users} | {"admin@acme.test"}
    assert "Working" in rows["ann@acme.test"] and "30 Nov 2026" in rows["ann@acme.test"]
    assert re.search(r"Never 0 ", rows["ben@acme.test"]) and " 3 " in rows["ann@acme.test"]
    assert "Needs reconnecting" in rows["ben@acme.test"] and "invalid_grant" in rows["ben@acme.test"]
    assert "Stopped for safety" in rows["cat@acme.test"] and "Error" in rows["dan@acme.test"]
    assert "Waiting for the user to confirm" in rows["eve@acme.test"] and "Paused" in rows["fay@acme.test"]
    assert "No integration" in rows["gus@acme.test"]


def test_counts_and_organisation_wide_connections_at_the_top(admin_client_, tenant, board_users) -> None:  # type: ignore[no-untyped-def]
    GoogleWorkspace.objects.create(tenant=tenant, client_email="sa@acme.iam", key_encrypted="x", enabled=True,
                                   test_ok=True, tested_at=timezone.now())  # fmt: skip
    ExchangeServer.objects.create(tenant=tenant, ews_url="https://mail.acme.test/EWS/Exchange.asmx", username="svc",
                                  password_encrypted="x", sync_email="svc@acme.test", test_ok=False,
                                  tested_at=timezone.now(), test_message="401 Unauthorized")  # fmt: skip
    html = admin_client_.get(BOARD).content.decode()
    counts = re.search(r'data-testid="health-counts".*?</nav>', html, re.S).group(0)  # type: ignore[union-attr]
    assert "Needs reconnecting</span>: 1" in counts and "8 users" in counts and "No integration: 2" in counts
    connections = re.sub(r">\s+<", "><", re.search(r'data-testid="connections".*?</table>', html, re.S).group(0))  # type: ignore[union-attr]
    assert re.search(r"Google Workspace</td><td>Enabled</td><td>.*Passed", connections)
    assert re.search(r"Exchange server</td><td>Off</td><td>.*Failed.*401 Unauthorized", connections)
    assert "Microsoft 365</td>" not in connections


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "needs_reconnecting"}, {"ben"}),
        ({"status": "paused"}, {"fay"}),
        ({"status": "none"}, {"gus", "admin"}),
        ({"provider": "caldav"}, {"dan"}),
        ({"provider": "google", "status": "waiting"}, {"eve"}),
        ({"search": "FAY"}, {"fay"}),
        ({"search": "acme.test", "status": "error"}, {"dan"}),
        ({"status": "nonsense", "provider": "nope"}, {"ann", "ben", "cat", "dan", "eve", "fay", "gus", "admin"}),
    ],
)
def test_filters(admin_client_, board_users, query, expected) -> None:  # type: ignore[no-untyped-def]
    assert {email.split("@")[0] for email in _rows(admin_client_.get(BOARD, query))} == expected


def test_a_filter_lists_only_the_integrations_it_keeps(admin_client_, board_users, connect) -> None:  # type: ignore[no-untyped-def]
    connect(board_users["ben"], "caldav")  # ben also has a working CalDAV integration
    row = _rows(admin_client_.get(BOARD, {"status": "needs_reconnecting"}))["ben@acme.test"]
    assert "Google Calendar" in row and "CalDAV" not in row
    assert "CalDAV" in _rows(admin_client_.get(BOARD))["ben@acme.test"]


def test_paging_keeps_the_filters(admin_client_, connect, many_users) -> None:  # type: ignore[no-untyped-def]
    for user in many_users(health.USERS_PER_PAGE + 5):
        connect(user, status="error")
    first = admin_client_.get(BOARD, {"status": "error", "search": "p0"})
    assert len(_rows(first)) == health.USERS_PER_PAGE
    assert 'href="?status=error&amp;search=p0&page=2"' in first.content.decode()
    second = _rows(admin_client_.get(BOARD, {"status": "error", "search": "p0", "page": 2}))
    assert sorted(second) == [f"p{n:03}@acme.test" for n in range(health.USERS_PER_PAGE, health.USERS_PER_PAGE + 5)]


def _board_queries(client, query: dict[str, str]) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        assert client.get(BOARD, query).status_code == 200
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_organisation(admin_client_, connect, many_users) -> None:  # type: ignore[no-untyped-def]
    def grow(users: int, prefix: str) -> None:
        for user in many_users(users, prefix):
            for provider in ("google", "caldav", "microsoft"):
                item = connect(user, provider, status="needs_reauth" if provider == "google" else "ok")
                UnsyncedItem.objects.create(integration=item, side="remote", uid="u", reason="too big")

    grow(3, "a")
    small = {name: _board_queries(admin_client_, q) for name, q in
             (("all", {}), ("filtered", {"status": "needs_reconnecting", "search": "acme"}))}  # fmt: skip
    grow(health.USERS_PER_PAGE + 20, "b")  # more than a page, three integrations each
    large = {name: _board_queries(admin_client_, q) for name, q in
             (("all", {}), ("filtered", {"status": "needs_reconnecting", "search": "acme"}),
              ("page 2", {"page": "2"}))}  # fmt: skip
    assert large["all"] == small["all"] and large["filtered"] == small["filtered"] == large["page 2"]


def test_members_cannot_open_the_board(client, member, board_users) -> None:  # type: ignore[no-untyped-def]
    client.force_login(member)
    assert client.get(BOARD).status_code == 403


def _health(*args: str) -> dict:  # type: ignore[type-arg]
    out = io.StringIO()
    call_command("health", *args, stdout=out)
    return json.loads(out.getvalue())


def test_the_command_prints_the_same_rows_and_counts_as_json(tenant, board_users, outsider, connect) -> None:  # type: ignore[no-untyped-def]
    connect(outsider, status="needs_reauth")
    board = _health("--tenant", "acme", "--json")
    assert board["counts"] == {"working": 1, "needs_reconnecting": 1, "stopped": 1, "error": 1, "waiting": 1,
                               "paused": 1, "users": 7, "without_integration": 1}  # fmt: skip
    assert [u["email"] for u in board["users"]] == [f"{n}@acme.test" for n in sorted(board_users)]
    ben = board["users"][1]
    assert ben["name"] == "Ben" and len(ben["integrations"]) == 1
    assert ben["integrations"][0] | {"id": 0} == {
        "id": 0, "provider": "google", "calendar": ben["integrations"][0]["calendar"], "remote_calendar": "Remote 1",
        "status": "needs_reconnecting", "last_synced_at": None, "unsynced": 0,
        "last_error": "Google refused the access token (invalid_grant).", "reconnect_asked_at": None,
    }  # fmt: skip
    assert board["users"][-1]["integrations"] == []  # gus
    only = _health("--tenant", "acme", "--json", "--status", "stopped")
    assert [u["email"] for u in only["users"]] == ["cat@acme.test"] and only["filters"] == {"status": "stopped"}


def test_the_command_reads_all_users_in_chunks(tenant, connect, many_users) -> None:  # type: ignore[no-untyped-def]
    for user in many_users(7, "c"):
        connect(user)
    board = health.board_json(tenant=tenant, filters=health.BoardFilters(), chunk=3)
    assert [u["email"] for u in board["users"]] == [f"c{n:03}@acme.test" for n in range(7)]
    assert all(len(u["integrations"]) == 1 for u in board["users"])


def test_the_command_text_and_its_errors(tenant, board_users) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    call_command("health", "--tenant", "acme", stdout=out)
    assert "Needs reconnecting: 1" in out.getvalue() and "gus@acme.test\tno integration" in out.getvalue()
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        call_command("health", "--tenant", "nope")
    with pytest.raises(CommandError, match="Unknown status 'broken'"):
        call_command("health", "--tenant", "acme", "--status", "broken")
