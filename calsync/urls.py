from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("operator/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("events.urls")),
    path("", include("integrations.urls")),
    path("", include("dav.urls")),
    path("", include("scheduling.urls")),
    path("", include("meetings.urls")),
    path("", include("business.urls")),
    path("", include("reports.urls")),
    path("", include("business.rules.urls")),
    path("manage/health/", include("operations.urls")),
]

handler403 = "calsync.errors.permission_denied"
handler404 = "calsync.errors.page_not_found"
handler500 = "calsync.errors.server_error"
