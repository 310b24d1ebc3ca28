from django.contrib import admin

from .models import Activity, BusinessSettings, Client, Project

admin.site.register([Client, Project, Activity, BusinessSettings])
