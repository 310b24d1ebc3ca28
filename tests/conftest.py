"""Shared fixtures. Under CI (CI=true) the suite must run on PostgreSQL with Redis: anything else fails."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from .factories import CalendarFactory, TenantFactory, UserFactory

ON_CI = os.environ.get("CI", "").lower() == "true"


def pytest_configure(config: pytest.Config) -> None:
    if ON_CI and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise pytest.UsageError("CI=true but DATABASE_URL is not PostgreSQL: refusing to test on anything else.")
    if ON_CI and not settings.CELERY_BROKER_URL.startswith("redis://"):
        raise pytest.UsageError("CI=true but the Celery broker is not Redis.")
    if ON_CI and not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        raise pytest.UsageError("CI=true but the cache is not Redis.")


@pytest.fixture(autouse=True)
def _eager_celery(settings):  # type: ignore[no-untyped-def]
    """Tasks run in-process unless a test starts a real worker (see tests/calsync/test_worker.py)."""
    from calsync.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """`with run_on_commit():` runs what was queued for after the commit (a sync, an import) at the block's end."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def tenant(db):  # type: ignore[no-untyped-def]
    return TenantFactory(slug="acme", name="Acme")


@pytest.fixture
def other_tenant(db):  # type: ignore[no-untyped-def]
    return TenantFactory(slug="globex", name="Globex")


@pytest.fixture
def member(tenant):  # type: ignore[no-untyped-def]
    return UserFactory(tenant=tenant, email="member@acme.test", timezone="Europe/Berlin")


@pytest.fixture
def admin_user(tenant):  # type: ignore[no-untyped-def]
    return UserFactory(tenant=tenant, email="admin@acme.test", role="admin")


@pytest.fixture
def outsider(other_tenant):  # type: ignore[no-untyped-def]
    return UserFactory(tenant=other_tenant, email="someone@globex.test", role="admin")


@pytest.fixture
def calendar(member):  # type: ignore[no-untyped-def]
    return CalendarFactory(owner=member, tenant=member.tenant, name="Work")


@pytest.fixture
def member_client(client, member):  # type: ignore[no-untyped-def]
    client.force_login(member)
    return client


@pytest.fixture
def admin_client_(client, admin_user):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    return client


ROOT = Path(__file__).resolve().parents[1]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def celery_worker(**env: str):  # type: ignore[no-untyped-def]
    """A real worker process on queues of its own, so no other worker on this machine can take the test's tasks:
    a private default queue, and the sync queues (calsync.queue) under a private prefix, in this process and in
    the worker (whose own publishes, a retry say, must come back to it).

    `env` adds to its environment (another broker, shorter heartbeats)."""
    from django.test import override_settings

    from calsync.queue import SYNC_QUEUES

    queue = f"test-{uuid.uuid4().hex[:8]}"
    prefix = f"{queue}."
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_TASK_ALWAYS_EAGER": "false",
           "CELERY_QUEUE_PREFIX": prefix, **env}  # fmt: skip
    queues = ",".join([queue, *(prefix + name for name in SYNC_QUEUES)])
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "calsync", "worker", "-Q", queues, "--pool=solo", "--loglevel=WARNING"],
        cwd=ROOT,
        env=env,
    )
    from calsync.celery import app

    app.conf.task_always_eager = False
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        with override_settings(CELERY_QUEUE_PREFIX=prefix):
            yield process
    finally:
        app.conf.task_default_queue = previous
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def worker_queue():  # type: ignore[no-untyped-def]
    with celery_worker() as process:
        yield process


@contextlib.contextmanager
def celery_broker(url: str):  # type: ignore[no-untyped-def]
    """Tasks published in this process go to the broker at `url` (not run eagerly) inside the block."""
    from calsync.celery import app

    def forget_connections() -> None:  # the next publish connects to whatever broker_url says
        app._pool = None
        app.amqp._producer_pool = None

    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = url, False
    forget_connections()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.task_always_eager = saved
        forget_connections()


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[bytes] | None, what: str) -> None:
    """Poll `condition` for up to 90 s, failing at once if `process` (a worker, beat) dies meanwhile."""
    deadline = time.monotonic() + 90
    while not condition():
        assert process is None or process.poll() is None, f"the process died while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unreachable_queue():  # type: ignore[no-untyped-def]
    """The Celery broker is a local port nothing listens on: every publish is refused."""
    with celery_broker(f"redis://127.0.0.1:{free_port()}/0"):
        yield


@pytest.fixture(scope="session")
def radicale():  # type: ignore[no-untyped-def]
    from .caldav_servers import start_radicale

    server, shutdown = start_radicale()
    yield server
    shutdown.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def xandikos():  # type: ignore[no-untyped-def]
    from .caldav_servers import start_xandikos

    server, embedded = start_xandikos()
    yield server
    embedded.stop()  # type: ignore[attr-defined]


