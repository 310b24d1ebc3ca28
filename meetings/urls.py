from django.urls import path

from . import views

app_name = "meetings"

urlpatterns = [
    path("meetings/new/", views.meeting_new, name="new"),
    path("events/<int:pk>/respond/", views.meeting_respond, name="respond"),
    path("meetings/answer/<str:token>/", views.meeting_answer_link, name="answer"),
    path("meetings/inbound/", views.inbound_reply, name="inbound"),
    path("manage/invitations/", views.sender_settings, name="sender"),
]
