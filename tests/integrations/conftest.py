from __future__ import annotations

import caldav
import pytest

from .outbound import Network, stub_network


@pytest.fixture
def network(monkeypatch, settings) -> Network:  # type: ignore[no-untyped-def]
    """Production's address rules with only 127.0.0.1 allowed, names resolved by a stub, every connect recorded
    and any off loopback refused (tests/integrations/outbound.py)."""
    return stub_network(monkeypatch, settings)


@pytest.fixture
def remote(caldav_server):  # type: ignore[no-untyped-def]
    """A fresh calendar on the server, and a plain caldav-library client for it (the 'other app')."""
    url = caldav_server.new_calendar("Work")
    client = caldav.DAVClient(url=caldav_server.base_url, username=caldav_server.username,
                              password=caldav_server.password)  # fmt: skip
    return caldav_server, url, client.calendar(url=url)
