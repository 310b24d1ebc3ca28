"""Picking an event's client, project and activity by type-ahead, in a real browser."""

from __future__ import annotations

import re

import pytest

from business.models import Activity, Client, Project
from events.models import Event
from tests.factories import PASSWORD

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _options(page, kind: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(f"#pick-{kind} option", "els => els.map(o => [o.value, o.label])")


def _offered(page, kind: str, *values: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until the picker offers exactly these names (what the text typed last asked for)."""
    page.wait_for_function(
        "([kind, wanted]) => JSON.stringify(Array.from(document.querySelectorAll('#pick-' + kind + ' option'),"
        " o => o.value)) === JSON.stringify(wanted)",
        arg=[kind, list(values)],
    )


@pytest.fixture
def lists(member):  # type: ignore[no-untyped-def]
    tenant = member.tenant
    acme = Client.objects.create(tenant=tenant, name="Acme")
    globex = Client.objects.create(tenant=tenant, name="Globex")
    Client.objects.create(tenant=tenant, name="Acme Retired", archived_at="2026-01-01T00:00:00Z")
    website = Project.objects.create(tenant=tenant, name="Website", client=acme)
    Project.objects.create(tenant=tenant, name="Website", client=globex)
    Project.objects.create(tenant=tenant, name="Mobile app", client=acme)
    Activity.objects.create(tenant=tenant, name="Design")
    return acme, website


def _new_event(page, member, day: str, title: str, start: str, end: str) -> None:  # type: ignore[no-untyped-def]
    """Signed in, on the event form for `day`, with the title and times filled in."""
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto(f"/events/new/?date={day}")
    page.fill("input[name=title]", title)
    page.fill("input[name=start_time]", start)
    page.fill("input[name=end_date]", day)
    page.fill("input[name=end_time]", end)


def test_client_and_project_are_picked_by_type_ahead(page, member, lists, screenshot) -> None:  # type: ignore[no-untyped-def]
    acme, website = lists
    _new_event(page, member, "2026-11-23", "Homepage review", "10:00", "11:00")

    client = page.locator("input[name=client]")
    client.press_sequentially("ac", delay=50)
    _offered(page, "clients", "Acme")  # not Globex, nor the archived "Acme Retired"
    client.fill("Acme")
    client.dispatch_event("change")

    project = page.locator("input[name=project]")
    project.press_sequentially("web", delay=50)
    _offered(page, "projects", "Website")
    assert _options(page, "projects") == [["Website", "Acme"]]  # Globex's website is not Acme's
    project.fill("Website")
    activity = page.locator("input[name=activity_type]")
    activity.press_sequentially("des", delay=50)
    _offered(page, "activities", "Design")
    activity.fill("Design")
    screenshot("picked")
    page.click("main button[type=submit]")
    page.wait_for_selector(".flash.success")

    event = Event.objects.get(title="Homepage review")
    assert (event.client_ref_id, event.project_ref_id, event.activity_ref.name) == (acme.pk, website.pk, "Design")
    assert (event.client, event.project, event.activity_type) == ("Acme", "Website", "Design")


def test_a_project_picked_first_brings_its_client(page, member, lists) -> None:  # type: ignore[no-untyped-def]
    acme, _ = lists
    _new_event(page, member, "2026-11-24", "App sprint", "09:00", "12:00")

    project = page.locator("input[name=project]")
    project.press_sequentially("mob", delay=50)
    _offered(page, "projects", "Mobile app")
    project.fill("Mobile app")
    project.dispatch_event("change")
    assert page.locator("input[name=client]").input_value() == "Acme"
    page.click("main button[type=submit]")
    page.wait_for_selector(".flash.success")

    event = Event.objects.get(title="App sprint")
    assert (event.client_ref_id, event.project_ref.name) == (acme.pk, "Mobile app")
    assert event.project_ref.client_id == acme.pk
