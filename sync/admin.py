from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import SyncLogEntry, SyncMapping, SyncRun, UnsyncedItem


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ("pk", "integration", "trigger", "status", "started_at", "finished_at", "conflicts", "unsynced")
    list_filter = ("status", "trigger", "tenant")
    list_select_related = ("integration",)
    raw_id_fields = ("tenant", "integration")
    # A run can log tens of thousands of entries: they are paged on their own list (log_entries), not inlined.
    readonly_fields = ("log_entries",)

    @admin.display(description="Log")
    def log_entries(self, run: SyncRun) -> str:
        url = reverse("admin:sync_synclogentry_changelist") + f"?run__id__exact={run.pk}"
        return format_html('<a href="{}">{} entries</a>', url, run.entries.count())


@admin.register(SyncLogEntry)
class SyncLogEntryAdmin(admin.ModelAdmin):
    """Entries a page at a time; the losing version of a conflict (`detail`) only on an entry's own page."""

    list_display = ("created_at", "run", "level", "action", "uid", "title", "message")
    list_filter = ("level",)
    list_per_page = 100
    show_full_result_count = False
    raw_id_fields = ("run",)
    readonly_fields = ("created_at",)

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).defer("detail")


@admin.register(SyncMapping)
class SyncMappingAdmin(admin.ModelAdmin):
    list_display = ("uid", "integration", "local_version", "remote_version", "updated_at")
    search_fields = ("uid",)


@admin.register(UnsyncedItem)
class UnsyncedItemAdmin(admin.ModelAdmin):
    list_display = ("uid", "integration", "side", "reason", "last_seen")
