"""Fixtures the engine's tests share."""

from __future__ import annotations

import pytest

from sync.memory import MemorySide, MemoryStore


@pytest.fixture(params=[None, 2], ids=["lists", "streamed"])
def sides(request):  # type: ignore[no-untyped-def]
    """Two in-memory calendars and a status store; each test runs with whole listings and with streamed pages."""
    return MemorySide(page_size=request.param), MemorySide(page_size=request.param), MemoryStore()
