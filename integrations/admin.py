from django.contrib import admin

from .models import Integration


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ("user", "provider", "calendar", "direction", "primary", "automatic", "sync_enabled")
    list_filter = ("provider", "direction", "tenant")
