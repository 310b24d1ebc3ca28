"""Integration.push_channel: the Google webhook finds its integration by an indexed column, no longer by a key
inside the JSON config; filled here from the channels already open (config["channel"]["id"])."""

from django.db import migrations, models
from django.db.models import Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce


def fill_from_config(apps, schema_editor):  # type: ignore[no-untyped-def]
    Integration = apps.get_model("integrations", "Integration")
    with_channel = Integration.objects.filter(provider="google", config__channel__id__isnull=False)
    with_channel.update(push_channel=Coalesce(KT("config__channel__id"), Value("")))


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0005_microsoft_certificate"),
    ]

    operations = [
        migrations.AddField(
            model_name="integration",
            name="push_channel",
            field=models.CharField(blank=True, db_index=True, max_length=200),
        ),
        migrations.RunPython(fill_from_config, migrations.RunPython.noop),
    ]
