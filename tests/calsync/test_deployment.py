"""docker-compose.yml cannot run here (no Docker engine), so check what it would run."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "worker-interactive", "dispatcher", "beat", "migrate")
# The queues every sync and housekeeping task goes to (README "Production").
QUEUES = {"sync_manual", "sync_push", "sync_polled", "celery"}


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def _settings(command: list[str]) -> dict[str, str]:
    """`-c name=value` pairs of a postgres command line, `--name value` pairs of a redis-server one."""
    if command[0] == "postgres":
        return dict(command[i + 1].split("=", 1) for i, word in enumerate(command) if word == "-c")
    return {word[2:]: command[i + 1] for i, word in enumerate(command) if word.startswith("--")}


def test_compose_has_the_production_services() -> None:
    services = _compose()["services"]
    assert {*APP_SERVICES, "postgres", "redis", "cache"} <= set(services)
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["CALSYNC_ENV"] == "production"
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://redis:")
        assert env["CACHE_URL"].startswith("redis://cache:")


def test_compose_commands_point_at_real_code() -> None:
    services = _compose()["services"]
    module, _, attribute = services["web"]["command"][1].partition(":")
    assert hasattr(importlib.import_module(module), attribute)
    for name, kind in (("worker", "worker"), ("worker-interactive", "worker"), ("beat", "beat")):
        command = services[name]["command"]
        assert command[:4] == ["celery", "-A", "calsync", kind]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_the_dispatcher_runs_a_real_management_command() -> None:
    command = _compose()["services"]["dispatcher"]["command"]
    assert command[:2] == ["python", "manage.py"] and command[2] in get_commands()


def test_user_syncs_have_workers_of_their_own() -> None:
    """ "Synchronize now" and push never wait behind the polled backlog, and every queue has a worker."""
    services = _compose()["services"]
    polled = set(_option(services["worker"]["command"], "-Q").split(","))
    interactive = set(_option(services["worker-interactive"]["command"], "-Q").split(","))
    assert interactive == {"sync_manual", "sync_push"}
    assert "sync_polled" in polled and not polled & interactive
    assert polled | interactive == QUEUES


def test_workers_and_dispatchers_can_be_scaled_and_beat_cannot() -> None:
    """`--scale` refuses a service with a fixed container name or host port; beat must run exactly once."""
    services = _compose()["services"]
    for name in ("worker", "worker-interactive", "dispatcher"):
        assert "container_name" not in services[name] and "ports" not in services[name]
        assert "-n" not in services[name]["command"] or "%h" in _option(services[name]["command"], "-n")
    beats = [name for name, service in services.items() if "beat" in service.get("command", [])]
    assert beats == ["beat"] and services["beat"]["container_name"]


def test_workers_finish_their_syncs_when_stopped() -> None:
    services = _compose()["services"]
    for name in ("worker", "worker-interactive"):
        grace = services[name]["stop_grace_period"]
        assert grace.endswith("m") and int(grace[:-1]) >= 1
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_databases_have_limits_and_health_checks() -> None:
    services = _compose()["services"]
    postgres = _settings(services["postgres"]["command"])
    assert int(postgres["max_connections"]) >= 100 and "pg_stat_statements" in postgres["shared_preload_libraries"]
    broker, cache = _settings(services["redis"]["command"]), _settings(services["cache"]["command"])
    # A broker that evicts loses queued syncs; a cache that does not evict fills up and refuses writes.
    assert broker["maxmemory-policy"] == "noeviction" and broker["appendonly"] == "yes"
    assert cache["maxmemory-policy"] == "allkeys-lru" and cache["maxmemory"]
    for name in ("postgres", "redis", "cache"):
        assert services[name]["healthcheck"]["test"]
    for name in ("postgres", "redis", "cache"):
        assert services["migrate"]["depends_on"][name]["condition"] == "service_healthy"


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "SECRET_KEY:" not in text and "${POSTGRES_PASSWORD:?" in text
