from django.contrib import admin

from .models import Integration


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ("user", "provider", "calendar", "direction", "primary", "automatic", "sync_enabled", "status")
    list_filter = ("provider", "direction", "status", "tenant")
    exclude = ("credentials_encrypted",)  # secrets never appear on a page
    readonly_fields = ("local_cursor", "remote_cursor", "lock_token", "lock_expires_at", "notified_problem")
