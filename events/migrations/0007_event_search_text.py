from django.db import migrations, models


def _text(row) -> str:  # type: ignore[no-untyped-def]
    """events.convert.search_text, from the stored columns (the same parts, in the same order)."""
    people = [part for a in row.attendees or [] for part in (a.get("name", ""), a.get("email", ""))]
    if row.organizer:
        people += [row.organizer.get("name", ""), row.organizer.get("email", "")]
    parts = [row.title, row.location, row.description, *people]
    return "\n".join(p for p in parts if p).casefold()


def fill(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    Event = apps.get_model("events", "Event")
    rows = Event.objects.only("id", "title", "location", "description", "attendees", "organizer")
    batch = []
    for row in rows.iterator(chunk_size=2000):
        row.search_text = _text(row)
        batch.append(row)
        if len(batch) == 2000:
            Event.objects.bulk_update(batch, ["search_text"])
            batch = []
    Event.objects.bulk_update(batch, ["search_text"])


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0006_business_lists_from_text"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="search_text",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
