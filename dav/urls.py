from django.urls import path, re_path

from . import pages, views

app_name = "dav"

urlpatterns = [
    path(".well-known/caldav", views.well_known, name="well_known"),
    re_path(r"^caldav/(?P<path>.*)$", views.dav, name="dav"),
    path("feeds/<str:token>.ics", pages.feed, name="feed"),
    path("settings/app-passwords/", pages.app_passwords, name="app_passwords"),
    path("settings/app-passwords/<int:pk>/revoke/", pages.app_password_revoke, name="app_password_revoke"),
]
