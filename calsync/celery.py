"""The Celery application. Periodic schedules are declared in settings.CELERY_BEAT_SCHEDULE."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")

app = Celery("calsync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery's Django fix-up closes the worker's database connections before and after every task, so each sync
# opened a new PostgreSQL connection, which cost the database more than the sync's own statements
# (docs/capacity.md). A worker instead treats a task as Django treats a request: a connection lives for
# CONN_MAX_AGE (0 in development: closed after each task, as before) and is dropped as soon as it is unusable.
app.conf["CELERY_DB_REUSE_MAX"] = 1_000_000  # the fix-up then closes them only this often, which is never in practice


@task_prerun.connect
@task_postrun.connect
def _connections_like_a_request(sender: Any = None, **kwargs: Any) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # run inside a web request or a test: that connection is theirs
    from django.db import close_old_connections

    close_old_connections()
