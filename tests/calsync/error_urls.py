"""calsync's URLs plus one view that fails, to see the 500 page as a visitor would."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from calsync.urls import handler403, handler404, handler500, urlpatterns  # noqa: F401  (the handlers are read here)


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", boom), *urlpatterns]
