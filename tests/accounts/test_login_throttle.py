"""Web sign-in throttling (django-axes): per email and address together, with a cool-off and a way to unlock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from dav.services import app_password_create
from tests.dav.conftest import Dav
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ATTACKER, OFFICE = "203.0.113.7", "198.51.100.20"


@pytest.fixture(autouse=True)
def _quick_hashing(settings):  # type: ignore[no-untyped-def]
    # Forty sign-ins per test: what is throttled matters here, not how the password is hashed.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _sign_in(address: str, email: str, password: str) -> object:
    return Client(REMOTE_ADDR=address).post(reverse("login"), {"username": email, "password": password})


def _fail(times: int, email: str = "member@acme.test", address: str = ATTACKER) -> list[int]:
    return [_sign_in(address, email, "not the password").status_code for _ in range(times)]


def test_thirty_wrong_passwords_are_throttled_with_a_message(member) -> None:  # type: ignore[no-untyped-def]
    limit = settings.AXES_FAILURE_LIMIT
    statuses = _fail(30)
    assert statuses[: limit - 1] == [200] * (limit - 1)
    assert statuses[limit - 1 :] == [429] * (30 - limit + 1)
    response = _sign_in(ATTACKER, "member@acme.test", "still not it")
    page = response.content.decode()  # type: ignore[attr-defined]
    assert response.status_code == 429 and response["Retry-After"] == "900"  # type: ignore[index]
    assert "Too many failed sign-ins for this email from your network" in page and "15 minutes" in page
    assert '<form method="post"' in page and "member@acme.test" in page
    # Locked out, the right password is not even checked from there.
    assert _sign_in(ATTACKER, "member@acme.test", PASSWORD).status_code == 429  # type: ignore[attr-defined]


def test_one_failure_short_of_the_limit_still_signs_in(member) -> None:  # type: ignore[no-untyped-def]
    _fail(settings.AXES_FAILURE_LIMIT - 1)
    response = _sign_in(ATTACKER, "Member@Acme.test", PASSWORD)
    assert response.status_code == 302  # type: ignore[attr-defined]


def test_the_email_counts_in_any_case(member) -> None:  # type: ignore[no-untyped-def]
    _fail(settings.AXES_FAILURE_LIMIT - 1, email="MEMBER@acme.test")
    assert _fail(1, email="member@ACME.test") == [429]


def test_right_password_from_another_client_still_works(member, admin_user) -> None:  # type: ignore[no-untyped-def]
    _fail(30)
    assert _sign_in(OFFICE, "member@acme.test", PASSWORD).status_code == 302  # type: ignore[attr-defined]
    # A colleague behind the attacker's address is not locked out either.
    assert _sign_in(ATTACKER, "admin@acme.test", PASSWORD).status_code == 302  # type: ignore[attr-defined]


def test_the_cool_off_ends_the_lockout(member) -> None:  # type: ignore[no-untyped-def]
    _fail(settings.AXES_FAILURE_LIMIT)
    assert _sign_in(ATTACKER, "member@acme.test", PASSWORD).status_code == 429  # type: ignore[attr-defined]
    # As if the cool-off had passed since the last failure.
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
        )
    assert _sign_in(ATTACKER, "member@acme.test", PASSWORD).status_code == 302  # type: ignore[attr-defined]


def test_the_cool_off_has_not_ended_a_second_early(member) -> None:  # type: ignore[no-untyped-def]
    _fail(settings.AXES_FAILURE_LIMIT)
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - settings.AXES_COOLOFF_TIME + timedelta(seconds=30)
        )
    assert _sign_in(ATTACKER, "member@acme.test", PASSWORD).status_code == 429  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "command, args",
    [("axes_reset_username", ["member@acme.test"]), ("axes_reset_ip_username", [ATTACKER, "member@acme.test"])],
)
def test_a_management_command_unlocks(member, command, args) -> None:  # type: ignore[no-untyped-def]
    _fail(settings.AXES_FAILURE_LIMIT)
    assert _sign_in(ATTACKER, "member@acme.test", PASSWORD).status_code == 429  # type: ignore[attr-defined]
    call_command(command, *args)
    assert _sign_in(ATTACKER, "member@acme.test", PASSWORD).status_code == 302  # type: ignore[attr-defined]


def test_a_successful_sign_in_clears_the_count(member) -> None:  # type: ignore[no-untyped-def]
    _fail(settings.AXES_FAILURE_LIMIT - 1)
    assert _sign_in(ATTACKER, "member@acme.test", PASSWORD).status_code == 302  # type: ignore[attr-defined]
    assert _fail(settings.AXES_FAILURE_LIMIT - 1) == [200] * (settings.AXES_FAILURE_LIMIT - 1)


def test_the_failed_password_is_not_kept(member, caplog) -> None:  # type: ignore[no-untyped-def]
    _sign_in(ATTACKER, "member@acme.test", "my-Secret-Guess-123")
    stored = " ".join(f"{a.get_data} {a.post_data}" for a in AccessAttempt.objects.all())
    assert AccessAttempt.objects.count() == 1 and "my-Secret-Guess-123" not in stored + caplog.text


def test_caldav_keeps_its_own_throttle_and_works_while_the_web_sign_in_is_locked(member) -> None:  # type: ignore[no-untyped-def]
    device = app_password_create(user=member, label="iPhone")
    _fail(settings.AXES_FAILURE_LIMIT)
    assert _sign_in(ATTACKER, "member@acme.test", PASSWORD).status_code == 429  # type: ignore[attr-defined]
    # CalDAV's Basic auth never goes through Django's authenticate(), so django-axes neither blocks nor counts it.
    dav = Dav(Client(REMOTE_ADDR=ATTACKER), device.username, device.secret)
    assert dav.propfind("/caldav/", depth="0").status_code == 207
    assert dav.propfind("/caldav/", auth=(device.username, "wrong")).status_code == 401
    assert AccessAttempt.objects.get().failures_since_start == settings.AXES_FAILURE_LIMIT + 1
