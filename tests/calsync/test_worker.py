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
