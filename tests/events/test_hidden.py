"""events.hidden: which fields an app's write-back keeps from the stored version, component by component."""

from __future__ import annotations

from dataclasses import replace

from events.hidden import hidden_fields_kept
from events.ical import Item
from tests.sync.items import series

STORED = series("s@x", "Weekly")
STORED = Item(
    master=replace(STORED.master, client="Acme", project="Launch", busy_status="TENTATIVE", event_type="focusTime"),
    overrides=tuple(replace(o, client="Other", busy_status="OOF") for o in STORED.overrides),
)


def test_a_write_without_them_keeps_each_components_own() -> None:
    bare = series("s@x", "Weekly (renamed)")
    kept = hidden_fields_kept(stored=STORED, incoming=bare)
    assert kept.master.summary == "Weekly (renamed)"
    assert (kept.master.client, kept.master.project, kept.master.busy_status, kept.master.event_type) == (
        "Acme", "Launch", "TENTATIVE", "focusTime",
    )  # fmt: skip
    assert [(o.client, o.busy_status) for o in kept.overrides] == [("Other", "OOF")]


def test_a_write_with_one_business_field_is_taken_as_it_is() -> None:
    incoming = series("s@x")
    incoming = replace(incoming, master=replace(incoming.master, client="Acme"))
    kept = hidden_fields_kept(stored=STORED, incoming=incoming)
    assert (kept.master.client, kept.master.project) == ("Acme", "")


def test_free_time_ends_a_busy_status_and_a_new_occurrence_or_item_keeps_nothing() -> None:
    incoming = series("s@x")
    incoming = replace(incoming, master=replace(incoming.master, transparency="TRANSPARENT"))
    assert hidden_fields_kept(stored=STORED, incoming=incoming).master.busy_status == ""
    assert hidden_fields_kept(stored=None, incoming=incoming) is incoming
    moved_elsewhere = replace(incoming, overrides=(replace(incoming.overrides[0], recurrence_id=incoming.master.end),))
    assert hidden_fields_kept(stored=STORED, incoming=moved_elsewhere).overrides[0].client == ""
