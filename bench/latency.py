"""How long a change takes to become visible on the other side, per provider, through push or adaptive polling.

    .venv/bin/python bench/latency.py [--changes 50] [--only google,microsoft,exchange,caldav] [--idle 10000]

Each provider's module (bench/latency_<provider>.py) starts its emulator (or Radicale), a calsync web server
that receives the provider's notifications, and a real Celery worker; it then makes `changes` edits on the
provider's side, one at a time, and times each from the write to the moment calsync's database holds it.
It offers:
- `measure(changes: int) -> list[float]`: the seconds each change took;
- `idle_cost(count: int) -> dict[str, float]` (optional): what `count` idle subscriptions cost (renewal
  requests per hour, memory of the notification service...), each figure named.

The figures printed: median and p95 per provider, and each provider's idle cost. Goal: under 5 s for the three
push providers, under the adaptive interval for CalDAV.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS = ("google", "microsoft", "exchange", "caldav")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--only", default=",".join(PROVIDERS))
    parser.add_argument("--idle", type=int, default=10_000, help="idle subscriptions to cost (0: skip)")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    print(f"{'provider':<10} {'changes':>7} {'median s':>9} {'p95 s':>7} {'max s':>7}")
    for name in args.only.split(","):
        module = importlib.import_module(f"latency_{name}")
        seconds = module.measure(args.changes)
        print(f"{name:<10} {len(seconds):>7} {statistics.median(seconds):>9.2f} {percentile(seconds, 0.95):>7.2f} "
              f"{max(seconds):>7.2f}", flush=True)  # fmt: skip
        if args.idle and hasattr(module, "idle_cost"):
            for figure, value in module.idle_cost(args.idle).items():
                print(f"    {args.idle} idle {name} subscriptions: {figure} = {value:,.1f}", flush=True)


if __name__ == "__main__":
    main()
