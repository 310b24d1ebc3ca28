"""What the emulator tests share."""

from __future__ import annotations

import pytest
import requests
from django.conf import settings


@pytest.fixture
def graph(microsoft, microsoft_mailbox):  # type: ignore[no-untyped-def]
    """A session on a fresh mailbox's default calendar: (session, events URL, calendar URL)."""
    upn, tokens = microsoft_mailbox
    session = requests.Session()
    session.trust_env = False
    session.verify = settings.MICROSOFT_CA_BUNDLE
    session.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    calendar = microsoft.state.mailboxes[upn].calendars[0]
    base = f"{microsoft.base_url}/v1.0/me/calendars/{calendar}"
    yield session, f"{base}/events", base
    session.close()
