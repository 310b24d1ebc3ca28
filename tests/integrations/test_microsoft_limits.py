"""Graph's Retry-After guard at its boundary: a wait of exactly MICROSOFT_MAX_WAIT_SECONDS is waited out in the
request, a second longer is handed back to the sync's own retry (which waits at least that long)."""

from __future__ import annotations

import pytest

from integrations.microsoft.client import GraphClient
from sync.errors import TransientError


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
