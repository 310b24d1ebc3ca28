"""How a run's changes read on the pages that summarise it (the integration page, its poll, the logs): an undo's
re-creations ("restored") are changes too, not "no changes"."""

from __future__ import annotations

import pytest
from django.urls import reverse

from events import services as events
from events.models import Event
from sync import services
from tests.factories import CalendarFactory

from .items import event
from .test_services import connect, titles

pytestmark = pytest.mark.django_db


def test_an_undo_that_put_items_back_says_so_on_the_pages(client, member, calendar, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    other = CalendarFactory(owner=member, name="Personal")
    for i in range(6):
        events.item_save(calendar=calendar, item=event(f"s{i}@test", f"Shift {i}"))
    integration = connect(member, (calendar, other), run_on_commit)
    for copy in Event.objects.filter(calendar=other, parent=None):
        events.item_delete(event=copy)
    with run_on_commit():
        stopped = services.sync_request(integration=integration, trigger="manual")
    client.force_login(member)
    with run_on_commit():
        client.post(reverse("integrations:undo_run", args=[stopped.pk]), {})
    undo = integration.runs.get(trigger="undo")
    assert undo.status == "success" and titles(other) == [f"Shift {i}" for i in range(6)]

    said = "6 put back in the other calendar"
    assert undo.changes_text == said
    assert said in client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    polled = client.get(reverse("integrations:status", args=[integration.pk])).json()
    assert polled["last_run"]["changes"] == said
    assert said in client.get(reverse("integrations:logs", args=[integration.pk])).content.decode()
