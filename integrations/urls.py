from django.urls import path

from . import views

app_name = "integrations"

urlpatterns = [
    path("integrations/connect/calsync/", views.connect_calsync, name="connect_calsync"),
    path("integrations/<int:pk>/", views.detail, name="detail"),
    path("integrations/<int:pk>/sync/", views.sync_now, name="sync_now"),
    path("integrations/<int:pk>/allow-deletions/", views.allow_mass_delete, name="allow_mass_delete"),
    path("integrations/<int:pk>/status.json", views.status, name="status"),
    path("integrations/<int:pk>/logs/", views.logs, name="logs"),
    path("integrations/<int:pk>/disconnect/", views.disconnect, name="disconnect"),
    path("sync-runs/<int:run_pk>/", views.run_detail, name="run_detail"),
    path("manage/sync-logs/", views.admin_logs, name="admin_logs"),
]
