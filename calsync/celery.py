"""The Celery application. Periodic schedules are declared in settings.CELERY_BEAT_SCHEDULE."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")

app = Celery("calsync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
