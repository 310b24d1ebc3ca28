from django.urls import path

from . import views

app_name = "rules"

urlpatterns = [
    path("manage/rules/", views.rule_index, name="index"),
    path("manage/rules/new/", views.rule_create, name="create"),
    path("manage/rules/<int:pk>/", views.rule_edit, name="edit"),
    path("manage/rules/<int:pk>/delete/", views.rule_delete, name="delete"),
    path("manage/rules/<int:pk>/move/", views.rule_move, name="move"),
    path("manage/rules/apply/", views.rule_rerun, name="rerun"),
]
