"""Production settings: `check --deploy` is clean, https is enforced but health checks are answered over http,
every page carries a Content-Security-Policy the templates keep to, and file email works or is refused clearly."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from .test_health_and_settings import GOOD, ROOT, _boot


def test_check_deploy_passes_without_a_warning() -> None:
    check = "import django; django.setup(); from django.core import management; "
    check += "management.call_command('check', deploy=True, fail_level='WARNING')"
    result = _boot(check, **GOOD)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.django_db
def test_https_is_enforced_except_for_the_health_check(client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31_536_000
    plain = client.get("/login/")
    assert plain.status_code == 301 and plain["Location"] == "https://testserver/login/"
    assert client.get(reverse("healthz")).status_code == 200
    secure = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200 and secure["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.django_db
def test_every_page_carries_the_policy(client, member) -> None:  # type: ignore[no-untyped-def]
    for response in (client.get("/login/"), client.get(reverse("healthz"))):
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


_INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


def test_templates_hold_no_inline_script_style_or_handler() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in (ROOT / "templates").rglob("*.html")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _INLINE.search(line)
    ]
    assert not found, "The Content-Security-Policy refuses these; move them to static/:\n" + "\n".join(found)


_SEND = (
    "import django; django.setup(); from django.core.mail import send_mail; "
    "send_mail('Sync failed', 'The body', 'calsync@example.test', ['ann@example.test']); print('sent')"
)


def test_file_email_is_written_to_the_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mail_dir = tmp_path / "mail"
    result = _boot(_SEND, EMAIL_URL=f"filemail://{mail_dir}", CALSYNC_VAR_DIR=str(tmp_path / "var"))
    assert result.returncode == 0, result.stderr
    [message] = list(mail_dir.iterdir())
    assert "Subject: Sync failed" in message.read_text() and "ann@example.test" in message.read_text()


@pytest.mark.parametrize("url", ["filemail://", "filemail://var/mail"])
def test_file_email_without_an_absolute_directory_is_refused_at_start(url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = _boot(EMAIL_URL=url, CALSYNC_VAR_DIR=str(tmp_path / "var"))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "needs an absolute directory" in result.stderr
