"""docker-compose.yml cannot run here (no Docker engine), so check what it would run."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_services() -> None:
    services = _compose()["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "migrate"} <= set(services)
    for name in ("web", "worker", "beat", "migrate"):
        env = services[name]["environment"]
        assert env["CALSYNC_ENV"] == "production"
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://redis:")


def test_compose_commands_point_at_real_code() -> None:
    services = _compose()["services"]
    module, _, attribute = services["web"]["command"][1].partition(":")
    assert hasattr(importlib.import_module(module), attribute)
    for name in ("worker", "beat"):
        command = services[name]["command"]
        assert command[:3] == ["celery", "-A", "calsync"] and command[3] == name
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "SECRET_KEY:" not in text and "${POSTGRES_PASSWORD:?" in text
