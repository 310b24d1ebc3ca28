"""ICS subscriptions against the reviewer's scenarios (review 1): what a publisher, a user or a hostile server
may do that the first version got wrong. The feed is the same real local HTTP server as test_ics_source's."""

from __future__ import annotations

import copy
import logging
import logging.config

import pytest
from django.conf import settings as django_settings

from integrations.ics.services import feed_id, shown_url

from .test_ics_source import feed, feed_server, rows, subscribe, sync, titles  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


# --- what pages and logs show ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://cal.example.com/feed.ics?s=Ab+cD/efGH12ijKL34mnOP", "efGH12ijKL34mnOP"),
        ("https://cal.example.com/u/john/AbcdEfghIjklMnop.ics", "AbcdEfghIjklMnop"),
        ("https://cal.example.com/feed.ics?t=AbCdEfGh", "AbCdEfGh"),
        ("https://cal.example.com/u/Zq9x/basic.ics", "Zq9x"),
    ],
)
def test_shown_urls_keep_only_the_host_and_the_last_plain_segment(url: str, secret: str) -> None:
    shown = shown_url(url)
    assert secret not in shown and shown.startswith("https://cal.example.com/")


def test_shown_urls_still_say_which_feed_it_is() -> None:
    assert shown_url("https://x.example.com/a/b/holidays.ics?lang=en") == "https://x.example.com/…/holidays.ics?lang=…"
    assert shown_url("https://bob:pw@x.example.com:8443/basic.ics") == "https://…@x.example.com:8443/basic.ics"


def test_urllib3_logs_no_request_lines_even_with_debug_logging() -> None:
    """LOG_LEVEL=DEBUG (an operator chasing a problem) must not put feed URLs, tokens and all, in the logs."""
    configured = copy.deepcopy(django_settings.LOGGING)
    configured["root"]["level"] = "DEBUG"
    try:
        logging.config.dictConfig(configured)
        for name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager"):
            assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO, name
    finally:
        logging.config.dictConfig(django_settings.LOGGING)


# --- one feed, one subscription -------------------------------------------------------------------------


def test_the_same_feed_written_differently_is_the_same_feed() -> None:
    same = ["https://Cal.Example.COM/cal.ics", "https://cal.example.com:443/cal.ics", "webcal://cal.example.com/cal.ics",
            "HTTPS://cal.example.com/cal.ics"]  # fmt: skip
    assert {feed_id(url) for url in same} == {feed_id("https://cal.example.com/cal.ics")}
    assert feed_id("http://cal.example.com/cal.ics") == feed_id("http://cal.example.com:80/cal.ics")
    assert feed_id("https://cal.example.com/Cal.ics") != feed_id("https://cal.example.com/cal.ics")
    assert feed_id("https://cal.example.com:8443/cal.ics") != feed_id("https://cal.example.com/cal.ics")
