from django.urls import path

from sync import views as sync_views

from . import views
from .caldav import views as caldav_views
from .exchange import views as exchange_views
from .google import views as google_views
from .ics import views as ics_views
from .microsoft import views as microsoft_views
from .microsoft import webhook as microsoft_webhook

app_name = "integrations"

urlpatterns = [
    path("integrations/connect/calsync/", views.connect_calsync, name="connect_calsync"),
    path("integrations/connect/caldav/", caldav_views.connect, name="caldav_connect"),
    path("integrations/connect/caldav/calendar/", caldav_views.choose, name="caldav_choose"),
    path("integrations/connect/ics/", ics_views.subscribe, name="ics_subscribe"),
    path("integrations/caldav/push/<str:token>/", caldav_views.push, name="caldav_push"),
    path("integrations/connect/google/", google_views.connect, name="google_connect"),
    path("integrations/connect/google/callback/", google_views.callback, name="google_callback"),
    path("integrations/connect/google/workspace/", google_views.connect_workspace, name="google_connect_workspace"),
    path("integrations/connect/google/calendar/", google_views.choose, name="google_choose"),
    path("integrations/google/push/", google_views.push, name="google_push"),
    path("manage/google/", google_views.workspace_admin, name="google_workspace"),
    path("integrations/microsoft/push/", microsoft_webhook.push, name="microsoft_push"),
    path("integrations/connect/microsoft/", microsoft_views.connect, name="microsoft_connect"),
    path("integrations/connect/microsoft/callback/", microsoft_views.callback, name="microsoft_callback"),
    path("integrations/connect/microsoft/calendar/", microsoft_views.choose, name="microsoft_choose"),
    path(
        "integrations/connect/microsoft/organisation/",
        microsoft_views.connect_organisation,
        name="microsoft_connect_organisation",
    ),
    path("manage/microsoft/", microsoft_views.organisation_admin, name="microsoft_organisation"),
    path("manage/microsoft/consented/", microsoft_views.consented, name="microsoft_consented"),
    path("integrations/connect/exchange/", exchange_views.connect, name="exchange_connect"),
    path("integrations/connect/exchange/calendar/", exchange_views.choose, name="exchange_choose"),
    path(
        "integrations/connect/exchange/organisation/",
        exchange_views.connect_organisation,
        name="exchange_connect_organisation",
    ),
    path("manage/exchange/", exchange_views.organisation_admin, name="exchange_organisation"),
    path("integrations/<int:pk>/", views.detail, name="detail"),
    path("integrations/<int:pk>/exchange/credentials/", exchange_views.update_credentials, name="exchange_credentials"),
    path("integrations/<int:pk>/caldav/credentials/", caldav_views.update_credentials, name="caldav_credentials"),
    path("integrations/<int:pk>/controls/", views.controls, name="controls"),
    path("integrations/<int:pk>/sync/", views.sync_now, name="sync_now"),
    path("integrations/<int:pk>/allow-deletions/", views.allow_mass_delete, name="allow_mass_delete"),
    path("integrations/<int:pk>/resync/", views.resync, name="resync"),
    path("integrations/<int:pk>/preview.json", views.preview_state, name="preview_state"),
    path("integrations/<int:pk>/previews/<int:preview_pk>/confirm/", views.preview_confirm, name="preview_confirm"),
    path("integrations/<int:pk>/previews/<int:preview_pk>/again/", views.preview_retry, name="preview_retry"),
    path("integrations/<int:pk>/status.json", views.status, name="status"),
    path("integrations/live.json", views.live, name="live"),
    path("integrations/<int:pk>/logs/", sync_views.logs, name="logs"),
    path("integrations/<int:pk>/disconnect/", views.disconnect, name="disconnect"),
    path("integrations/<int:pk>/undo/", sync_views.undo_since, name="undo_since"),
    path("sync-runs/<int:run_pk>/", sync_views.run_detail, name="run_detail"),
    path("sync-runs/<int:run_pk>/undo/", sync_views.undo_run, name="undo_run"),
    path("sync-runs/<int:run_pk>/lost/<int:entry_pk>/", sync_views.lost_version, name="lost_version"),
    path("manage/sync-logs/", sync_views.admin_logs, name="admin_logs"),
    path("history/", sync_views.event_story, name="event_story"),
    path("history/search/", sync_views.event_search, name="event_search"),
    path("manage/history/", sync_views.event_story, {"organisation": True}, name="admin_event_story"),
    path("manage/history/search/", sync_views.event_search, {"organisation": True}, name="admin_event_search"),
]
