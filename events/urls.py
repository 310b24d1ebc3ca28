from django.urls import path

from . import grid_views, views

app_name = "events"

urlpatterns = [
    path("calendar/", grid_views.calendar_page, name="calendar"),
    path("calendar/events.json", grid_views.events_feed, name="grid_events"),
    path("calendar/events/new.json", grid_views.event_create, name="grid_create"),
    path("calendar/events/<int:pk>/change.json", grid_views.event_change, name="grid_change"),
    path("calendar/visibility.json", grid_views.calendar_visibility, name="grid_visibility"),
    path("calendar/list/", views.calendar_list, name="calendar_list"),
    path("calendar/search/", views.calendar_search, name="search"),
    path("events/new/", views.event_create, name="event_create"),
    path("events/<int:pk>/", views.event_detail, name="event_detail"),
    path("events/<int:pk>/edit/", views.event_edit, name="event_edit"),
    path("events/<int:pk>/summary/", views.event_summary, name="event_summary"),
    path("events/<int:pk>/delete/", views.event_delete, name="event_delete"),
    path("events/<int:pk>/occurrences/<str:rid>/edit/", views.occurrence_edit, name="occurrence_edit"),
    path("events/<int:pk>/occurrences/<str:rid>/delete/", views.occurrence_delete, name="occurrence_delete"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/new/", views.task_create, name="task_create"),
    path("tasks/<int:pk>/edit/", views.task_edit, name="task_edit"),
    path("tasks/<int:pk>/delete/", views.task_delete, name="task_delete"),
    path("calendars/", views.calendar_index, name="calendar_index"),
    path("calendars/new/", views.calendar_create, name="calendar_create"),
    path("calendars/<int:pk>/edit/", views.calendar_edit, name="calendar_edit"),
    path("calendars/<int:pk>/delete/", views.calendar_delete, name="calendar_delete"),
    path("calendars/<int:pk>/subscription/rotate/", views.calendar_feed_rotate, name="calendar_feed_rotate"),
    path("calendars/<int:pk>/export.ics", views.calendar_export, name="calendar_export"),
    path("calendars/<int:pk>/import/", views.calendar_import, name="calendar_import"),
    path("imports/<int:pk>/", views.import_status, name="import_status"),
]
