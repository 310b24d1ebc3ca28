"""A refused Exchange login is explained with what the page showing it offers, never with a button it lacks."""

from __future__ import annotations

import html

import pytest
from django.test import Client
from django.urls import reverse

from integrations.exchange import services
from integrations.models import ExchangeServer, Integration
from tests.previews import confirm_first_sync

from .test_exchange import PASSWORD, _login, _organisation, connect

pytestmark = pytest.mark.django_db
REFUSED = "Exchange refused the username or password."


def _says(page: str, remedy: str) -> None:
    page = html.unescape(page)
    assert f"{REFUSED} {remedy}" in page
    assert "Use Update credentials" not in page


def test_the_connect_page_asks_to_check_and_test_again(member_client, exchange) -> None:
    address = _login(exchange, "dora")
    form = {"url": exchange.url, "domain": "CORP", "username": "dora", "password": "wrong", "mailbox": address}
    page = member_client.post(reverse("integrations:exchange_connect"), form).content.decode()
    _says(page, "Check the server, domain, username and password, then press Test Exchange Settings again.")
    assert "Test Exchange Settings</button>" in page


def test_the_update_credentials_page_asks_to_check_and_save_again(member_client, calendar, exchange,
                                                                  run_on_commit) -> None:  # fmt: skip
    integration = connect(member_client, exchange, calendar, run_on_commit, name="eve")
    url = reverse("integrations:exchange_credentials", args=[integration.pk])
    form = {"url": exchange.url, "domain": "CORP", "username": "eve", "password": "wrong"}
    page = member_client.post(url, form).content.decode()
    _says(page, "Check the server, domain, username and password, then press Check and save again.")
    assert "Check and save</button>" in page


@pytest.fixture
def sync_account(exchange):  # type: ignore[no-untyped-def]
    exchange.state.mailbox("calsync-sync@corp.example")
    exchange.state.mailbox("admin@corp.example")
    account = exchange.state.add_login("CORP\\calsync-sync", "sync-pass", "calsync-sync@corp.example")
    account.impersonation = True
    return account


def test_the_admin_exchange_page_asks_to_check_the_sync_account(admin_client_, exchange, sync_account) -> None:
    page = _organisation(admin_client_, exchange, password="nope")
    _says(page, "Check the sync account's username and password, then press Test Exchange Settings again.")
    assert "Test Exchange Settings</button>" in page


def test_a_user_of_the_organisation_account_is_sent_to_an_admin(admin_client_, exchange, sync_account,
                                                                member) -> None:  # fmt: skip
    exchange.state.mailbox("member@corp.example")
    assert "Works:" in _organisation(admin_client_, exchange)
    exchange.state.logins["corp\\calsync-sync"].password = "changed-at-the-server"
    client = Client()
    client.force_login(member)
    page = client.get(reverse("integrations:exchange_connect_organisation"), follow=True).content.decode()
    _says(page, services.ASK_ADMIN)
    assert ExchangeServer.objects.get().enabled


def test_the_integration_page_still_names_its_update_credentials_button(member_client, calendar, exchange,
                                                                        run_on_commit) -> None:  # fmt: skip
    from sync import services as sync_services

    integration = connect(member_client, exchange, calendar, run_on_commit, name="fay")
    exchange.state.logins["corp\\fay"].password = PASSWORD + "-new"
    run = sync_services.sync_execute(run_id=sync_services.sync_request(integration=integration, trigger="manual").pk)
    assert run.error == f"{REFUSED} Use Update credentials."
    page = member_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert "Update credentials</a>" in page


def test_a_calendar_reached_through_the_sync_account_sends_its_user_to_an_admin(
    admin_client_, exchange, sync_account, member, calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    from sync import services as sync_services

    from .test_exchange import SETTINGS

    box = exchange.state.mailbox("member@corp.example")
    assert "Works:" in _organisation(admin_client_, exchange)
    client = Client()
    client.force_login(member)
    client.get(reverse("integrations:exchange_connect_organisation"))
    folder = next(iter(box.folders.values()))
    with run_on_commit():
        client.post(reverse("integrations:exchange_choose"), {"remote": folder.id, "calendar": calendar.pk, **SETTINGS})
    integration = confirm_first_sync(client, Integration.objects.get(provider="exchange"), run_on_commit)
    exchange.state.logins["corp\\calsync-sync"].password = "changed-at-the-server"
    run = sync_services.sync_execute(run_id=sync_services.sync_request(integration=integration, trigger="manual").pk)
    assert run.error == f"{REFUSED} {services.ASK_ADMIN}"
    page = html.unescape(client.get(reverse("integrations:detail", args=[integration.pk])).content.decode())
    assert services.ASK_ADMIN in page and "Update credentials" not in page
