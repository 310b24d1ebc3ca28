"""Give every calendar a CalDAV path segment and a last-changed time.

dav_name must be unique per owner, so existing calendars get their own UUID
in a data step before the constraint is added.
"""

import uuid

import django.utils.timezone
from django.db import migrations, models

import events.models


def fill_dav_names(apps, schema_editor):
    Calendar = apps.get_model("events", "Calendar")
    for calendar in Calendar.objects.only("id").iterator():
        Calendar.objects.filter(pk=calendar.pk).update(dav_name=str(uuid.uuid4()))


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="calendar",
            name="dav_name",
            field=models.CharField(max_length=200, default=""),
            preserve_default=False,
        ),
        migrations.RunPython(fill_dav_names, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="calendar",
            name="dav_name",
            field=models.CharField(default=events.models.new_dav_name, max_length=200),
        ),
        migrations.AddField(
            model_name="calendar",
            name="changed_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="calendar",
            name="dav_properties",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="calendar",
            name="components",
            field=models.CharField(default="VEVENT,VTODO", max_length=20),
        ),
        migrations.AddConstraint(
            model_name="calendar",
            constraint=models.UniqueConstraint(fields=("owner", "dav_name"), name="calendar_unique_dav_name"),
        ),
    ]
