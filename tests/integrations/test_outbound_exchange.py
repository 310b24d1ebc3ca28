"""Every path by which calsync reaches an Exchange server goes through the outbound guard: the connect form,
each sync, the organisation's page and its "Test Exchange Settings". The EWS emulator listens on 127.0.0.1 and
is reached as mail.corp.test; moving that name into calsync's network must stop each path before it connects."""

from __future__ import annotations

import pytest
from django.urls import reverse
from exchangelib.protocol import close_connections

from integrations.exchange.client import CONNECTIONS_PER_LOGIN, Server
from integrations.exchange.services import RETRY_CONNECT, ExchangeConnectError, calendars_for
from integrations.models import ExchangeServer, Integration
from sync import services as sync_services
from sync.models import SyncRun
from tests.previews import confirm_first_sync

from .test_exchange import PASSWORD, SETTINGS, _login

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail(exchange, network):  # type: ignore[no-untyped-def]
    """The emulator's EWS address by name; the name resolves to the emulator until a test moves it."""
    network.resolve("mail.corp.test", "127.0.0.1")
    close_connections()  # no connection kept from another test: each request here makes its own
    yield exchange.url.replace("127.0.0.1", "mail.corp.test")
    close_connections()


def moved_inside(network, address: str = "10.0.0.5") -> None:  # type: ignore[no-untyped-def]
    network.resolve("mail.corp.test", address)
    network.connects.clear()
    close_connections()


def test_a_sync_stops_when_the_server_name_now_points_inside(member_client, calendar, exchange, network, mail,
                                                            run_on_commit) -> None:  # fmt: skip
    address = _login(exchange, "ann")
    form = {"url": mail, "domain": "corp", "username": "ann", "password": PASSWORD, "mailbox": address}
    assert member_client.post(reverse("integrations:exchange_connect"), form).status_code == 302
    remote = next(iter(exchange.state.mailboxes[address].folders.values())).id
    with run_on_commit():
        member_client.post(reverse("integrations:exchange_choose"), {"remote": remote, "calendar": calendar.pk,
                                                                     **SETTINGS})  # fmt: skip
    integration = confirm_first_sync(member_client, Integration.objects.get(provider="exchange"), run_on_commit)
    assert integration.runs.get().status == SyncRun.Status.SUCCESS
    moved_inside(network, "100.100.100.200")
    with run_on_commit():
        run = sync_services.sync_request(integration=integration, trigger="manual")
    run.refresh_from_db()
    integration.refresh_from_db()
    assert run.status == "failed" and "mail.corp.test: the address is inside its own network" in run.error
    assert integration.status == Integration.Status.ERROR and network.connects == []


def test_the_connect_form_refuses_a_server_inside_and_stores_nothing(member_client, exchange, network,
                                                                     mail) -> None:  # fmt: skip
    address = _login(exchange, "bea")
    moved_inside(network, "192.168.1.1")
    form = {"url": mail, "domain": "corp", "username": "bea", "password": PASSWORD, "mailbox": address}
    page = member_client.post(reverse("integrations:exchange_connect"), form).content.decode()
    assert "mail.corp.test: the address is inside its own network" in page and PASSWORD not in page
    assert "exchange_pending" not in member_client.session and not Integration.objects.exists()
    assert network.connects == []


def test_the_organisation_page_refuses_inside_and_its_test_rechecks(admin_client_, exchange, network, mail,
                                                                    sync_account) -> None:  # fmt: skip
    form = {"url": mail, "domain": "CORP", "username": "calsync-sync", "password": "sync-pass",
            "sync_email": "calsync-sync@corp.example", "access": "impersonation", "enabled": "on",
            "aliases": "corp.example"}  # fmt: skip
    url = reverse("integrations:exchange_organisation")
    moved_inside(network, "169.254.169.254")
    page = admin_client_.post(url, {**form, "save": "1"}).content.decode()
    assert "mail.corp.test: the address is inside its own network" in page and not ExchangeServer.objects.exists()
    # Public when saved, inside calsync's network when tested (DNS rebinding): the test connects to nothing.
    network.resolve("mail.corp.test", "93.184.216.34", "10.0.0.5")
    admin_client_.post(url, {**form, "test": "1"})
    organisation = ExchangeServer.objects.get()
    assert not organisation.test_ok and "inside its own network" in organisation.test_message
    assert network.connects == []


@pytest.fixture
def sync_account(exchange):  # type: ignore[no-untyped-def]
    exchange.state.mailbox("calsync-sync@corp.example")
    exchange.state.mailbox("admin@corp.example")
    return exchange.state.add_login("CORP\\calsync-sync", "sync-pass", "calsync-sync@corp.example")


def test_refusals_do_not_use_up_exchangelibs_connections(exchange, network, mail) -> None:
    """exchangelib blocks when its connection pool is empty: a refusal must give its connection back."""
    moved_inside(network)
    server = Server(mail, "someone", PASSWORD, "CORP")
    for _ in range(CONNECTIONS_PER_LOGIN * 3):
        with pytest.raises(ExchangeConnectError, match="inside its own network"):
            calendars_for(server, "someone@corp.example", refused=RETRY_CONNECT)
    assert network.connects == []
