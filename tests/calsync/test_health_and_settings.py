from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "status": "ok"}


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_down(client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["broker"] == "unavailable" and response.json()["database"] == "ok"


def _boot(code: str = "import django; django.setup(); print('booted')", **env: str) -> subprocess.CompletedProcess[str]:
    # Not what the test run set for itself, either (the browser tests allow async-unsafe calls).
    unset = ("DATABASE_URL", "SECRET_KEY", "REDIS_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT, env={**clean, "DJANGO_SETTINGS_MODULE": "calsync.settings", **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


GOOD = {
    "CALSYNC_ENV": "production",
    "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "SECRET_KEY": secrets.token_urlsafe(60),
    "ALLOWED_HOSTS": "calsync.example.com",
    "DATABASE_URL": "postgres://calsync@db:5432/calsync",
    "REDIS_URL": "redis://redis:6379/0",
}


def test_production_boots_with_complete_settings() -> None:
    result = _boot(**GOOD)
    assert result.returncode == 0, result.stderr
    assert "booted" in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is required"),
        ({"SECRET_KEY": "short"}, "at least 50 characters"),
        ({"SECRET_KEY": "k" * 60}, "and random"),
        ({"SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(60)}, "and random"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is required"),
        ({"DATABASE_URL": "sqlite:////tmp/x.db"}, "must point at PostgreSQL"),
        ({"REDIS_URL": ""}, "Set REDIS_URL"),
        ({"ENCRYPTION_KEYS": ""}, "ENCRYPTION_KEYS is required"),
        ({"CALSYNC_ENV": "staging"}, "must be 'development' or 'production'"),
        ({"ICAL_EARLIEST_YEAR": "1"}, "ICAL_EARLIEST_YEAR and ICAL_LATEST_YEAR must be in order"),
        ({"ICAL_LATEST_YEAR": "9999"}, "ICAL_EARLIEST_YEAR and ICAL_LATEST_YEAR must be in order"),
    ],
)
def test_production_refuses_unsafe_settings(change: dict[str, str], message: str) -> None:
    env = {**GOOD, **change}
    result = _boot(**{k: v for k, v in env.items() if v})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
