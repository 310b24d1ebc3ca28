"""'Another calsync calendar' becomes a provider organisations allow or refuse. It used to work for everyone
whatever they had ticked, so every existing organisation starts with it allowed: nobody loses what they use."""

from django.db import migrations


def allow_calsync(apps, schema_editor):  # type: ignore[no-untyped-def]
    Tenant = apps.get_model("accounts", "Tenant")
    for tenant in Tenant.objects.all():
        if "calsync" not in tenant.allowed_providers:
            tenant.allowed_providers = [*tenant.allowed_providers, "calsync"]
            tenant.save(update_fields=["allowed_providers"])


def refuse_calsync(apps, schema_editor):  # type: ignore[no-untyped-def]
    Tenant = apps.get_model("accounts", "Tenant")
    for tenant in Tenant.objects.all():
        if "calsync" in tenant.allowed_providers:
            tenant.allowed_providers = [p for p in tenant.allowed_providers if p != "calsync"]
            tenant.save(update_fields=["allowed_providers"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_tenant_email_domain_aliases")]

    operations = [migrations.RunPython(allow_calsync, refuse_calsync)]
