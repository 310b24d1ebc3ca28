"""The free-text client, project and activity every event had become entries in the organisation's lists.

Names that differ only in case or spacing become one entry (spelled as first found); a project belongs to the
client written on the same event (none: an internal project). Every event row, overrides included, is linked
to its entries; no name is dropped.
"""

from django.db import migrations


def _clean(text):
    return " ".join(text.split())


def _entry(model, index, tenant_id, name, **fields):
    key = (tenant_id, *[v.pk if hasattr(v, "pk") else v for v in fields.values()], _clean(name).casefold())
    if key not in index:
        index[key] = model.objects.create(tenant_id=tenant_id, name=_clean(name)[:200], **fields)
    return index[key]


def forwards(apps, schema_editor):
    Event = apps.get_model("events", "Event")
    Client, Project, Activity = (apps.get_model("business", n) for n in ("Client", "Project", "Activity"))
    clients, projects, activities = {}, {}, {}
    combos = (
        Event.objects.exclude(client="", project="", activity_type="")
        .values_list("tenant_id", "client", "project", "activity_type")
        .distinct()
    )
    for tenant_id, client_name, project_name, activity_name in combos.iterator():
        client = _entry(Client, clients, tenant_id, client_name) if _clean(client_name) else None
        project = _entry(Project, projects, tenant_id, project_name, client=client) if _clean(project_name) else None
        activity = _entry(Activity, activities, tenant_id, activity_name) if _clean(activity_name) else None
        Event.objects.filter(
            tenant_id=tenant_id, client=client_name, project=project_name, activity_type=activity_name
        ).update(
            client_ref=client, project_ref=project, activity_ref=activity,
            client=client.name if client else "", project=project.name if project else "",
            activity_type=activity.name if activity else "",
        )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("events", "0005_business_links"), ("business", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
