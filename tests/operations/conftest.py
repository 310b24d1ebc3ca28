"""Organisations with users and integrations in every state the health board tells apart."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from integrations.models import Integration
from tests.factories import CalendarFactory


@pytest.fixture
def connect():  # type: ignore[no-untyped-def]
    """connect(user, provider="google", **fields): an integration of the user's own new calendar, as it stands."""
    made = iter(range(10_000))

    def make(user, provider: str = "google", **fields: Any) -> Integration:  # type: ignore[no-untyped-def]
        n = next(made)
        calendar = CalendarFactory(owner=user, tenant=user.tenant, name=f"Work {n}")
        return Integration.objects.create(tenant=user.tenant, user=user, provider=provider, calendar=calendar,
                                          remote_calendar_id=f"remote-{n}", remote_calendar_name=f"Remote {n}",
                                          **fields)  # fmt: skip

    return make


@pytest.fixture
def board_users(tenant, connect):  # type: ignore[no-untyped-def]
    """One user per board status (and one without any integration), named after it."""
    names = ("ann", "ben", "cat", "dan", "eve", "fay", "gus")
    people = dict(zip(names, User.objects.bulk_create(
        User(tenant=tenant, email=f"{n}@acme.test", username=f"{n}@acme.test", first_name=n.title()) for n in names
    ), strict=True))  # fmt: skip
    connect(people["ann"])
    connect(people["ben"], status="needs_reauth", last_error="Google refused the access token (invalid_grant).")
    connect(people["cat"], "microsoft", status="stopped", last_error="Stopped: 120 deletions at once.")
    connect(people["dan"], "caldav", status="error", last_error="The server answered 500.")
    connect(people["eve"], awaiting_confirmation=True)
    connect(people["fay"], "exchange", sync_enabled=False)
    return people


@pytest.fixture
def many_users(tenant):  # type: ignore[no-untyped-def]
    """many_users(n, prefix): n users named <prefix><n:03>@acme.test, created at once (no password to hash)."""

    def make(n: int, prefix: str = "p") -> list[User]:
        return User.objects.bulk_create(
            User(tenant=tenant, email=f"{prefix}{k:03}@acme.test", username=f"{prefix}{k:03}@acme.test")
            for k in range(n)
        )

    return make
