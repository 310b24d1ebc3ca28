from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("reports/", views.report, name="report"),
    path("reports/events/", views.drill, name="drill"),
    path("reports/export.csv", views.export, {"fmt": "csv"}, name="export_csv"),
    path("reports/export.xlsx", views.export, {"fmt": "xlsx"}, name="export_xlsx"),
    path("reports/saved/new/", views.saved_create, name="saved_create"),
    path("reports/saved/<int:pk>/", views.saved_open, name="report_saved"),
    path("reports/saved/<int:pk>/edit/", views.saved_edit, name="saved_edit"),
    path("reports/saved/<int:pk>/query/", views.saved_update_query, name="saved_update_query"),
    path("reports/saved/<int:pk>/delete/", views.saved_delete, name="saved_delete"),
    path("reports/rules/", views.rules, name="rules"),
]
