from django.contrib import admin

from .models import SyncLogEntry, SyncMapping, SyncRun, UnsyncedItem


class EntryInline(admin.TabularInline):
    model = SyncLogEntry
    extra = 0
    readonly_fields = ("created_at", "level", "action", "uid", "title", "message")
    exclude = ("detail",)


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ("pk", "integration", "trigger", "status", "started_at", "finished_at", "conflicts", "unsynced")
    list_filter = ("status", "trigger", "tenant")
    inlines = [EntryInline]


@admin.register(SyncMapping)
class SyncMappingAdmin(admin.ModelAdmin):
    list_display = ("uid", "integration", "local_version", "remote_version", "updated_at")
    search_fields = ("uid",)


@admin.register(UnsyncedItem)
class UnsyncedItemAdmin(admin.ModelAdmin):
    list_display = ("uid", "integration", "side", "reason", "last_seen")
