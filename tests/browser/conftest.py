"""A real headless Chromium (Debian's package) driven by Playwright against Django's live server."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("Chromium is not installed: run scripts/ensure-chromium.sh (the browser tests never skip).")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture
def csp_violations() -> list[str]:
    """What Chromium refused under calsync's Content-Security-Policy during the test (it says so on the console)."""
    return []


@pytest.fixture
def page(browser, live_server, csp_violations):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, accept_downloads=True, timezone_id="Europe/Berlin")
    page = context.new_page()
    page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.set_default_timeout(15_000)
    yield page
    context.close()
    # Every browser test doubles as a check that the pages it walked through need nothing the policy forbids.
    assert not csp_violations, f"The Content-Security-Policy was violated: {csp_violations}"


@pytest.fixture
def screenshot(page, request):  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def sign_in(page, email: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")


def connect_sandbox_google(page, email: str) -> None:  # type: ignore[no-untyped-def]
    """Settings -> Sign in with Google (the sandbox's consent page) -> the calendar -> saved: its page."""
    page.goto("/settings/")
    page.click("[data-testid=connect-google]")
    page.fill("input[name=email]", email)
    page.click("button[value=allow]")
    page.wait_for_url(re.compile(r"/integrations/connect/google/calendar/"))
    page.select_option("select[name=remote]", email)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/integrations/\d+/$"))


def start_syncing(page) -> None:  # type: ignore[no-untyped-def]
    """Connecting previews the first sync (sync.previews): confirm it on the integration page, as the user does."""
    page.wait_for_selector("[data-testid=preview-counts]")
    page.click("[data-testid=preview-confirm]")
    page.wait_for_selector("text=Confirmed. A sync has started.")


def grid_week(page, day: str) -> None:  # type: ignore[no-untyped-def]
    """Open the calendar grid's week view around `day` (YYYY-MM-DD) once its events have loaded."""
    page.goto(f"/calendar/?date={day}&view=timeGridWeek")
    page.wait_for_selector(".fc-view")
    page.wait_for_load_state("networkidle")


def grid_day_events(page, day: str):  # type: ignore[no-untyped-def]
    """The event blocks in one day's column of the grid's week or day view."""
    return page.locator(f".fc-timegrid-col[data-date='{day}'] .fc-event")


def accept_on_own_copy(browser, base_url: str, user, title: str, timezone_id: str) -> None:  # type: ignore[no-untyped-def]
    """A colleague signs in in their own browser and accepts their copy of a meeting, which names its owner."""
    from events.models import Event
    from tests.factories import PASSWORD

    context = browser.new_context(base_url=base_url, timezone_id=timezone_id)
    page = context.new_page()
    sign_in(page, user.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    copy = Event.objects.get(calendar__owner=user, title=title)
    page.goto(f"/events/{copy.pk}/")
    assert "owns this meeting" in page.locator("[data-testid=owner-note]").inner_text()
    page.click("button[value=accept]")
    page.wait_for_selector(".flash.success")
    assert page.locator("[data-testid=my-answer]").inner_text() == "accepted"
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    """Keep a screenshot of the page as it was when a browser test failed."""
    outcome = yield
    report = outcome.get_result()
    page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and page is not None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{item.name}-FAILED.png"), full_page=True)
