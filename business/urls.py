from django.urls import path, register_converter

from . import views
from .kinds import KINDS


class KindConverter:
    regex = "|".join(KINDS)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(KindConverter, "list_kind")

app_name = "business"

urlpatterns = [
    path("lists/<list_kind:kind>/", views.entry_list, name="list"),
    path("lists/<list_kind:kind>/new/", views.entry_create, name="create"),
    path("lists/<list_kind:kind>/<int:pk>/", views.entry_edit, name="edit"),
    path("lists/<list_kind:kind>/<int:pk>/archive/", views.entry_archive, {"archive": True}, name="archive"),
    path("lists/<list_kind:kind>/<int:pk>/unarchive/", views.entry_archive, {"archive": False}, name="unarchive"),
    path("lists/<list_kind:kind>/<int:pk>/update-events/", views.entry_propagate, name="propagate"),
    path("lists/<list_kind:kind>/<int:pk>/merge/", views.entry_merge, name="merge"),
    path("lists/<list_kind:kind>/suggest/", views.suggest, name="suggest"),
]
