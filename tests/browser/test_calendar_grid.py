"""The calendar grid (/calendar/, FullCalendar) in a real Chromium at desktop and phone sizes: create by dragging,
move and resize, a change refused because a sync got there first, a month with many events, and creating an
event with the keyboard alone. Screenshots go to $CALSYNC_VAR_DIR/screenshots (else the test's tmp dir)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from business.models import Activity
from business.models import Client as BusinessClient
from events import services
from events.ical import Component, Item
from events.models import Event
from tests.factories import PASSWORD

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
BERLIN = ZoneInfo("Europe/Berlin")
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}


@pytest.fixture
def page(browser, live_server, csp_violations):  # type: ignore[no-untyped-def]
    """conftest's page, in a British locale so that typed dates and times read day-month-year and 24-hour."""
    context = browser.new_context(base_url=live_server.url, timezone_id="Europe/Berlin", locale="en-GB")
    page = context.new_page()
    page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert not csp_violations, f"The Content-Security-Policy was violated: {csp_violations}"


@pytest.fixture
def shots(page, request, tmp_path):  # type: ignore[no-untyped-def]
    folder = Path(os.environ["CALSYNC_VAR_DIR"]) / "screenshots" if os.environ.get("CALSYNC_VAR_DIR") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = folder / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def _save(calendar, title: str, start: datetime, minutes: int = 60, **fields) -> Event:  # type: ignore[no-untyped-def]
    component = Component(uid=services.new_uid(), summary=title, start=start, end=start + timedelta(minutes=minutes),
                          **fields)  # fmt: skip
    return services.item_save(calendar=calendar, item=Item(master=component)).event


@pytest.fixture(autouse=True)
def script_errors(page):  # type: ignore[no-untyped-def]
    """The grid's page raises no script error and logs none, whatever the test did."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not _favicon(m) else None)
    yield errors
    assert not errors, errors


def _favicon(message) -> bool:  # type: ignore[no-untyped-def]
    return "favicon" in (message.location or {}).get("url", "")


def _open(page, member, query: str, size: str = "desktop") -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(SIZES[size])
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto(f"/calendar/{query}")
    page.wait_for_selector(".fc-view", timeout=5000)
    page.wait_for_load_state("networkidle")


def _slot(page, day: str, clock: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The middle of a day's column at a time of day, in viewport coordinates (scrolled into view first)."""
    lane = page.locator(f".fc-timegrid-slot-lane[data-time='{clock}:00']")
    lane.scroll_into_view_if_needed()
    row = lane.bounding_box()
    column = page.locator(f".fc-timegrid-col[data-date='{day}']").bounding_box()
    return column["x"] + column["width"] / 2, row["y"] + row["height"] / 2


def _drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:  # type: ignore[no-untyped-def]
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0], start[1] + 5, steps=3)
    page.mouse.move(*end, steps=12)
    page.mouse.up()


def _fits_the_screen(page, width: int) -> None:  # type: ignore[no-untyped-def]
    box = page.locator("#calendar-grid").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert page.evaluate("document.querySelector('#calendar-grid').scrollWidth") <= box["width"] + 1


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_create_by_dragging_on_the_grid(page, member, calendar, shots, size: str) -> None:  # type: ignore[no-untyped-def]
    _open(page, member, "?date=2026-11-25&view=timeGridDay" if size == "phone" else "?date=2026-11-25", size)
    _fits_the_screen(page, SIZES[size]["width"])
    shots("before")
    end = _slot(page, "2026-11-25", "11:30")  # first: scrolling the page to it would move the start as well
    _drag(page, _slot(page, "2026-11-25", "10:00"), end)
    dialog = page.locator("[data-testid=quick-form]")
    dialog.wait_for(state="visible")
    assert page.locator("#quick-form [name=startTime]").input_value() == "10:00"
    assert page.locator("#quick-form [name=endTime]").input_value() == "12:00"  # the 11:30 slot included
    page.fill("#quick-form [name=title]", "Design review")
    shots("quick-form")
    page.click("[data-testid=quick-save]")
    page.locator(".fc-event", has_text="Design review").wait_for()
    shots("created")
    event = Event.objects.get(title="Design review")
    assert (event.start, event.end) == (datetime(2026, 11, 25, 9, tzinfo=UTC), datetime(2026, 11, 25, 11, tzinfo=UTC))
    assert event.calendar_id == calendar.pk


