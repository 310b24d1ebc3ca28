"""The CalDAV login throttle slows guessing without locking the rightful owner out.

Failures count per client address and per (user, address). A pair that has been failing is refused, even
with the right password, until the window passes; an address failing for many users is refused for users
who have not signed in from it lately, while the devices of those who have (colleagues behind one NAT)
keep working; failures elsewhere never refuse a user's devices.
"""

from __future__ import annotations

import logging
import time

import pytest
from django.test import Client

from dav.services import app_password_create

from .conftest import Dav

ATTACKER, PHONE, OFFICE = "203.0.113.7", "198.51.100.9", "192.0.2.44"


@pytest.fixture(autouse=True)
def _small_limits(settings):  # type: ignore[no-untyped-def]
    settings.DAV_MAX_FAILURES_PER_USER_AND_ADDRESS, settings.DAV_MAX_FAILURES_PER_ADDRESS = 3, 5


def _from(address: str, app_password) -> Dav:  # type: ignore[no-untyped-def]
    return Dav(Client(REMOTE_ADDR=address), app_password.username, app_password.secret)


def _wrong(dav: Dav, times: int, username: str | None = None) -> list[int]:
    return [dav.propfind("/caldav/", auth=(username or dav.username, "aaaa-bbbb")).status_code for _ in range(times)]


def test_one_failure_short_of_the_limit_the_right_password_works(app_password) -> None:  # type: ignore[no-untyped-def]
    device = _from(ATTACKER, app_password)
    assert _wrong(device, 2) == [401, 401]
    assert device.propfind("/caldav/").status_code == 207
    # A success clears the pair's count: the next mistakes start again from zero.
    assert _wrong(device, 2) == [401, 401]


def test_at_the_limit_the_failing_pair_is_refused_even_with_the_right_password(app_password, caplog) -> None:  # type: ignore[no-untyped-def]
    device = _from(ATTACKER, app_password)
    assert _wrong(device, 3) == [401, 401, 401]
    with caplog.at_level(logging.WARNING, logger="dav.services"):
        refused = device.propfind("/caldav/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) == 900
    assert "caldav login throttled" in caplog.text and app_password.secret not in caplog.text


def test_the_owners_other_devices_are_not_blocked_by_an_attacker_elsewhere(app_password) -> None:  # type: ignore[no-untyped-def]
    _wrong(_from(ATTACKER, app_password), 30)
    assert _from(PHONE, app_password).propfind("/caldav/").status_code == 207
    assert _from(OFFICE, app_password).propfind("/caldav/").status_code == 207


def test_an_address_failing_for_many_users_is_slowed_at_its_limit(app_password) -> None:  # type: ignore[no-untyped-def]
    sprayer = _from(ATTACKER, app_password)
    assert [_wrong(sprayer, 1, f"guess{n}@example.test")[0] for n in range(4)] == [401] * 4
    assert _wrong(sprayer, 1, "guess4@example.test") == [401]  # the fifth is still checked
    assert _wrong(sprayer, 1, "guess5@example.test") == [429]
    # A user who never signed in from there waits too, with the right password: nothing tells guesses apart.
    assert sprayer.propfind("/caldav/").status_code == 429


def test_colleagues_behind_the_same_address_keep_working(member, admin_user, app_password) -> None:  # type: ignore[no-untyped-def]
    mine = _from(OFFICE, app_password)
    colleague = _from(OFFICE, app_password_create(user=admin_user, label="Mac"))
    assert mine.propfind("/caldav/").status_code == 207 and colleague.propfind("/caldav/").status_code == 207
    attacker_on_the_wifi = _from(OFFICE, app_password)
    assert [_wrong(attacker_on_the_wifi, 1, f"guess{n}@example.test")[0] for n in range(8)][-1] == 429
    assert mine.propfind("/caldav/").status_code == 207
    assert colleague.propfind("/caldav/").status_code == 207


def test_after_the_window_the_right_password_from_the_failing_address_is_accepted(app_password, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DAV_FAILURE_WINDOW_SECONDS = 3
    device = _from(ATTACKER, app_password)
    _wrong(device, 3)  # the pair at its limit, and with two more guesses the address at its own
    assert [_wrong(device, 1, f"guess{n}@example.test")[0] for n in range(2)] == [401, 401]
    assert device.propfind("/caldav/").status_code == 429
    time.sleep(3.5)  # the counters expire in the cache (Redis under CI), which no fake clock reaches
    assert device.propfind("/caldav/").status_code == 207
