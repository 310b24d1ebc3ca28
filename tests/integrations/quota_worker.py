"""A worker process for the quota tests and bench/quotas.py: `python -m tests.integrations.quota_worker MODE JSON`.

It sets Django up, prints "ready", waits for a line on stdin (so that every process starts at once), does its part
and prints one JSON line with what happened. Modes:

- hammer: takes from one gate as fast as it will admit, for `seconds`; reports each admission's moment on the
  store's clock, and how long each take took.
- graph: `threads` threads each send `calls` requests through GraphClient to one mailbox at `base`.
- hold: takes `width` slots of a gate and keeps them until the process is killed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any


def _gate(spec: dict[str, Any]) -> Any:
    from integrations import quota

    buckets = tuple(quota.Bucket(key, rate, burst) for key, rate, burst in spec.get("buckets", []))
    slots = quota.Slots(*spec["slots"]) if spec.get("slots") else None
    return quota.Gate(buckets, slots, "Test")


def hammer(args: dict[str, Any]) -> dict[str, Any]:
    """The loop `quota.enter` runs (and `leave`, for a gate with slots), keeping the store's answer (its clock) for
    each admission, how long each round trip to the store took, and how many there were. `pings`: first time that
    many bare round trips to the same Redis (a peer for the latencies)."""
    import uuid

    from integrations import quota

    gate, store = _gate(args), quota.store()
    pings = [_timed(store.redis.ping) for _ in range(args.get("pings", 0))] if args.get("pings") else []
    admitted, latencies, refused, trips = [], [], 0, 0
    end = time.monotonic() + args["seconds"]
    while time.monotonic() < end:
        holders = [uuid.uuid4().hex] if gate.slots else []
        started = time.perf_counter()
        answer = store.take(gate, holders, max_wait=args.get("max_wait", 2.0), cost=1, invited=False)
        latencies.append(time.perf_counter() - started)
        trips += 1
        if answer.admitted:
            admitted.append(answer.at)
            time.sleep(answer.wait + args.get("hold", 0))  # `hold`: as long as a request would take
            if holders:
                latencies.append(_timed(store.release, gate, holders))
                trips += 1
        else:
            refused += 1
            time.sleep(min(max(answer.wait, 0.0), 0.05))
    return {"admitted": admitted, "latencies": latencies, "refused": refused, "trips": trips, "pings": pings}


def _timed(call: Any, *args: Any) -> float:
    started = time.perf_counter()
    call(*args)
    return time.perf_counter() - started


def graph(args: dict[str, Any]) -> dict[str, Any]:
    from integrations import quota
    from integrations.microsoft.client import GraphClient
    from sync.errors import SyncError

    counts = {"ok": 0, "throttled": 0, "failed": 0}
    lock = threading.Lock()

    def calls() -> None:
        client = GraphClient(lambda: args.get("token", "token"), owner=args["mailbox"])
        for _ in range(args["calls"]):
            try:
                client.call("GET", "/me")
                outcome = "ok"
            except quota.Throttled:
                outcome = "throttled"
            except SyncError:
                outcome = "failed"
            with lock:
                counts[outcome] += 1

    threads = [threading.Thread(target=calls) for _ in range(args["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts


def hold(args: dict[str, Any]) -> dict[str, Any]:
    from integrations import quota

    quota.enter(_gate(args), width=args["width"])
    print(json.dumps({"held": args["width"]}), flush=True)
    time.sleep(3600)
    return {}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")
    import django

    django.setup()
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps({"hammer": hammer, "graph": graph, "hold": hold}[mode](args)), flush=True)


def run_workers(mode: str, specs: list[dict[str, Any]], env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One process per spec, all started at once when every one is ready; their reports, in order."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    processes = [
        subprocess.Popen([sys.executable, "-m", "tests.integrations.quota_worker", mode, json.dumps(spec)], cwd=root,
                         env={**os.environ, **(env or {})}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for spec in specs
    ]  # fmt: skip
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        return [json.loads(process.stdout.readline()) for process in processes if process.stdout is not None]
    finally:
        for process in processes:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
