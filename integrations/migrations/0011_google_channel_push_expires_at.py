"""Google channels' end in the indexed push_expires_at, which channels_renew now reads (not
config["channel"]["expiration"]): filled here for the channels already open, and "due now" for those whose
first open failed, so the next hourly renewal tries them again."""

from datetime import UTC, datetime

from django.db import migrations
from django.utils import timezone


def fill_from_config(apps, schema_editor):  # type: ignore[no-untyped-def]
    Integration = apps.get_model("integrations", "Integration")
    google = Integration.objects.filter(provider="google", push_expires_at__isnull=True)
    for row in google.filter(config__channel__expiration__isnull=False).only("pk", "config").iterator():
        try:
            expires = datetime.fromtimestamp(int(row.config["channel"]["expiration"]) / 1000, tz=UTC)
        except (TypeError, ValueError, KeyError, OverflowError):
            expires = timezone.now()
        Integration.objects.filter(pk=row.pk).update(push_expires_at=expires)
    google.filter(push_state="failed").update(push_expires_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0010_integration_owner_active_until"),
    ]

    operations = [migrations.RunPython(fill_from_config, migrations.RunPython.noop)]
