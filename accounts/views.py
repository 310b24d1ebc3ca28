"""Sign-in, personal settings and the tenant admins' area."""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from business.forms import ListsSettingsForm
from business.services import lists_settings_update
from business.services import settings_for as business_settings_for
from dav.services import server_url_for
from events.forms import timezone_choices
from events.selectors import main_calendar
from integrations.exchange.services import active_for as exchange_server_for
from integrations.google.services import workspace_for
from integrations.microsoft.organisation import active_for as microsoft_organisation_for
from integrations.providers import Provider

from . import services
from .forms import EmailLoginForm, ProfileForm, TenantForm, UserCreateForm, UserEditForm
from .tenancy import Scope


class LoginView(auth_views.LoginView):
    form_class = EmailLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


def login_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The email django-axes counts failures for: people type it in either case."""
    username = (credentials or {}).get("username") or request.POST.get("username") or ""
    return str(username).strip().lower()


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """The sign-in page again, saying why and for how long, instead of django-axes' bare 429."""
    minutes = max(1, round(django_settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    form = EmailLoginForm(request, initial={"username": login_username(request, credentials)})
    message = (
        f"Too many failed sign-ins for this email from your network. Try again in {minutes} minutes, "
        "or ask your administrator to unlock it."
    )
    response = render(request, "accounts/login.html", {"form": form, "locked_out": message}, status=429)
    response["Retry-After"] = str(int(django_settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


class LogoutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("settings")

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        messages.success(self.request, "Your password was changed.")
        return super().form_valid(form)


def _scope(request: HttpRequest) -> Scope:
    return Scope(request.user)  # type: ignore[arg-type]


def _add_errors(form: object, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)  # type: ignore[attr-defined]
    else:
        form.add_error(None, exc.messages)  # type: ignore[attr-defined]


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    user = request.user
    calendars = scope.calendars()
    initial = {"first_name": user.first_name, "last_name": user.last_name, "timezone": user.timezone,  # type: ignore[union-attr]
               "week_start": user.week_start, "default_calendar": main_calendar(calendars)}  # type: ignore[union-attr]  # fmt: skip
    form = ProfileForm(request.POST or None, initial=initial, calendars=calendars)
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_update(user=user, **form.cleaned_data)  # type: ignore[arg-type]
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Your settings were saved.")
            return redirect("settings")
    providers = [{"key": p.value, "label": p.label, "allowed": scope.tenant.allows(p.value)} for p in Provider]
    return render(
        request,
        "accounts/settings.html",
        {
            "form": form,
            "providers": providers,
            "timezones": timezone_choices(),
            "tenant": scope.tenant,
            "integrations": scope.integrations().select_related("calendar"),
            "caldav_server_url": server_url_for(user),  # type: ignore[arg-type]
            "google_workspace": workspace_for(user) is not None,  # type: ignore[arg-type]
            "google_sandbox": django_settings.GOOGLE_SANDBOX,
            "microsoft_sandbox": django_settings.MICROSOFT_SANDBOX and django_settings.MICROSOFT_EMULATOR_BROWSER_URL,
            "microsoft_organisation": microsoft_organisation_for(user) is not None,  # type: ignore[arg-type]
            "exchange_server": exchange_server_for(user) is not None,  # type: ignore[arg-type]
            "app_password_count": scope.app_passwords().count(),
        },
    )


@login_required
def admin_users(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    scope.require_admin()
    return render(request, "accounts/admin_users.html", {"users": scope.users(), "tenant": scope.tenant})


@login_required
def admin_user_create(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    scope.require_admin()
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(tenant=scope.tenant, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"{user.email} was added. They can sign in now.")
            return redirect("admin_users")
    return render(request, "accounts/admin_user_form.html", {"form": form})


@login_required
def admin_user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    managed = scope.managed_user(pk)
    initial = {
        "role": managed.role,
        "can_setup_integrations": managed.can_setup_integrations,
        "is_active": managed.is_active,
    }
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(user=managed, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"{managed.email} was updated.")
            return redirect("admin_users")
    return render(request, "accounts/admin_user_form.html", {"form": form, "managed": managed})


@login_required
def admin_tenant(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    scope.require_admin()
    tenant = scope.tenant
    initial = {
        "name": tenant.name,
        "timezone": tenant.timezone,
        "allowed_providers": tenant.allowed_providers,
        "default_can_setup_integrations": tenant.default_can_setup_integrations,
        "log_retention_days": tenant.log_retention_days,
    }
    form = TenantForm(request.POST or None, initial=initial)
    lists_initial = {"members_manage_lists": business_settings_for(tenant).members_manage_lists}
    lists_form = ListsSettingsForm(request.POST or None, initial=lists_initial)
    if request.method == "POST" and form.is_valid() and lists_form.is_valid():
        services.tenant_update(tenant=tenant, **form.cleaned_data)
        lists_settings_update(tenant=tenant, **lists_form.cleaned_data)
        messages.success(request, "Organisation settings were saved.")
        return redirect("admin_tenant")
    context = {"form": form, "lists_form": lists_form, "timezones": timezone_choices()}
    return render(request, "accounts/admin_tenant.html", context)
