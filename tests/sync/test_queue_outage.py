"""The task queue goes down and comes back, with a real Redis of the test's own and a real worker process.

Never the machine's shared Redis: a throwaway redis-server on a free port, stopped and started by the test.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from events import services as events
from events.models import Event
from integrations.models import Integration
from sync.models import SyncRun
from tests.conftest import celery_broker, celery_worker, free_port, wait_until
from tests.factories import CalendarFactory

from .items import event

pytestmark = pytest.mark.worker


class ThrowawayRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.fail("The broker-outage tests need redis-server (apt-get install redis-server); they never skip.")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout != b"PONG\n":
            assert time.monotonic() < deadline and self.process.poll() is None, "redis-server did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=20)


@pytest.fixture
def redis_server():  # type: ignore[no-untyped-def]
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()


def wait_finished(run: SyncRun, worker: subprocess.Popen[bytes]) -> SyncRun:
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).finished, worker, "the sync")
    run.refresh_from_db()
    return run


@pytest.mark.django_db(transaction=True)
def test_synchronize_now_while_the_broker_is_down_then_after_it_is_back(client, member, calendar, redis_server) -> None:  # type: ignore[no-untyped-def]
    other = CalendarFactory(owner=member, name="Personal")
    events.item_save(calendar=calendar, item=event("a@test", "Planning"))
    integration = Integration.objects.create(
        tenant=member.tenant, user=member, provider="calsync", calendar=calendar, remote_calendar_id=str(other.pk),
        automatic=False,
    )  # fmt: skip
    client.force_login(member)
    url = reverse("integrations:sync_now", args=[integration.pk])
    with celery_broker(redis_server.url), celery_worker(CELERY_BROKER_URL=redis_server.url) as worker:
        redis_server.stop()
        page = client.post(url, follow=True)
        assert page.status_code == 200 and "Could not reach the task queue" in page.content.decode()
        with pytest.raises(CommandError, match="Could not reach the task queue"):
            call_command("sync_now", "--tenant", "acme", "--integration", str(integration.pk), stdout=io.StringIO())
        assert list(integration.runs.values_list("status", flat=True)) == ["failed", "failed"]

        redis_server.start()  # back, empty, on the same port: the worker reconnects
        page = client.post(url, follow=True)
        assert "Sync started." in page.content.decode()
        run = wait_finished(integration.runs.get(status__in=["queued", "running", "success"]), worker)
    assert run.status == "success", run.error
    assert Event.objects.filter(calendar=other, uid="a@test").count() == 1


def queued_messages(server: ThrowawayRedis) -> int:
    answer = subprocess.run(["redis-cli", "-p", str(server.port), "llen", "celery"], capture_output=True, text=True)
    return int(answer.stdout.strip() or 0) if answer.returncode == 0 else 0


def test_beat_keeps_running_through_a_broker_outage_and_dispatches_again_after(redis_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import ROOT

    env = {**os.environ, "CELERY_BROKER_URL": redis_server.url, "SYNC_DISPATCH_SECONDS": "1"}
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "calsync", "beat", "--loglevel=WARNING",
         "--schedule", str(tmp_path / "beat-schedule"), "--pidfile", str(tmp_path / "beat.pid")],
        cwd=ROOT, env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: queued_messages(redis_server) > 0, beat, "beat's first dispatch")
        redis_server.stop()
        time.sleep(5)  # several dispatches due while the broker is gone
        assert beat.poll() is None, "beat stopped when the broker went away"
        redis_server.start()  # back, empty
        wait_until(lambda: queued_messages(redis_server) > 0, beat, "beat's dispatch after the outage")
    finally:
        beat.terminate()
        beat.wait(timeout=20)
