"""The assignment rules pages: admins only, tenant-scoped, clear errors, preview before applying."""

from __future__ import annotations

import pytest
from django.test import Client as Client_
from django.urls import reverse

from business.models import AssignmentRule, Client, RuleRun
from business.rules.services import RuleSpec, rule_create
from events import services
from events.ical import Attendee
from events.models import Event
from tests.sync.items import event

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(tenant):  # type: ignore[no-untyped-def]
    return Client.objects.create(tenant=tenant, name="Acme")


def _rule(tenant, value: str, client) -> AssignmentRule:  # type: ignore[no-untyped-def]
    spec = RuleSpec(kind=AssignmentRule.Kind.ATTENDEE_DOMAIN, value=value, client=client)
    return rule_create(tenant=tenant, user=None, spec=spec)


def test_an_admin_adds_changes_orders_and_deletes_rules(admin_client_, tenant, admin_user, acme) -> None:
    services.calendar_create(owner=admin_user, name="Travel")
    blank = admin_client_.get(reverse("rules:create")).content.decode()
    assert "Travel (admin@acme.test)" in blank and ">Acme</option>" in blank
    form = {"kind": "attendee_domain", "value": "@Acme.Example", "client": acme.pk, "enabled": "on"}
    assert admin_client_.post(reverse("rules:create"), form).status_code == 302
    second = {"kind": "title_keyword", "value": "acme", "client": acme.pk, "enabled": "on"}
    assert admin_client_.post(reverse("rules:create"), second).status_code == 302
    first, keyword = AssignmentRule.objects.order_by("position")
    assert (first.value, first.position, keyword.position) == ("acme.example", 1, 2)

    page = admin_client_.get(reverse("rules:index")).content.decode()
    assert "An attendee&#x27;s email domain is acme.example → client Acme" in page

    admin_client_.post(reverse("rules:move", args=[keyword.pk]), {"direction": "up"})
    assert list(AssignmentRule.objects.order_by("position").values_list("kind", flat=True)) == [
        "title_keyword", "attendee_domain"]  # fmt: skip
    assert 'value="acme.example"' in admin_client_.get(reverse("rules:edit", args=[first.pk])).content.decode()
    admin_client_.post(reverse("rules:edit", args=[first.pk]), {**form, "value": "acme.test"})
    first.refresh_from_db()
    assert first.value == "acme.test"
    admin_client_.post(reverse("rules:delete", args=[first.pk]))
    assert not AssignmentRule.objects.filter(pk=first.pk).exists()


def test_a_rule_that_cannot_work_is_refused_with_a_reason(admin_client_, acme) -> None:
    answer = admin_client_.post(reverse("rules:create"), {"kind": "attendee_domain", "value": "ann@acme.example",
                                                          "client": acme.pk})  # fmt: skip
    assert answer.status_code == 200 and "Enter a domain such as acme.example" in answer.content.decode()
    answer = admin_client_.post(reverse("rules:create"), {"kind": "title_keyword", "value": "x"})
    assert "A rule must set a client, a project or an activity." in answer.content.decode()
    answer = admin_client_.post(reverse("rules:create"), {"kind": "nonsense", "value": "x", "client": acme.pk})
    assert answer.status_code == 200 and not AssignmentRule.objects.exists()


def test_members_and_other_organisations_are_kept_out(admin_client_, member, tenant, other_tenant, acme) -> None:
    member_client = Client_()
    member_client.force_login(member)
    mine = _rule(tenant, "acme.example", acme)
    theirs = _rule(other_tenant, "globex.example", Client.objects.create(tenant=other_tenant, name="Globex"))
    for url in (reverse("rules:index"), reverse("rules:create"), reverse("rules:edit", args=[mine.pk]),
                reverse("rules:rerun")):  # fmt: skip
        assert member_client.get(url).status_code == 403
    assert member_client.post(reverse("rules:delete", args=[mine.pk])).status_code == 403
    assert admin_client_.get(reverse("rules:edit", args=[theirs.pk])).status_code == 404
    assert admin_client_.post(reverse("rules:delete", args=[theirs.pk])).status_code == 404
    foreign_client = theirs.client_id
    answer = admin_client_.post(reverse("rules:create"), {"kind": "title_keyword", "value": "x",
                                                          "client": foreign_client})  # fmt: skip
    assert answer.status_code == 200 and AssignmentRule.objects.filter(tenant=tenant).count() == 1
    assert "Globex" not in admin_client_.get(reverse("rules:index")).content.decode()


def test_apply_to_past_events_previews_then_applies(admin_client_, tenant, admin_user, acme, run_on_commit) -> None:
    _rule(tenant, "acme.example", acme)
    calendar = services.calendar_create(owner=admin_user, name="Work")
    services.item_save(calendar=calendar, item=event("a@x", "Call", attendees=(Attendee(email="ann@acme.example"),)))
    dates = {"start": "2026-11-01", "end": "2026-11-30"}

    preview = admin_client_.get(reverse("rules:rerun"), dates).content.decode()
    assert "<strong>1</strong> of 1 event would change." in preview
    assert Event.objects.get(uid="a@x").client == ""
    with run_on_commit():
        assert admin_client_.post(reverse("rules:rerun"), dates).status_code == 302
    assert Event.objects.get(uid="a@x").client == "Acme"
    run = RuleRun.objects.get()
    assert (run.status, run.changed_count, run.created_by) == ("done", 1, admin_user)

    backwards = admin_client_.get(reverse("rules:rerun"), {"start": "2026-11-30", "end": "2026-11-01"})
    assert "The last day is before the first." in backwards.content.decode()
    too_long = admin_client_.get(reverse("rules:rerun"), {"start": "2020-01-01", "end": "2026-11-01"})
    assert "Choose at most 366 days" in too_long.content.decode()
    assert admin_client_.get(reverse("rules:rerun"), {"start": "soon", "end": "x"}).status_code == 200


def test_a_preview_too_big_to_wait_for_says_so(admin_client_, admin_user, monkeypatch) -> None:
    monkeypatch.setattr("business.rules.selectors.MAX_PREVIEW_EVENTS", 1)
    calendar = services.calendar_create(owner=admin_user, name="Work")
    for uid in ("a@x", "b@x"):
        services.item_save(calendar=calendar, item=event(uid, "Call"))
    answer = admin_client_.get(reverse("rules:rerun"), {"start": "2026-11-01", "end": "2026-11-30"}).content.decode()
    assert "2 events in these days, too many to preview at once (at most 1)" in answer
