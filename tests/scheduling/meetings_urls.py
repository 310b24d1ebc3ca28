"""calsync's URLs plus a stand-in meetings page (the meetings app lives on another branch), for book_url."""

from django.http import HttpResponse
from django.urls import include, path

from calsync.urls import urlpatterns as calsync_urls

meetings = ([path("meetings/new/", lambda request: HttpResponse("new meeting"), name="new")], "meetings")
urlpatterns = [*calsync_urls, path("", include(meetings))]