def test_the_quick_form_picks_a_client_the_event_page_then_shows(page, member, calendar, shots) -> None:  # type: ignore[no-untyped-def]
    acme = BusinessClient.objects.create(tenant=member.tenant, name="Acme Corporation")
    BusinessClient.objects.create(tenant=member.tenant, name="Globex")
    Activity.objects.create(tenant=member.tenant, name="Design")
    _open(page, member, "?date=2026-11-25&view=timeGridWeek")
    end = _slot(page, "2026-11-25", "14:30")
    _drag(page, _slot(page, "2026-11-25", "14:00"), end)
    page.locator("[data-testid=quick-form]").wait_for(state="visible")
    page.fill("#quick-form [name=title]", "Kick-off")
    client = page.locator("#quick-form [name=client]")
    client.press_sequentially("acm", delay=50)
    offered = "() => Array.from(document.querySelectorAll('#pick-clients option'), o => o.value).join()"
    page.wait_for_function(offered + " === 'Acme Corporation'")  # from the organisation's list; not Globex
    client.fill("Acme Corporation")
    page.locator("#quick-form [name=activity_type]").fill("design")  # any case finds the list's entry
    shots("quick-form-client")
    page.click("[data-testid=quick-save]")
    block = page.locator(".fc-event", has_text="Kick-off")
    block.wait_for()
    block.click()  # the block links to the event's page
    page.wait_for_url(re.compile(r"/events/\d+/"))
    assert page.locator("[data-testid=business]").inner_text().strip() == "Acme Corporation / — / Design"
    shots("event-page-client")
    event = Event.objects.get(title="Kick-off")
    assert (event.client_ref_id, event.activity_ref.name) == (acme.pk, "Design")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_move_and_resize_an_event(page, member, calendar, shots, size: str) -> None:  # type: ignore[no-untyped-def]
    event = _save(calendar, "Budget call", datetime(2026, 11, 24, 10, tzinfo=BERLIN))
    # A phone shows one day: the move stays on it; the week view moves it two days on as well.
    day = "2026-11-26" if size == "desktop" else "2026-11-24"
    _open(page, member, "?date=2026-11-24&view=" + ("timeGridWeek" if size == "desktop" else "timeGridDay"), size)
    target = _slot(page, day, "14:00")  # first: it may scroll the grid, which moves the block too
    lane = page.locator(".fc-timegrid-slot-lane").first.bounding_box()["height"]
    box = page.locator(".fc-event", has_text="Budget call").bounding_box()
    _drag(page, (box["x"] + box["width"] / 2, box["y"] + 8), (target[0], target[1] + 8 - lane / 2))
    page.locator("[data-testid=grid-message]", has_text="was moved").wait_for()
    event.refresh_from_db()
    when = datetime.fromisoformat(day).replace(hour=14, tzinfo=BERLIN)
    assert event.start == when, event.start
    shots("moved")
    # Resize: drag the bottom edge down by an hour (the message hidden first: hiding it later would shift the grid).
    page.locator("[data-testid=grid-message]").evaluate("el => { el.hidden = true; el.textContent = ''; }")
    block = page.locator(".fc-event", has_text="Budget call")
    block.evaluate("el => el.scrollIntoView({block: 'center'})")  # room below it inside the grid's scroller
    block.hover()
    edge = block.locator(".fc-event-resizer-end").bounding_box()
    start = (edge["x"] + edge["width"] / 2, edge["y"] + edge["height"] / 4)  # the half inside the block
    _drag(page, start, (start[0], start[1] + 2 * lane))
    page.locator("[data-testid=grid-message]", has_text="was moved").wait_for()
    event.refresh_from_db()
    assert (event.start, event.end) == (when, when + timedelta(hours=2))
    shots("resized")


def test_the_current_time_line_shows_on_today(page, member, calendar, shots) -> None:  # type: ignore[no-untyped-def]
    _open(page, member, "")  # today, in the week view
    line = page.locator(".fc-timegrid-now-indicator-line")
    line.wait_for(state="attached")
    today = page.locator(".fc-timegrid-col.fc-day-today")
    assert today.count() == 1 and today.locator(".fc-timegrid-now-indicator-line").count() == 1
    shots("now")


def test_a_move_refused_because_a_sync_changed_the_event_is_said_and_reloaded(
    page, member, calendar, shots, script_errors
) -> None:  # type: ignore[no-untyped-def]
    event = _save(calendar, "Client visit", datetime(2026, 11, 24, 10, tzinfo=BERLIN))
    _open(page, member, "?date=2026-11-24&view=timeGridWeek")
    # Meanwhile a sync moves it to the afternoon (a new version the page has not seen).
    afternoon = datetime(2026, 11, 24, 15, tzinfo=BERLIN)
    moved = Component(uid=event.uid, summary="Client visit (moved in Outlook)", start=afternoon,
                      end=afternoon + timedelta(hours=1))  # fmt: skip
    services.item_save(calendar=calendar, item=Item(master=moved), name=event.name)
    block = page.locator(".fc-event", has_text="Client visit")
    box = block.bounding_box()
    target = _slot(page, "2026-11-27", "12:00")
    _drag(page, (box["x"] + box["width"] / 2, box["y"] + 8), target)
    message = page.locator("[data-testid=grid-message]")
    message.wait_for(state="visible")
    assert "changed elsewhere" in message.inner_text()
    assert script_errors == ["Failed to load resource: the server responded with a status of 412 (Precondition Failed)"]
    script_errors.clear()  # the refusal, as the browser logs every 4xx answer
    page.locator(".fc-event", has_text="moved in Outlook").wait_for()  # reloaded: the sync's version shows
    shots("refused")
    event.refresh_from_db()
    assert event.start == datetime(2026, 11, 24, 15, tzinfo=BERLIN)


