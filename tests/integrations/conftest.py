from __future__ import annotations

import pytest

from .outbound import Network, stub_network


@pytest.fixture
def network(monkeypatch, settings) -> Network:  # type: ignore[no-untyped-def]
    """Production's address rules with only 127.0.0.1 allowed, names resolved by a stub, every connect recorded
    and any off loopback refused (tests/integrations/outbound.py)."""
    return stub_network(monkeypatch, settings)
