"""events/0006: the free-text client, project and activity of existing events become list entries, nothing lost.

Run through Django's MigrationExecutor: the database is taken back to events/0005 (names only), filled the way
calsync stored events then, and migrated forward."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("events", "0005_business_links")]
AFTER = [("events", "0006_business_lists_from_text")]
START = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture
def migrator() -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # the rest of the suite needs the whole schema back


def _apps(executor: MigrationExecutor, target: list[tuple[str, str]]) -> Any:
    """The models as the database has them at `target`: events there, and every other app at its latest applied
    migration (going back to events/0005 leaves accounts' later columns in place; the target's own state would
    not know them, and their NOT NULL columns would refuse the rows)."""
    executor.loader.build_graph()
    graph, applied = executor.loader.graph, set(executor.loader.applied_migrations)
    assert all(node in applied for node in target)
    latest = [n for n in applied if n in graph.nodes and not any(c in applied for c in graph.node_map[n].children)]
    return executor.loader.project_state([*target, *(n for n in latest if n[0] != target[0][0])]).apps


class _Old:
    """Rows as calsync stored them before the lists: names only."""

    def __init__(self, apps: Any, slug: str) -> None:
        self.Event = apps.get_model("events", "Event")
        self.tenant = apps.get_model("accounts", "Tenant").objects.create(slug=slug, name=slug)
        owner = apps.get_model("accounts", "User").objects.create(
            tenant=self.tenant, email=f"owner@{slug}.test", username=f"owner@{slug}.test"
        )
        self.calendar = apps.get_model("events", "Calendar").objects.create(
            tenant=self.tenant, owner=owner, name="Work"
        )
        self.count = 0

    def event(self, client: str = "", project: str = "", activity: str = "", parent: Any = None) -> Any:
        self.count += 1
        start = START + timedelta(days=self.count)
        return self.Event.objects.create(
            tenant=self.tenant, calendar=self.calendar, uid=parent.uid if parent else f"e{self.count}",
            name=f"e{self.count}.ics", parent=parent, recurrence_id=start if parent else None, start=start,
            end=start + timedelta(hours=1), title=f"Event {self.count}", client=client, project=project,
            activity_type=activity, rrule="" if parent else "FREQ=DAILY",
        )  # fmt: skip


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def test_free_text_becomes_list_entries_without_loss(migrator):
    old = _Old(_apps(migrator, BEFORE), "acme")
    elsewhere = _Old(_apps(migrator, BEFORE), "globex")
    site = old.event("Acme Corp", "Website", "Design")
    spelled_otherwise = old.event("  acme   CORP ", "website", "design")
    same_project_other_client = old.event("Globex", "Website")
    override = old.event("Globex", "", "Support", parent=site)  # an overridden occurrence with names of its own
    internal = old.event("", "Hiring", "")
    only_activity = old.event("", "", "Travel")
    nothing = old.event()
    theirs = elsewhere.event("Acme Corp", "Website")
    written = {e.pk: (e.client, e.project, e.activity_type) for e in old.Event.objects.all()}

    migrator.loader.build_graph()
    migrator.migrate(AFTER)
    apps = _apps(migrator, AFTER)
    Event, Client, Project, Activity = (apps.get_model(*n) for n in (
        ("events", "Event"), ("business", "Client"), ("business", "Project"), ("business", "Activity")))  # fmt: skip
    rows = {e.pk: e for e in Event.objects.all()}

    # Two spellings of one name are one entry, in each tenant its own.
    acme = Client.objects.get(tenant_id=old.tenant.pk, name__iexact="acme corp")
    assert rows[site.pk].client_ref_id == rows[spelled_otherwise.pk].client_ref_id == acme.pk
    assert Client.objects.filter(tenant_id=old.tenant.pk).count() == 2
    assert rows[theirs.pk].client_ref.tenant_id == elsewhere.tenant.pk != old.tenant.pk
    # The same project name under two clients is two projects; without a client it is an internal one.
    websites = Project.objects.filter(tenant_id=old.tenant.pk, name__iexact="website")
    assert {p.client.name for p in websites} == {acme.name, "Globex"}
    assert rows[site.pk].project_ref_id == rows[spelled_otherwise.pk].project_ref_id
    assert rows[same_project_other_client.pk].project_ref.client.name == "Globex"
    assert rows[internal.pk].project_ref.client_id is None and rows[internal.pk].client_ref_id is None
    # An override keeps its own names, linked apart from its series.
    assert (rows[override.pk].client_ref.name, rows[override.pk].activity_ref.name) == ("Globex", "Support")
    assert rows[override.pk].project_ref_id is None
    assert Activity.objects.filter(tenant_id=old.tenant.pk).count() == 3  # Design, Support, Travel
    assert rows[only_activity.pk].activity_ref.name == "Travel" and rows[only_activity.pk].client_ref_id is None
    assert (rows[nothing.pk].client_ref_id, rows[nothing.pk].project_ref_id, rows[nothing.pk].activity_ref_id) == (
        None, None, None)  # fmt: skip
    # No name is lost: each row still carries what it had (spelled as its entry), and links to an entry of it.
    for pk, names in written.items():
        row = rows[pk]
        carried = (row.client, row.project, row.activity_type)
        assert tuple(map(_key, carried)) == tuple(map(_key, names))
        for name, ref in zip(carried, (row.client_ref, row.project_ref, row.activity_ref), strict=True):
            assert (ref.name if ref else "") == name
