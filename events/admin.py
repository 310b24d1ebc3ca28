from django import forms
from django.contrib import admin

from .models import Calendar, Event, ImportJob, Tombstone
from .services import calendar_owner_change


class CalendarAdminForm(forms.ModelForm):
    """The admin's form (its fields come from CalendarAdmin): a new owner must be able to take the calendar."""

    def clean(self) -> dict:
        data = super().clean()
        owner, tenant = data.get("owner"), data.get("tenant")
        if owner is not None and tenant is not None and owner.tenant_id != tenant.pk:
            raise forms.ValidationError("The owner must be a person of the calendar's organisation.")
        taken = Calendar.objects.filter(owner=owner, dav_name=data.get("dav_name")).exclude(pk=self.instance.pk)
        if owner is not None and taken.exists():
            raise forms.ValidationError("The owner already has a calendar at this CalDAV address (dav name).")
        return data


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "tenant", "change_seq", "created_at")
    list_filter = ("tenant",)
    search_fields = ("name", "owner__email")
    exclude = ("feed_token",)

    form = CalendarAdminForm

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        # A new owner goes through the service, so what follows the owner (the reports' time index) follows.
        if change and "owner" in form.changed_data:
            calendar_owner_change(calendar=obj, owner=obj.owner)
        super().save_model(request, obj, form, change)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "calendar", "start", "all_day", "rrule", "seq")
    list_filter = ("kind", "calendar__tenant")
    search_fields = ("title", "uid")
    raw_id_fields = ("calendar", "parent")


@admin.register(Tombstone)
class TombstoneAdmin(admin.ModelAdmin):
    list_display = ("uid", "calendar", "seq", "deleted_at")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("filename", "calendar", "status", "created_count", "updated_count", "created_at")
    list_filter = ("status",)
    exclude = ("payload",)
