from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache():  # type: ignore[no-untyped-def]
    """Rows get the same ids again after a test's rollback: a cached answer must not outlive its test."""
    cache.clear()
    yield
    cache.clear()
