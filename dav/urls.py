from django.urls import path, re_path

from . import views

app_name = "dav"

urlpatterns = [
    path(".well-known/caldav", views.well_known, name="well_known"),
    re_path(r"^caldav/(?P<path>.*)$", views.dav, name="dav"),
]
