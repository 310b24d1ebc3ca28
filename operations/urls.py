from django.urls import path

from . import views

app_name = "operations"

urlpatterns = [
    path("", views.board, name="health"),
    path("integrations/<int:pk>/ask-reconnect/", views.ask_reconnect, name="ask_reconnect"),
    path("integrations/<int:pk>/sync-now/", views.sync_now, name="sync_now"),
    path("integrations/<int:pk>/resync/", views.resync, name="resync"),
]
