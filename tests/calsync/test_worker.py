"""A real Celery worker process (Redis under CI) picks up a task queued by a web request."""

from __future__ import annotations

import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from calsync.celery import app
from events.models import Event, ImportJob

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\n"
    "BEGIN:VEVENT\r\nUID:from-worker@test\r\nDTSTART:20261123T100000Z\r\nDTEND:20261123T110000Z\r\n"
    "SUMMARY:Imported by a worker\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_uploaded_ics_file_is_imported_by_a_real_worker(client, member, calendar, worker_queue) -> None:  # type: ignore[no-untyped-def]
    from django.conf import settings

    if os.environ.get("CI", "").lower() == "true":
        assert app.conf.broker_url.startswith("redis://"), "CI must use Redis"
        assert connection.vendor == "postgresql", "CI must use PostgreSQL"
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    client.force_login(member)
    upload = SimpleUploadedFile("team.ics", ICS.encode(), content_type="text/calendar")
    response = client.post(reverse("events:calendar_import", args=[calendar.pk]), {"file": upload})
    assert response.status_code == 302
    job = ImportJob.objects.get()
    deadline = time.monotonic() + 90
    while job.status in ("pending", "running") and time.monotonic() < deadline:
        assert worker_queue.poll() is None, "the worker process died"
        time.sleep(0.3)
        job.refresh_from_db()
    assert job.status == "done", job.error
    assert job.created_count == 1
    event = Event.objects.get(calendar=calendar, uid="from-worker@test")
    assert event.title == "Imported by a worker" and event.rrule == "FREQ=WEEKLY;COUNT=3"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts PostgreSQL sessions (CI runs it)")
def test_a_worker_keeps_its_database_connection_between_tasks_for_conn_max_age(member, calendar) -> None:  # type: ignore[no-untyped-def]
    from calsync.queue import publish
    from events.tasks import run_import  # any task that uses the database
    from tests.conftest import celery_worker, wait_until

    def sessions() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            return int(cursor.fetchone()[0])

    with celery_worker(CONN_MAX_AGE="60") as worker:
        jobs = []
        for n in range(6):
            job = ImportJob.objects.create(
                tenant=member.tenant,
                created_by=member,
                calendar=calendar,
                filename=f"{n}.ics",
                payload=ICS.replace("from-worker", f"w{n}"),
            )
            if n == 1:
                wait_until(lambda: ImportJob.objects.get(pk=jobs[0].pk).status == "done", worker, "the first import")
                before = sessions()  # the worker has connected by now
            publish(run_import, job.pk)
            jobs.append(job)
        wait_until(lambda: not ImportJob.objects.exclude(status="done").exists(), worker, "the imports")
        # Five more tasks: at most the worker's one reconnect (the fix-up's own), never one per task as before.
        assert sessions() - before <= 1 + 1  # + this test's own connection, which may be counted as it ends