@pytest.fixture(params=["radicale", "xandikos"])
def caldav_server(request):  # type: ignore[no-untyped-def]
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def google_emulator():  # type: ignore[no-untyped-def]
    """The project's Google emulator on a local port, for the whole session."""
    from emulators.google import serve

    app, server = serve(clients={"calsync-test": "calsync-test-secret"})
    yield app
    server.shutdown()


@pytest.fixture
def google(google_emulator, settings):  # type: ignore[no-untyped-def]
    """Google's endpoints pointed at the emulator, its faults cleared."""
    base = google_emulator.base_url
    settings.GOOGLE_CLIENT_ID, settings.GOOGLE_CLIENT_SECRET = "calsync-test", "calsync-test-secret"
    settings.GOOGLE_AUTH_URI, settings.GOOGLE_TOKEN_URI = f"{base}/o/oauth2/auth", f"{base}/token"
    settings.GOOGLE_REVOKE_URI, settings.GOOGLE_API_ENDPOINT = f"{base}/revoke", f"{base}/calendar/v3/"
    settings.GOOGLE_BATCH_URI = f"{base}/batch/calendar/v3"
    settings.GOOGLE_WEBHOOK_BASE_URL = ""  # push is tested on its own; elsewhere syncs are asked for
    google_emulator.state.faults.update(rate_limit=0, server_error=0, omit_refresh_token=False, retry_after=None)
    yield google_emulator


@pytest.fixture
def google_account(google):  # type: ignore[no-untyped-def]
    """A fresh Google account that has already consented to calsync: (email, tokens)."""
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    return email, google.state.authorize(email, "calsync-test")


@pytest.fixture(scope="session")
def microsoft_emulator(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The project's Microsoft emulator (HTTPS, self-signed), for the whole session: (app, certificate)."""
    from emulators.microsoft import serve

    app, server, cert = serve(
        apps={"calsync-test": "calsync-test-secret"}, cert_folder=tmp_path_factory.mktemp("ms"), browser_port=0
    )
    yield app, cert
    server.shutdown()


@pytest.fixture
def microsoft(microsoft_emulator, settings):  # type: ignore[no-untyped-def]
    """Microsoft's endpoints pointed at the emulator, whose certificate is trusted explicitly; faults cleared."""
    app, cert = microsoft_emulator
    settings.MICROSOFT_CLIENT_ID, settings.MICROSOFT_CLIENT_SECRET = "calsync-test", "calsync-test-secret"
    settings.MICROSOFT_AUTHORITY_HOST, settings.MICROSOFT_GRAPH_URL = app.base_url, f"{app.base_url}/v1.0"
    settings.MICROSOFT_EMULATOR_BROWSER_URL = app.browser_url
    settings.MICROSOFT_CA_BUNDLE = str(cert)
    settings.MICROSOFT_WEBHOOK_BASE_URL = ""  # push is tested on its own (tests/integrations/test_microsoft_push.py)
    app.state.faults.update(throttle=0, retry_after=2)
    yield app


@pytest.fixture
def microsoft_mailbox(microsoft):  # type: ignore[no-untyped-def]
    """A fresh mailbox that has consented to calsync: (address, tokens)."""
    upn = f"user-{uuid.uuid4().hex[:10]}@contoso.example"
    return upn, microsoft.state.authorize(upn, "calsync-test")


@pytest.fixture(scope="session")
def exchange_emulator():  # type: ignore[no-untyped-def]
    """The project's Exchange (EWS) emulator, for the whole session."""
    from emulators.exchange.app import serve

    app, server, url = serve()
    yield app, url
    server.shutdown()


@pytest.fixture
def exchange(exchange_emulator, settings):  # type: ignore[no-untyped-def]
    """The EWS emulator with its faults cleared; its URL is `exchange.url`."""
    app, url = exchange_emulator
    settings.EXCHANGE_ALLOW_HTTP = True
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = True
    app.state.faults.update(busy=0, back_off_ms=1000)
    app.url = url
    yield app


@pytest.fixture
def exchange_mailbox(exchange):  # type: ignore[no-untyped-def]
    """A fresh mailbox whose owner logs in as CORP\\<name>: (address, Server)."""
    from integrations.exchange.client import Server

    name = f"user{uuid.uuid4().hex[:10]}"
    address = f"{name}@corp.example"
    exchange.state.mailbox(address, name.title(), password="s3cret-pass", username=f"CORP\\{name}")
    return address, Server(exchange.url, name, "s3cret-pass", domain="CORP")


@pytest.fixture(scope="session")
def tls_server():  # type: ignore[no-untyped-def]
    """An HTTPS server with a self-signed certificate nobody trusts."""
    from .tls import start_tls_server

    url, stop = start_tls_server()
    yield url
    stop()
