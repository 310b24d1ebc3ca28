from django.contrib import admin

from .models import Calendar, Event, ImportJob, Tombstone


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "tenant", "change_seq", "created_at")
    list_filter = ("tenant",)
    search_fields = ("name", "owner__email")
    exclude = ("feed_token",)


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
