#!/usr/bin/env python
"""Run the web server, a Celery worker and Celery beat together; Ctrl-C stops all three.

Used by `make run`. Everything runs on the zero-setup defaults (SQLite and the
filesystem broker under ./var) unless DATABASE_URL / REDIS_URL say otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def main() -> int:
    address = os.environ.get("CALSYNC_ADDRESS", "127.0.0.1:8000")
    var = Path(os.environ.get("CALSYNC_VAR_DIR", ROOT / "var"))
    commands = {
        "web": [PYTHON, "manage.py", "runserver", address, "--noreload"],
        "worker": [PYTHON, "-m", "celery", "-A", "calsync", "worker", "--loglevel=INFO", "--concurrency=2"],
        "beat": [
            PYTHON, "-m", "celery", "-A", "calsync", "beat", "--loglevel=INFO",
            f"--schedule={var / 'celerybeat-schedule'}",
        ],
        # EWS notifications: an Exchange calendar's changes arrive at once instead of at the next poll.
        "ews-listener": [PYTHON, "manage.py", "ews_listen"],
    }  # fmt: skip
    # Fixed argument lists, no shell: nothing here comes from untrusted input.
    # Sandbox mode: with no Google client configured, a local emulator stands in for Google (clearly marked).
    if not os.environ.get("GOOGLE_CLIENT_ID") and os.environ.get("CALSYNC_ENV", "development") != "production":
        emulator = urlsplit(os.environ.get("GOOGLE_EMULATOR_URL", "http://127.0.0.1:8091"))
        commands["google-sandbox"] = [
            PYTHON, "-m", "emulators.google", "--host", emulator.hostname or "127.0.0.1",
            "--port", str(emulator.port or 8091),
        ]  # fmt: skip
    if not os.environ.get("MICROSOFT_CLIENT_ID") and os.environ.get("CALSYNC_ENV", "development") != "production":
        emulator = urlsplit(os.environ.get("MICROSOFT_EMULATOR_URL", "https://127.0.0.1:8093"))
        commands["microsoft-sandbox"] = [
            PYTHON, "-m", "emulators.microsoft", "--host", emulator.hostname or "127.0.0.1",
            "--port", str(emulator.port or 8093), "--browser-port", str((emulator.port or 8093) + 1),
            "--cert-dir", str(var / "microsoft-emulator"),
        ]  # fmt: skip
    # Exchange on-premises has no sign-in service to stand in for: the sandbox is an EWS server with one login,
    # which the connect page offers to fill in.
    sandbox_ews = ""
    if os.environ.get("CALSYNC_ENV", "development") != "production":
        sandbox_ews = os.environ.get("EXCHANGE_SANDBOX_URL", "http://127.0.0.1:8095/EWS/Exchange.asmx")
        emulator = urlsplit(sandbox_ews)
        commands["exchange-sandbox"] = [
            PYTHON, "-m", "emulators.exchange", "--host", emulator.hostname or "127.0.0.1",
            "--port", str(emulator.port or 8095),
        ]  # fmt: skip
    # Links in pages and emails (the CalDAV server address, subscription links) point where it really runs.
    env = {**os.environ, "SITE_URL": os.environ.get("SITE_URL", f"http://{address}"),
           "EXCHANGE_SANDBOX_URL": sandbox_ews}  # fmt: skip
    processes = {name: subprocess.Popen(cmd, cwd=ROOT, env=env) for name, cmd in commands.items()}  # noqa: S603
    print(f"\ncalsync is starting at http://{address}/ (web, worker and beat). Press Ctrl-C to stop.", flush=True)
    print(f"CalDAV clients: server http://{address}/ with your email and an app password (Settings).", flush=True)
    if "google-sandbox" in commands:
        print(f"Sandbox Google's page: {os.environ.get('GOOGLE_EMULATOR_URL', 'http://127.0.0.1:8091')}/sandbox")
    if "microsoft-sandbox" in commands:
        emulator = urlsplit(os.environ.get("MICROSOFT_EMULATOR_URL", "https://127.0.0.1:8093"))
        print(f"Sandbox Microsoft 365's page: http://{emulator.hostname}:{(emulator.port or 8093) + 1}/sandbox")
    print(flush=True)
    try:
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with code {process.returncode}; stopping the others.", flush=True)
                    return process.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping calsync...", flush=True)
        return 0
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
