"""Graph's Retry-After guard at its boundary: a wait of exactly MICROSOFT_MAX_WAIT_SECONDS is waited out in the
request, a second longer is handed back to the sync's own retry (which waits at least that long)."""

from __future__ import annotations

import pytest

from integrations.microsoft.client import GraphClient
from sync.errors import PermanentError, TransientError


@pytest.mark.parametrize(("extra", "waits_here"), [(0, True), (1, False)])
def test_a_retry_after_up_to_the_longest_wait_is_waited_out(microsoft, microsoft_mailbox, settings, extra,
                                                            waits_here) -> None:  # fmt: skip
    _upn, tokens = microsoft_mailbox
    waits: list[float] = []
    client = GraphClient(lambda: tokens["access_token"], sleep=waits.append)
    longest = settings.MICROSOFT_MAX_WAIT_SECONDS
    microsoft.state.faults.update(throttle=1, retry_after=longest + extra)
    if waits_here:
        assert client.call("GET", client.prefix)["userPrincipalName"] == _upn
        assert waits == [longest]
    else:
        with pytest.raises(TransientError) as handed_back:
            client.call("GET", client.prefix)
        assert waits == [] and handed_back.value.retry_after == longest + 1


def test_a_link_to_another_host_is_not_followed_with_the_token(microsoft, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    """@odata.nextLink / deltaLink are absolute (https://learn.microsoft.com/graph/paging) and carry the access
    token when followed: only links on the Graph host calsync is configured for are."""
    client = GraphClient(lambda: microsoft_mailbox[1]["access_token"], sleep=lambda s: None)
    assert client.url(f"{microsoft.base_url}/v1.0/me/calendarView/delta?$deltatoken=x").startswith(microsoft.base_url)
    for elsewhere in ("https://graph.example.net/v1.0/me/events", microsoft.base_url.replace("https:", "http:") + "/x"):
        with pytest.raises(PermanentError):
            client.url(elsewhere)
