"""What bench/google_bench.py, microsoft_bench.py and exchange_bench.py share.

The parent process runs the provider's emulator (counting the requests and bytes it exchanges) and the database
set-up; every case runs in a child process of its own, so that its peak memory is that of a whole process and
its first run is cold. The child asks the parent for what only the parent can do (edit the emulator's calendar,
read its counters) over its stdin and stdout.

- cold: the first run in a fresh process (Django set up; no HTTP connection, access token or API client yet);
- warm: the same kind of run again in that process straight after (connections, tokens and clients reused).

A first sync's figure includes the run after it, which reads the first run's writes back (their echo); a run that
writes to the provider is likewise followed by the run that reads its echo.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class Traffic:
    """WSGI middleware in front of an emulator: requests, and bytes received and sent (bodies)."""

    def __init__(self, app: Any) -> None:
        self.app, self.requests, self.bytes = app, 0, 0

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        self.requests += 1
        self.bytes += int(environ.get("CONTENT_LENGTH") or 0)
        for chunk in self.app(environ, start_response):
            self.bytes += len(chunk)
            yield chunk


@dataclass
class Spec:
    """One provider: how the parent starts and fills its emulator and makes integrations."""

    name: str
    start: Callable[[], tuple[Any, Traffic, str]]  # (emulator app, its traffic counter, base URL)
    configure: Callable[[str], None]  # Django settings pointed at the emulator: parent and children
    filled: Callable[[Any, str, int], Any]  # an integration with n events in the provider, none in calsync
    empty: Callable[[Any, str], Any]  # an integration whose provider calendar is empty
    change: Callable[[Any, Any, int, int], None]  # (app, integration, round, n): edit 1% in the provider


# --- the child ----------------------------------------------------------------------------------------------


def _ask(what: str, *args: object) -> str:
    print("ASK", what, *args, flush=True)
    return sys.stdin.readline().strip()


def _traffic() -> tuple[int, int]:
    requests, sent = _ask("traffic").split()
    return int(requests), int(sent)


def _run(integration: Any) -> dict[str, float]:
    """One run of the real sync service: wall time, requests, bytes, queries, writes."""
    from django.db import connection

    from bench.benchsetup import QueryCounter
    from sync import services

    queries = QueryCounter()
    requests, sent = _traffic()
    with connection.execute_wrapper(queries):
        started = time.perf_counter()
        run = services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual").pk)
        elapsed = time.perf_counter() - started
    assert run.status == "success", run.error
    after_requests, after_sent = _traffic()
    return {"ms": elapsed * 1000, "requests": after_requests - requests, "kb": (after_sent - sent) / 1024,
            "queries": queries.count, "writes": sum(sum(side.values()) for side in run.counts.values())}  # fmt: skip


def _retitle(calendar: Any, round_: int, n: int) -> None:
    """1% of the calendar's single events retitled in calsync (other ones each round)."""
    from dataclasses import replace

    from events.convert import item_from_event
    from events.models import Event
    from events.services import item_save

    rows = Event.objects.filter(calendar=calendar, parent=None, rrule="").order_by("pk")
    for row in list(rows[round_ * 7 % 100 :: 100][: max(1, n // 100)]):
        item = item_from_event(row, [])
        item_save(calendar=calendar, item=replace(item, master=replace(item.master, summary=f"{row.title} (calsync)")),
                  name=row.name)  # fmt: skip


def _listing(integration: Any) -> list[dict[str, float]]:
    """The provider side's complete listing alone, read through (no engine, no database writes)."""
    from integrations.registry import build_side

    requests, sent = _traffic()
    started = time.perf_counter()
    count = sum(1 for _ in build_side(integration).changes(None).changed)
    elapsed = time.perf_counter() - started
    after_requests, after_sent = _traffic()
    return [{"ms": elapsed * 1000, "requests": after_requests - requests, "kb": (after_sent - sent) / 1024,
             "queries": 0, "writes": count}]  # fmt: skip


def _case(case: str, integration: Any, n: int) -> list[dict[str, float]]:
    if case == "baseline":
        import integrations.registry  # noqa: F401  (what every case imports)

        return []
    if case == "listing":
        return _listing(integration)
    if case == "first":
        return [_run(integration), _run(integration)]  # the first sync, then the run that reads its echo
    if case == "noop":
        return [_run(integration), _run(integration)]  # cold, warm
    runs = []
    for round_ in (0, 1):  # cold, warm
        if case == "provider":
            _ask("change", round_)
            runs.append(_run(integration))
        else:  # "calsync": written to the provider, then the run that reads the echo back
            _retitle(integration.calendar, round_, n)
            runs += [_run(integration), _run(integration)]
    return runs


def child(spec: Spec, argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--integration", type=int)
    parser.add_argument("--size", type=int)
    parser.add_argument("--base")
    parser.add_argument("--code", default=str(ROOT))
    args = parser.parse_args(argv)
    sys.path[:0] = [args.code, str(ROOT)]  # the calsync code under test first; bench/ helpers from here
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")
    import django

    django.setup()
    spec.configure(args.base)
    from integrations.models import Integration

    integration = Integration.objects.get(pk=args.integration) if args.integration else None
    runs = _case(args.child, integration, args.size)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT", json.dumps({"runs": runs, "peak_mb": peak}), flush=True)


# --- the parent ---------------------------------------------------------------------------------------------


def _spawn(spec: Spec, script: str, case: str, integration: Any, n: int, base: str, app: Any, traffic: Traffic,
           code: str) -> dict[str, Any]:  # fmt: skip
    from django.db import connections

    connections.close_all()  # SQLite: the child writes
    command = [sys.executable, os.path.abspath(script), "--child", case, "--integration",
               str(integration.pk if integration else 0), "--size", str(n), "--base", base, "--code", code]  # fmt: skip
    with tempfile.TemporaryFile("w+") as errors:
        # In the code's own folder: Celery puts the working directory first on sys.path.
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True,
                                   cwd=code)  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        result: dict[str, Any] = {}
        for line in process.stdout:
            word, _, rest = line.strip().partition(" ")
            if word == "ASK":
                what, *args = rest.split()
                if what == "change":
                    spec.change(app, integration, int(args[0]), n)
                    answer = "done"
                else:
                    answer = f"{traffic.requests} {traffic.bytes}"
                process.stdin.write(answer + "\n")
                process.stdin.flush()
            elif word == "RESULT":
                result = json.loads(rest)
        if process.wait() != 0 or not result:
            errors.seek(0)
            raise SystemExit(f"case {case} failed:\n{errors.read()[-3000:]}")
    return result


_ROW = "  {:<62} {:>7} {:>8} {:>8} {:>8} {:>7} {:>6}"


def _print(label: str, result: dict[str, Any], names: list[str]) -> None:
    for name, run in zip(names, result["runs"], strict=False):
        print(_ROW.format(f"{label}: {name}", f"{run['ms']:.0f}", run["requests"], f"{run['kb']:.0f}",
                          run["queries"], run["writes"], ""))  # fmt: skip
    total = result["runs"]
    if len(total) > 1 and label.startswith("first"):
        print(_ROW.format(f"{label}: both runs", f"{sum(r['ms'] for r in total):.0f}",
                          sum(r["requests"] for r in total), f"{sum(r['kb'] for r in total):.0f}",
                          sum(r["queries"] for r in total), sum(r["writes"] for r in total), ""))  # fmt: skip
    print(_ROW.format(f"{label}: peak memory of the whole process", "", "", "", "", "", f"{result['peak_mb']:.0f}"))


CASES = [
    ("listing", "filled", ["provider listing alone (cold)"]),
    ("first", "filled", ["first run (cold)", "echo run"]),
    ("noop", "same", ["cold", "warm"]),
    ("provider", "same", ["cold", "warm"]),
    ("calsync", "same", ["cold", "its echo (cold)", "warm", "its echo (warm)"]),
    ("first", "calsync", ["first run (cold)", "echo run"]),
]
_LABELS = {("first", "filled"): "first sync, provider -> calsync", ("first", "calsync"): "first sync, calsync -> "
           "provider", ("noop", "same"): "no-op", ("provider", "same"): "1% changed in the provider",
           ("calsync", "same"): "1% changed in calsync", ("listing", "filled"): "listing"}  # fmt: skip


def main(spec: Spec, script: str) -> None:
    if "--child" in sys.argv:
        child(spec, sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description=f"{spec.name} sync benchmark")
    parser.add_argument("sizes", nargs="*", type=int, default=[2000, 10000])
    parser.add_argument("--before", help="a checkout of the code before the change, run beside it (same cases)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.benchsetup import django_for_bench

    django_for_bench(spec.name)
    from django.db import connection

    app, traffic, base = spec.start()
    spec.configure(base)
    before = [("before", args.before)] if args.before else []
    print(f"{spec.name} on {connection.vendor}; load average {os.getloadavg()[0]:.2f}; columns: ms, HTTP requests, "
          f"KB on the wire, database queries, writes (items for the listing), peak MB")  # fmt: skip
    baseline = _spawn(spec, script, "baseline", None, 0, base, app, traffic, str(ROOT))
    print(f"a child process that only sets Django up peaks at {baseline['peak_mb']:.0f} MB")
    for n in args.sizes:
        # The code before the change runs beside it at the first size only (it takes as long again).
        for code_name, code in [("after", str(ROOT)), *(before if n == args.sizes[0] else [])]:
            print(f"\n{n} events, code {code_name}")
            filled = spec.filled(app, f"{code_name}{n}", n)
            integration = filled
            for case, on, names in CASES:
                if on == "calsync":
                    integration = spec.empty(app, f"{code_name}{n}")
                    _fill_calsync(integration.calendar, n)
                result = _spawn(spec, script, case, integration, n, base, app, traffic, code)
                _print(_LABELS[(case, on)], result, names)
            print(f"  (load average {os.getloadavg()[0]:.2f})")


def _fill_calsync(calendar: Any, n: int) -> None:
    """n events in calsync, 2% of them weekly series with a moved occurrence."""
    from datetime import UTC, datetime, timedelta

    from events.ical import Component, Item
    from events.services import items_create_many

    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    items = []
    for i in range(n):
        begins = start + timedelta(minutes=100 * i)
        rule = "FREQ=WEEKLY;COUNT=20" if i % 50 == 0 else ""
        master = Component(uid=f"calsync-{i}@bench", summary=f"Local {i}", start=begins,
                           end=begins + timedelta(hours=1), rrule=rule)  # fmt: skip
        overrides: tuple[Component, ...] = ()
        if i % 50 == 0:
            moved = begins + timedelta(days=7, hours=2)
            overrides = (Component(uid=master.uid, recurrence_id=begins + timedelta(days=7), summary=f"Local {i} moved",
                                   start=moved, end=moved + timedelta(hours=1)),)  # fmt: skip
        items.append(Item(master=master, overrides=overrides))
    for first in range(0, n, 500):
        items_create_many(calendar=calendar, items=items[first : first + 500])
