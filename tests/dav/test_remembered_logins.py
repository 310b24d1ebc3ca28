"""A verified CalDAV login is remembered for a minute, and forgotten the moment what it vouches for changes.

Clients send their app password with every request; remembering the verified login saves each request the
login's query. The throttle is still consulted first, the remembered login answers only for its own user's
address, and revoking the app password or changing its user (deactivated, renamed, new password) or tenant
takes effect on the very next request, in every worker (the cache is shared).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.services import user_update
from dav.services import app_password_create, app_password_revoke

from .conftest import Dav

pytestmark = pytest.mark.django_db


def _reads_the_login(dav: Dav) -> bool:
    with CaptureQueriesContext(connection) as queries:
        assert dav.propfind("/caldav/").status_code == 207
    return any("dav_apppassword" in q["sql"] for q in queries.captured_queries)


def test_a_clients_next_requests_skip_the_logins_query(dav) -> None:
    assert _reads_the_login(dav)
    assert not _reads_the_login(dav)


def test_a_revoked_app_password_is_refused_on_the_next_request(dav, app_password) -> None:
    _reads_the_login(dav)
    app_password_revoke(app_password=app_password.app_password)
    assert dav.propfind("/caldav/").status_code == 401


def test_another_app_password_of_the_user_is_remembered_apart(dav, member, app_password) -> None:
    other = app_password_create(user=member, label="Laptop")
    laptop = Dav(dav.client, other.username, other.secret)
    assert _reads_the_login(dav) and _reads_the_login(laptop)
    app_password_revoke(app_password=other.app_password)
    assert laptop.propfind("/caldav/").status_code == 401
    assert not _reads_the_login(dav)  # the phone's login was not touched


def test_a_deactivated_user_is_refused_on_the_next_request(dav, member) -> None:
    _reads_the_login(dav)
    user_update(user=member, role=member.role, can_setup_integrations=member.can_setup_integrations, is_active=False)
    assert dav.propfind("/caldav/").status_code == 401


def test_a_new_web_password_forgets_the_remembered_login(dav, member) -> None:
    _reads_the_login(dav)
    member.set_password("a-brand-new-password-9")
    member.save(update_fields=["password"])
    assert _reads_the_login(dav)


def test_a_renamed_user_signs_in_with_the_new_address_only(dav, member) -> None:
    _reads_the_login(dav)
    old = member.email
    member.email = "renamed@acme.test"
    member.save()
    assert dav.propfind("/caldav/", auth=(old, dav.password)).status_code == 401
    assert dav.propfind("/caldav/", auth=(member.email, dav.password)).status_code == 207


def test_a_tenant_rename_forgets_its_users_logins(dav, member) -> None:
    _reads_the_login(dav)
    member.tenant.name = "Acme Renamed"
    member.tenant.save()
    assert _reads_the_login(dav)


def test_saves_that_change_nothing_a_login_carries_keep_it(dav, member) -> None:
    _reads_the_login(dav)
    member.hidden_calendars = [12345]
    member.save(update_fields=["hidden_calendars"])
    assert not _reads_the_login(dav)


def test_a_remembered_login_answers_only_for_its_own_user(dav, admin_user) -> None:
    _reads_the_login(dav)
    assert dav.propfind("/caldav/", auth=(admin_user.email, dav.password)).status_code == 401


def test_a_remembered_login_does_not_get_past_the_throttle(app_password, settings) -> None:
    settings.DAV_MAX_FAILURES_PER_USER_AND_ADDRESS = 3
    device = Dav(Client(REMOTE_ADDR="203.0.113.7"), app_password.username, app_password.secret)
    assert device.propfind("/caldav/").status_code == 207
    wrong = [device.propfind("/caldav/", auth=(device.username, "aaaa-bbbb")).status_code for _ in range(3)]
    assert wrong == [401, 401, 401]
    assert device.propfind("/caldav/").status_code == 429
