"""Provider quotas under load (integrations/quota.py): worker processes sharing one Redis.

    QUOTA_REDIS_URL=redis://127.0.0.1:6379/12 python bench/quotas.py [--full]

Each case starts real worker processes (tests/integrations/quota_worker.py) at the same moment; each takes from
its gate as fast as the gate admits, for a few seconds. Printed per case: how many were admitted against what the
buckets allow over that time (rate × time + burst, per key), the most admitted to one key in any one-second window
against rate + burst (the bound the buckets promise), Redis round trips per admitted request (refused tries, slot
polls and releases included), and the time of one round trip to the store (p50 and
p99) beside the peer measured by the same processes in the same run: a bare PING to the same Redis.
"""

from __future__ import annotations

import os
import statistics
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integrations.quota_worker import run_workers  # noqa: E402

FULL = "--full" in sys.argv
SECONDS = 10 if FULL else 3
PROCESSES = (1, 2, 4, 8) if FULL else (1, 2, 4)


def most_in_a_second(moments: list[float]) -> int:
    moments, best, start = sorted(moments), 0, 0
    for end, moment in enumerate(moments):
        while moment - moments[start] > 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else (values or [0.0])[0]


def case(label: str, specs: list[dict[str, Any]], limits: list[tuple[float, float]], env: dict[str, str]) -> None:
    reports = run_workers("hammer", specs, env)
    moments = [[m for r, s in zip(reports, specs, strict=True) if s["buckets"][0][0] == key for m in r["admitted"]]
               for key in dict.fromkeys(s["buckets"][0][0] for s in specs)]  # fmt: skip
    admitted = sum(len(m) for m in moments)
    spans = [max(m) - min(m) if m else 0.0 for m in moments]
    # What the buckets allow over the time the admissions took: rate × span + burst, per key.
    allowed = sum(rate * span + burst for (rate, burst), span in zip(limits, spans, strict=True))
    peak = max(most_in_a_second(m) for m in moments if m)
    bound = max(rate + burst for rate, burst in limits)
    trips = sum(r["trips"] for r in reports)
    take = [x for r in reports for x in r["latencies"]]
    ping = [x for r in reports for x in r["pings"]]
    limited = f"{admitted:6d} of {allowed:8.0f} allowed, 1 s peak {peak:5d} of {bound:5.0f}" if bound < 1e6 else (
        f"{admitted:6d} ({admitted / max(spans):7.0f}/s, no limit reached)    ")  # fmt: skip
    print(
        f"{label:<38} {limited}  trips/admitted {trips / max(admitted, 1):4.2f}  "
        f"take p50 {quantile(take, 50) * 1e3:5.2f} ms p99 {quantile(take, 99) * 1e3:5.2f} ms  "
        f"PING p50 {quantile(ping, 50) * 1e3:5.2f} ms ({quantile(take, 50) / quantile(ping, 50):3.1f}x)"
    )


def main() -> None:
    url = os.environ.get("QUOTA_REDIS_URL") or os.environ.get("REDIS_URL")
    if not url:
        sys.exit("Set QUOTA_REDIS_URL (or REDIS_URL) to a Redis database: the quotas are shared through Redis.")
    prefix = f"bench-quota-{uuid.uuid4().hex[:8]}:"
    env = {"QUOTA_REDIS_URL": url, "QUOTA_KEY_PREFIX": prefix}
    print(f"quotas: {SECONDS} s per case, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores, {url}")
    rate, burst = 200.0, 20
    for n in PROCESSES:
        one = {"buckets": [[f"{prefix}one-{n}", rate, burst]], "seconds": SECONDS, "pings": 200}
        case(f"one key, {n} process(es)", [one] * n, [(rate, burst)], env)
    for n in PROCESSES:
        specs = [{"buckets": [[f"{prefix}many-{n}-{i}", rate, burst]], "seconds": SECONDS, "pings": 200}
                 for i in range(n)]  # fmt: skip
        case(f"one key each, {n} process(es)", specs, [(rate, burst)] * n, env)
    # Graph's gate for one mailbox: 10,000 per 10 minutes (1,000 burst) and four slots, each request held 20 ms.
    graph = {"buckets": [[f"{prefix}graph", 9000 / 600, 1000]], "slots": [f"{prefix}graph-slots", 4],
             "hold": 0.02, "seconds": SECONDS, "pings": 200}  # fmt: skip
    case("Graph mailbox, 4 slots, 20 ms each, 8 proc", [graph] * 8, [(9000 / 600, 1000)], env)
    for n in PROCESSES:
        free = {"buckets": [[f"{prefix}free-{n}", 1e9, 1e9]], "seconds": SECONDS, "pings": 200}
        case(f"no limit reached, {n} process(es)", [free] * n, [(1e9, 1e9)], env)


if __name__ == "__main__":
    main()
