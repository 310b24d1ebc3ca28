"""The outbound guard (integrations/addresses.py) against a hostile CalDAV server: hrefs and redirects into
calsync's own network, to another site, and a name that points elsewhere by the time calsync connects. Each
time no connection to the target is even attempted, the user is told why, and nothing is stored."""

from __future__ import annotations

import ipaddress
import re
import ssl
from urllib.parse import urljoin

import pytest
from django.urls import reverse

from integrations import addresses
from integrations.caldav.adapter import CalDAVSide
from integrations.caldav.client import CalDAVClient, ConnectError, RemoteCalendar
from integrations.caldav.services import caldav_connect, caldav_discover
from integrations.models import Integration
from sync import services as sync_services
from tests.tls import self_signed

from .outbound import INTERNAL, calendars_answer, start_hostile_server

pytestmark = pytest.mark.django_db

UNSPECIFIED = str(ipaddress.IPv4Address(0))  # "this host": a socket to it reaches calsync's own machine


@pytest.fixture(scope="module")
def hostile_server():  # type: ignore[no-untyped-def]
    server, stop = start_hostile_server()
    yield server
    stop()


@pytest.fixture
def dav(hostile_server, network):  # type: ignore[no-untyped-def]
    """The hostile server, reached as dav.example.test (127.0.0.1); inner.example.test is on the same site."""
    hostile_server.answers.clear()
    hostile_server.seen.clear()
    network.resolve("dav.example.test", "127.0.0.1")
    return hostile_server


def discover(dav) -> list:  # type: ignore[no-untyped-def]
    return caldav_discover(url=dav.url, username="alice", password="app-password")


def only_the_server_was_contacted(dav, network) -> None:  # type: ignore[no-untyped-def]
    assert set(network.connects) <= {("127.0.0.1", dav.port)}, network.connects
    assert all(host == f"dav.example.test:{dav.port}" for _, host, _ in dav.seen), dav.seen


def test_a_well_behaved_server_is_reached_at_the_address_the_guard_checked(dav, network) -> None:
    dav.home_at("/home/")
    dav.answers["/home/"] = (207, {}, calendars_answer("/home/work/"))
    calendars = discover(dav)
    assert [c.url for c in calendars] == [f"{dav.url}home/work/"]
    # One lookup per connection, through the guard's seam only, and the socket went to what it returned.
    assert set(network.lookups) == {"dav.example.test"} and network.connects
    only_the_server_was_contacted(dav, network)


@pytest.mark.parametrize("target", INTERNAL)
def test_a_calendar_home_on_a_same_site_name_inside_the_network_is_refused(dav, network, target) -> None:
    network.resolve("inner.example.test", target)
    dav.home_at(f"http://inner.example.test:{dav.port}/home/")
    with pytest.raises(ConnectError, match=r"cannot connect to inner\.example\.test: the address is inside its own"):
        discover(dav)
    assert "inner.example.test" in network.lookups
    only_the_server_was_contacted(dav, network)


@pytest.mark.parametrize("target", INTERNAL)
def test_a_redirect_into_the_network_is_refused(dav, network, target) -> None:
    network.resolve("inner.example.test", target)
    dav.redirect("/", f"http://inner.example.test:{dav.port}/")
    with pytest.raises(ConnectError, match="inside its own network"):
        discover(dav)
    only_the_server_was_contacted(dav, network)


@pytest.mark.parametrize("target", INTERNAL)
def test_hrefs_and_redirects_to_another_host_are_refused_before_any_lookup(dav, network, target) -> None:
    host = f"[{target}]" if ":" in target else target
    dav.home_at(f"http://{host}:{dav.port}/home/")
    with pytest.raises(ConnectError, match="not part of the same site"):
        discover(dav)
    dav.answers.clear()
    dav.redirect("/", f"http://{host}:{dav.port}/")
    with pytest.raises(ConnectError, match="not part of the same site"):
        discover(dav)
    assert set(network.lookups) == {"dav.example.test"}
    only_the_server_was_contacted(dav, network)


