"""A queued sync whose integration was disconnected meanwhile (its run row deleted with it) ends quietly."""

from __future__ import annotations

import pytest

from sync import tasks
from sync.models import SyncRun

pytestmark = pytest.mark.django_db


def test_a_sync_whose_run_was_deleted_since_it_was_queued_ends_without_an_error(caplog) -> None:  # type: ignore[no-untyped-def]
    missing = (SyncRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    with caplog.at_level("INFO", logger="sync.tasks"):
        tasks.run_sync(missing)
    assert any(r.message == "sync skipped: its run is gone" for r in caplog.records)