def test_a_move_of_an_event_a_sync_deleted_meanwhile_is_said_in_words(page, member, calendar, shots,
                                                                     script_errors) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    event = _save(calendar, "Cancelled review", datetime(2026, 11, 24, 10, tzinfo=BERLIN))
    _open(page, member, "?date=2026-11-24&view=timeGridWeek")
    services.item_delete(event=event)  # meanwhile a sync deletes it
    box = page.locator(".fc-event", has_text="Cancelled review").bounding_box()
    _drag(page, (box["x"] + box["width"] / 2, box["y"] + 8), _slot(page, "2026-11-26", "12:00"))
    message = page.locator("[data-testid=grid-message]")
    message.wait_for(state="visible")
    assert message.inner_text() == "This event is not in your calendars (any more)."  # the JSON's words, not HTML
    assert script_errors == ["Failed to load resource: the server responded with a status of 404 (Not Found)"]
    script_errors.clear()
    page.locator(".fc-event", has_text="Cancelled review").wait_for(state="detached")  # reloaded: gone
    shots("deleted")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_month_with_many_events_stays_readable(page, member, calendar, shots, size: str) -> None:  # type: ignore[no-untyped-def]
    first = datetime(2026, 11, 2, 8, tzinfo=BERLIN)
    for i in range(156):
        _save(calendar, f"Meeting {i}", first + timedelta(days=i % 26, hours=i % 9), minutes=45)
    _open(page, member, "?date=2026-11-15&view=dayGridMonth", size)
    page.locator(".fc-daygrid-more-link").first.wait_for()
    assert page.locator(".fc-daygrid-more-link").count() >= 20  # a busy day folds into "+N more"
    _fits_the_screen(page, SIZES[size]["width"])
    height = page.evaluate("document.querySelector('#calendar-grid').getBoundingClientRect().height")
    assert height < 1400, height
    shots("month")
    page.locator(".fc-daygrid-more-link").first.click()
    page.locator(".fc-popover .fc-event").first.wait_for()
    shots("more")


def _tab_to(page, name: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == name:
            return
    pytest.fail(f"Tab does not reach the field {name}.")


def test_keyboard_only_creation(page, member, calendar, shots) -> None:  # type: ignore[no-untyped-def]
    _open(page, member, "?date=2026-11-25&view=timeGridWeek")
    for _ in range(60):  # Tab through the page to the grid, as a keyboard user would
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "calendar-grid":
            break
    else:
        pytest.fail("The grid cannot be reached with Tab.")
    title = page.locator(".fc-toolbar-title")
    before = title.inner_text()
    page.keyboard.press("ArrowRight")
    assert title.inner_text() != before
    page.keyboard.press("ArrowLeft")
    assert title.inner_text() == before
    page.keyboard.press("d")  # the day view, then day by day to Thursday 26 November
    for _ in range(7):
        if "26 November" in title.inner_text():
            break
        page.keyboard.press("ArrowRight")
    assert title.inner_text() == "26 November 2026"
    page.keyboard.press("n")
    page.locator("[data-testid=quick-form]").wait_for(state="visible")
    assert page.evaluate("document.activeElement.name") == "title"
    page.keyboard.type("Written with keys")
    _tab_to(page, "startTime")  # past "All day" and the start date's day, month and year
    page.keyboard.press("ArrowUp")  # the hour: 09:00 becomes 10:00
    _tab_to(page, "endTime")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # 10:00 becomes 12:00
    shots("keyboard-form")
    page.keyboard.press("Enter")
    page.locator(".fc-event", has_text="Written with keys").wait_for()
    event = Event.objects.get(title="Written with keys")
    assert (event.start, event.end) == (datetime(2026, 11, 26, 10, tzinfo=BERLIN),
                                        datetime(2026, 11, 26, 12, tzinfo=BERLIN))  # fmt: skip
    assert page.evaluate("document.activeElement.id") == "calendar-grid"  # focus back on the grid
    shots("keyboard-created")