def test_calendar_hrefs_on_another_site_are_refused_when_used(dav, network) -> None:
    """Discovery lists what the server says; the first request to an href elsewhere is refused, so a stored
    calendar URL on another site never gets the password."""
    network.resolve("evil.example.org", "127.0.0.1")  # even a harmless address: it is not the user's server
    client = CalDAVClient(url=dav.url, username="alice", password="app-password")
    with pytest.raises(ConnectError, match=r"dav\.example\.test sent calsync on to evil\.example\.org"):
        client.propfind(f"http://evil.example.org:{dav.port}/home/work/", "<d:getetag/>", depth=1)
    assert network.connects == [] and "evil.example.org" not in network.lookups


@pytest.fixture(scope="module")
def tls_dav(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The hostile server over TLS, with a certificate for dav.example.test only; (server, CA file)."""
    cert, key = self_signed(tmp_path_factory.mktemp("tls"), names=("dav.example.test",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server, stop = start_hostile_server(context)
    yield server, str(cert)
    stop()


def test_the_certificate_is_still_checked_against_the_name_not_the_address(tls_dav, network) -> None:
    server, ca = tls_dav
    server.home_at("/home/")
    server.answers["/home/"] = (207, {}, calendars_answer("/home/work/"))
    network.resolve("dav.example.test", "127.0.0.1")
    network.resolve("other.example.test", "127.0.0.1")
    url = f"https://dav.example.test:{server.port}/"
    assert [c.name for c in CalDAVClient(url=url, username="a", password="b", verify=ca).calendars()] == ["Work"]
    other = CalDAVClient(url=url.replace("dav.", "other."), username="a", password="b", verify=ca)
    with pytest.raises(ConnectError, match="certificate could not be verified"):
        other.calendars()


def test_a_name_that_does_not_resolve_is_reported_as_unreachable(dav, network) -> None:
    with pytest.raises(ConnectError, match=r"Could not reach nowhere\.example\.test"):
        caldav_discover(url="http://nowhere.example.test/", username="alice", password="app-password")
    assert network.connects == []


def test_a_name_that_points_inside_the_network_by_the_time_calsync_connects_is_refused(dav, network) -> None:
    """DNS rebinding: public when the form checks it, private when the connection is made. The connection
    uses the second answer, checked, and never the first."""
    network.resolve("dav.example.test", "93.184.216.34", "10.0.0.5")
    addresses.check_public_address(dav.url)  # the first answer is public: accepted
    with pytest.raises(ConnectError, match="inside its own network"):
        discover(dav)
    assert network.connects == [] and dav.seen == []


def test_the_connect_page_says_why_and_stores_nothing(client, member, dav, network) -> None:
    network.resolve("inner.example.test", "100.100.100.200")
    dav.home_at(f"http://inner.example.test:{dav.port}/home/")
    client.force_login(member)
    form = {"url": dav.url, "username": "alice", "password": "app-password"}
    page = client.post(reverse("integrations:caldav_connect"), form).content.decode()
    assert "cannot connect to inner.example.test" in page and "app-password" not in page
    assert "caldav_pending" not in client.session and not Integration.objects.exists()
    only_the_server_was_contacted(dav, network)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [("8.8.8.8", True), ("2001:4860:4860::8888", True), ("100.64.0.1", False), ("100.127.255.254", False),
     ("224.0.0.251", False), ("::ffff:127.0.0.1", False), ("64:ff9b::7f00:1", False), (UNSPECIFIED, False),
     ("64:ff9b::808:808", True), ("2002:c0a8:101::1", False), ("2001:0:4136:e378:8000:63bf:f5ff:fffa", False),
     ("fd00::1", False), ("fe80::1", False)],
)  # fmt: skip
def test_only_global_addresses_are_allowed(settings, address, allowed) -> None:
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES, settings.OUTBOUND_ALLOWED_NETWORKS = False, []
    assert addresses.address_allowed(ipaddress.ip_address(address)) is allowed


def test_networks_the_operator_allows_and_development(settings) -> None:
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES, settings.OUTBOUND_ALLOWED_NETWORKS = False, ["10.20.0.0/16"]
    assert addresses.address_allowed(ipaddress.ip_address("10.20.1.2"))
    assert not addresses.address_allowed(ipaddress.ip_address("10.21.1.2"))
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = True  # development: everything, loopback included
    assert addresses.address_allowed(ipaddress.ip_address("127.0.0.1"))


@pytest.mark.parametrize(
    ("origin", "url", "same"),
    [("https://caldav.icloud.com/", "https://p52-caldav.icloud.com/123/calendars/", True),
     ("https://dav.example.co.uk/", "https://cal.example.co.uk/x/", True),
     ("https://dav.example.co.uk/", "https://dav.other.co.uk/x/", False),
     ("https://alice.github.io/", "https://bob.github.io/", False),  # a private suffix: two sites
     ("https://dav.example.com/", "http://dav.example.com/", False),  # no downgrade to plain http
     ("http://127.0.0.1:5232/", "http://127.0.0.1:5232/home/", True),
     ("http://127.0.0.1:5232/", "http://127.0.0.1:22/", False),  # an address: the same host and port only
     ("http://localhost:5232/", "http://localhost:5233/", False)],
)  # fmt: skip
def test_what_counts_as_the_same_site(origin, url, same) -> None:
    if same:
        addresses.require_same_site(origin, url)
    else:
        with pytest.raises(addresses.AddressRefused, match="not part of the same site"):
            addresses.require_same_site(origin, url)


@pytest.mark.parametrize(
    ("calendar_href", "moved_to", "reason"),
    [("/home/work/", "10.0.0.5", r"dav\.example\.test: the address is inside its own network"),
     ("http://evil.example.org:{port}/home/work/", None, "not part of the same site")],
)  # fmt: skip
def test_a_sync_that_would_leave_the_users_server_stops(member, calendar, dav, network, calendar_href, moved_to,
                                                        reason) -> None:  # fmt: skip
    """The name now points inside calsync's network, or the stored calendar URL is on another site."""
    remote = RemoteCalendar(url=urljoin(dav.url, calendar_href.format(port=dav.port)), name="Work")
    integration = caldav_connect(user=member, url=dav.url, username="alice", password="app-password",
                                 remote=remote, calendar=calendar, sync_enabled=True)  # fmt: skip
    network.resolve("evil.example.org", "127.0.0.1")
    if moved_to:
        network.resolve("dav.example.test", moved_to)
    run = sync_services.sync_execute(run_id=sync_services.sync_request(integration=integration, trigger="manual").pk)
    integration.refresh_from_db()
    assert run.status == "failed" and re.search(reason, run.error) and "Traceback" not in run.error
    assert integration.status == Integration.Status.ERROR and integration.last_error == run.error
    assert network.connects == [] and dav.seen == []


@pytest.mark.parametrize("href", ["//10.0.0.5/cal/evil.ics", "//evil.example.org/cal/evil.ics"])
def test_an_item_href_that_names_another_host_is_not_fetched(dav, network, href) -> None:
    """Item ids are the paths of the hrefs a sync-collection report lists; a path that starts with // would
    name another host once joined to the calendar's URL."""
    network.resolve("evil.example.org", "127.0.0.1")
    client = CalDAVClient(url=dav.url, username="alice", password="app-password")
    side = CalDAVSide(client=client, calendar_url=f"{dav.url}home/work/")
    with pytest.raises(ConnectError, match="not part of the same site"):
        side.get(href)
    assert network.connects == [] and dav.seen == []


def test_a_request_to_the_host_entered_needs_no_public_suffix_list() -> None:
    """The list is parsed only when a server sends calsync to another host (parsing costs each process time)."""
    addresses._suffixes.cache_clear()
    addresses.require_same_site("https://dav.example.com/", "https://DAV.example.com./calendars/work/")
    assert addresses._suffixes.cache_info().currsize == 0
    addresses.require_same_site("https://dav.example.com/", "https://cal.example.com/calendars/work/")
    assert addresses._suffixes.cache_info().currsize == 1


def test_a_requests_session_through_the_guarded_adapter_is_refused_inside_the_network(dav, network) -> None:
    """GuardedAdapter (exchangelib's sessions) is built when first asked for, and guards the same way."""
    import requests

    network.resolve("dav.example.test", "10.0.0.5")
    with requests.Session() as session:
        session.trust_env = False
        session.mount("http://", addresses.GuardedAdapter())
        with pytest.raises(addresses.AddressRefused, match="inside its own network"):
            session.get(dav.url, timeout=5)
    assert network.connects == [] and dav.seen == []
    assert addresses.GuardedAdapter is addresses.GuardedAdapter  # one class, not a new one on each use
