"""Django for a benchmark: a throwaway SQLite database under var/bench unless DATABASE_URL is set."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_for_bench(name: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")
    if "DATABASE_URL" not in os.environ:
        folder = ROOT / "var" / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.sqlite3").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{folder / f'{name}.sqlite3'}"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class QueryCounter:
    """A database execute wrapper that counts queries (connection.execute_wrapper(counter))."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.count += 1
        return execute(sql, params, many, context)
