from django.urls import path

from . import views

app_name = "scheduling"

urlpatterns = [
    path("find-a-time/", views.find_time, name="find_time"),
    path("settings/scheduling/", views.personal_settings, name="settings"),
    path("settings/scheduling/calendars/<int:pk>/share/", views.share_create, name="share_create"),
    path("settings/scheduling/shares/<int:pk>/delete/", views.share_delete, name="share_delete"),
    path("manage/scheduling/", views.policy, name="policy"),
]
