from django.urls import path

from . import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("manage/", views.admin_users, name="admin_users"),
    path("manage/users/new/", views.admin_user_create, name="admin_user_create"),
    path("manage/users/<int:pk>/", views.admin_user_edit, name="admin_user_edit"),
    path("manage/organisation/", views.admin_tenant, name="admin_tenant"),
]
