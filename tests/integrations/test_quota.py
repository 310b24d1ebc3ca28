"""Provider quotas held across real worker processes through Redis (integrations/quota.py).

Every process here is a real `python` process (tests/integrations/quota_worker.py) sharing the test's Redis; the
admitted moments are read on Redis's own clock, so the counts are exact whatever the machine's load.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
from django.conf import settings

from integrations import quota
from integrations.google.client import GoogleApi, user_credentials_from
from integrations.microsoft.client import GraphClient
from sync.errors import TransientError

from .quota_worker import run_workers

pytestmark = pytest.mark.skipif(not settings.QUOTA_REDIS_URL, reason="the shared quotas need Redis (REDIS_URL)")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def prefix(settings):  # type: ignore[no-untyped-def]
    """Keys of this test only, removed afterwards."""
    settings.QUOTA_KEY_PREFIX = f"calsync-test:{uuid.uuid4().hex[:8]}:"
    yield settings.QUOTA_KEY_PREFIX
    client = redis.Redis.from_url(settings.QUOTA_REDIS_URL)
    for key in client.scan_iter(f"{settings.QUOTA_KEY_PREFIX}*"):
        client.delete(key)


def _env(**extra: str) -> dict[str, str]:
    return {"QUOTA_REDIS_URL": settings.QUOTA_REDIS_URL, "QUOTA_KEY_PREFIX": settings.QUOTA_KEY_PREFIX, **extra}


def most_in_any_window(moments: list[float], seconds: float) -> int:
    moments = sorted(moments)
    ends = [next((j for j in range(i, len(moments)) if moments[j] > start + seconds), len(moments))
            for i, start in enumerate(moments)]  # fmt: skip
    return max(end - i for i, end in enumerate(ends))


def test_a_bucket_holds_across_processes_and_two_keys_do_not_share(prefix) -> None:
    """Four processes on key A (20/s, burst 5), two on key B (10/s, burst 2), at once for three seconds: in no
    window does either key admit more than rate × window + burst, and each admits close to its own limit (B is not
    starved by A, and A does not borrow B's room)."""
    a = {"buckets": [[f"{prefix}a", 20.0, 5]], "seconds": 3}
    b = {"buckets": [[f"{prefix}b", 10.0, 2]], "seconds": 3}
    reports = run_workers("hammer", [a] * 4 + [b] * 2, _env())
    for (rate, burst), group in (((20.0, 5), reports[:4]), ((10.0, 2), reports[4:])):
        moments = [m for report in group for m in report["admitted"]]
        for window in (0.25, 1.0, 2.0):
            assert most_in_any_window(moments, window) <= math.floor(rate * window + burst + 1e-6)
        span = max(moments) - min(moments)
        assert len(moments) >= 0.8 * (rate * span + burst)  # the processes did hammer: the limit was reached
        assert all(report["admitted"] for report in group)  # every process got its share, none was shut out


class _Mailbox(BaseHTTPRequestHandler):
    """A Graph stand-in that counts the requests it is answering at the same moment."""

    busy = peak = served = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            type(self).busy += 1
            type(self).peak = max(type(self).peak, type(self).busy)
        time.sleep(0.15)
        with self.lock:
            type(self).busy -= 1
            type(self).served += 1
        body = b'{"id": "me"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_graph_never_has_more_than_four_requests_in_flight_per_mailbox_across_processes() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mailbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/v1.0"
        spec = {"mailbox": "shared@contoso.example", "threads": 3, "calls": 4}
        reports = run_workers("graph", [spec] * 3, _env(MICROSOFT_GRAPH_URL=base, MICROSOFT_CA_BUNDLE=""))
    finally:
        server.shutdown()
    assert sum(r["ok"] + r["throttled"] for r in reports) == 36 and not any(r["failed"] for r in reports)
    assert _Mailbox.served == sum(r["ok"] for r in reports) > 0
    assert 2 <= _Mailbox.peak <= 4  # nine callers in three processes, never more than Graph's four at once


def test_the_slots_of_a_killed_worker_free_themselves(prefix, settings) -> None:
    settings.QUOTA_MAX_WAIT_SECONDS = 0.1
    spec = {"buckets": [[f"{prefix}b", 100.0, 100]], "slots": [f"{prefix}s", 4], "width": 4}
    gate = quota.Gate((quota.Bucket(f"{prefix}b", 100.0, 100),), quota.Slots(f"{prefix}s", 4))
    holder = subprocess.Popen([sys.executable, "-m", "tests.integrations.quota_worker", "hold", json.dumps(spec)],
                              cwd=ROOT, env={**os.environ, **_env(QUOTA_SLOT_SECONDS="2")},
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "ready"
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert json.loads(holder.stdout.readline()) == {"held": 4}
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with pytest.raises(quota.Throttled):
        quota.enter(gate)  # the dead worker's four slots are still taken
    deadline = time.monotonic() + 20
    while True:
        try:
            quota.leave(gate, quota.enter(gate))
            break
        except quota.Throttled:
            assert time.monotonic() < deadline, "the killed worker's slots never expired"
            time.sleep(0.2)


def test_a_429_from_graph_stops_the_other_workers_on_that_mailbox_only(microsoft, settings) -> None:
    """Graph answers 429 with Retry-After 30 to one worker: another process's request to that mailbox is held back
    without reaching Graph, while a request to another mailbox goes through."""
    app, cert = microsoft, settings.MICROSOFT_CA_BUNDLE
    busy, calm = (f"{name}-{uuid.uuid4().hex[:6]}@contoso.example" for name in ("busy", "calm"))
    tokens = {box: app.state.authorize(box, "calsync-test")["access_token"] for box in (busy, calm)}
    settings.MICROSOFT_MAX_WAIT_SECONDS = 0  # this worker hands the wait back instead of sleeping through it
    app.state.faults.update(throttle=1, retry_after=30)
    with pytest.raises(TransientError) as first:
        GraphClient(lambda: tokens[busy], owner=busy).call("GET", "/me")
    assert first.value.retry_after == 30 and not isinstance(first.value, quota.Throttled)
    before = app.state.requests
    env = _env(MICROSOFT_GRAPH_URL=settings.MICROSOFT_GRAPH_URL, MICROSOFT_CA_BUNDLE=cert)
    held, served = run_workers("graph", [{"mailbox": box, "token": tokens[box], "threads": 1, "calls": 1}
                                         for box in (busy, calm)], env)  # fmt: skip
    assert held == {"ok": 0, "throttled": 1, "failed": 0}
    assert served == {"ok": 1, "throttled": 0, "failed": 0}
    assert app.state.requests == before + 1  # only the calm mailbox's request reached Graph


def test_a_429_with_retry_after_from_google_holds_back_that_user_not_the_project(google) -> None:
    """Google's rateLimitExceeded with Retry-After: the user's next request (a retry inside the client, or another
    worker's) waits that long, so the run is deferred; another user of the same project goes on."""
    busy, calm = (f"{name}-{uuid.uuid4().hex[:6]}@example.com" for name in ("busy", "calm"))
    api = {
        email: GoogleApi(user_credentials_from(google.state.authorize(email, "calsync-test"))) for email in (busy, calm)
    }
    google.state.faults.update(rate_limit=1, rate_limit_status=429, retry_after=30)
    before = google.state.requests
    with pytest.raises(quota.Throttled) as held:
        api[busy].execute(api[busy].service.calendarList().list())
    assert held.value.retry_after >= 29 and "throttled, will retry" in str(held.value)
    assert google.state.requests == before + 1  # the 429 itself; the client's own retry was held back
    assert api[calm].execute(api[calm].service.calendarList().list())["items"]


def test_a_held_slot_is_kept_by_renewing_and_freed_by_leaving(prefix, settings) -> None:  # type: ignore[no-untyped-def]
    gate = quota.Gate((), quota.Slots(quota.scope("ews", "streams", "login"), 1), "Exchange")
    held = quota.hold(gate)
    assert held is not None and quota.hold(gate) is None
    store = quota.store()
    before = store.redis.zscore(gate.slots.key, held)  # type: ignore[attr-defined, union-attr]
    settings.QUOTA_SLOT_SECONDS = 600
    quota.renew(gate, [held, "never-held"])
    assert store.redis.zscore(gate.slots.key, held) > before + 400  # type: ignore[attr-defined, union-attr]
    assert store.redis.zscore(gate.slots.key, "never-held") is None  # type: ignore[attr-defined, union-attr]
    quota.leave(gate, [held])
    assert quota.hold(gate) is not None
