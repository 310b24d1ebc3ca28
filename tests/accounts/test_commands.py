"""Operator commands: JSON output, passwords never on the command line, tenant scoping."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Tenant, User

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_and_user_print_json(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    tenant = json.loads(run("create_tenant", "--slug", "initech", "--name", "Initech", "--timezone", "America/Chicago",
                            "--json"))  # fmt: skip
    assert tenant["slug"] == "initech" and tenant["timezone"] == "America/Chicago"
    monkeypatch.setenv("NEW_PASSWORD", "a sturdy passphrase 42")
    user = json.loads(run("create_user", "--tenant", "initech", "--email", "Peter@Initech.test", "--role", "admin",
                          "--password-env", "NEW_PASSWORD", "--json"))  # fmt: skip
    assert user == {
        "id": user["id"], "email": "peter@initech.test", "tenant": "initech", "role": "admin",
        "can_setup_integrations": True, "is_active": True, "timezone": "America/Chicago",
    }  # fmt: skip
    assert User.objects.get(email="peter@initech.test").check_password("a sturdy passphrase 42")
    assert "a sturdy passphrase" not in json.dumps(user)


def test_password_from_stdin(tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stdin", io.StringIO("another sturdy passphrase\n"))
    run("create_user", "--tenant", "acme", "--email", "x@acme.test", "--password-stdin")
    assert User.objects.get(email="x@acme.test").check_password("another sturdy passphrase")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create_user", "--tenant", "nope", "--email", "a@b.test", "--password-env", "PW"], "No tenant with slug"),
        (["create_user", "--tenant", "acme", "--email", "a@b.test", "--password-env", "UNSET_VAR"], "is not set"),
        (["create_user", "--tenant", "acme", "--email", "member@acme.test", "--password-env", "PW"], "already exists"),
        (["create_user", "--tenant", "acme", "--email", "a@b.test", "--password-env", "WEAK"], "too short"),
        (["create_tenant", "--slug", "acme", "--name", "Again"], "already exists"),
        (["create_tenant", "--slug", "new", "--name", "X", "--timezone", "Nowhere/City"], "not a known time zone"),
        (["list_users", "--tenant", "nope"], "No tenant with slug"),
    ],
)
def test_bad_input_is_a_clear_error(monkeypatch, member, args, message) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PW", "a sturdy passphrase 42")
    monkeypatch.setenv("WEAK", "abc")
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_list_users_shows_only_that_tenants_users(member, outsider) -> None:  # type: ignore[no-untyped-def]
    users = json.loads(run("list_users", "--tenant", "acme", "--json"))
    assert [u["email"] for u in users] == ["member@acme.test"]
    assert "globex" not in run("list_users", "--tenant", "acme")
    tenants = json.loads(run("list_tenants", "--json"))
    assert {t["slug"] for t in tenants} == {"acme", "globex"}


def test_seed_demo_is_idempotent_and_prints_working_credentials(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.VAR_DIR = tmp_path
    first = json.loads(run("seed_demo", "--json"))
    second = json.loads(run("seed_demo", "--json"))
    assert first == second
    assert Tenant.objects.filter(slug="demo").count() == 1
    for entry in first["users"]:
        user = User.objects.get(email=entry["email"])
        assert user.check_password(entry["password"]) and user.role == entry["role"]
    assert (tmp_path / "demo-credentials.json").stat().st_mode & 0o077 == 0


def test_every_command_has_help() -> None:
    for name in ("create_tenant", "create_user", "list_tenants", "list_users", "seed_demo"):
        with pytest.raises(SystemExit) as exit_info:
            call_command(name, "--help", stdout=io.StringIO())
        assert exit_info.value.code == 0
