"""Writes to tenants and users."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Tenant, User, validate_timezone
from .signals import tenant_zone_changed, user_zone_changed

if TYPE_CHECKING:
    from events.models import Calendar


class LastAdminError(ValidationError):
    pass


def tenant_create(*, slug: str, name: str, timezone: str = "UTC") -> Tenant:
    tenant = Tenant(slug=slug, name=name, timezone=timezone)
    tenant.full_clean()
    tenant.save()
    return tenant


def tenant_update(
    *,
    tenant: Tenant,
    name: str,
    timezone: str,
    allowed_providers: list[str],
    default_can_setup_integrations: bool,
    log_retention_days: int | None = None,
) -> Tenant:
    """The organisation's settings; `log_retention_days` None means the operator's default."""
    moved = timezone != tenant.timezone
    tenant.name, tenant.timezone = name, timezone
    tenant.allowed_providers = allowed_providers
    tenant.default_can_setup_integrations = default_can_setup_integrations
    tenant.log_retention_days = log_retention_days
    tenant.full_clean()
    with transaction.atomic():
        tenant.save(update_fields=["name", "timezone", "allowed_providers", "default_can_setup_integrations",
                                   "log_retention_days"])  # fmt: skip
        if moved:
            tenant_zone_changed.send(sender=Tenant, tenant_id=tenant.pk)
    return tenant


def user_create(
    *,
    tenant: Tenant,
    email: str,
    password: str,
    role: str = User.Role.MEMBER,
    can_setup_integrations: bool | None = None,
    first_name: str = "",
    last_name: str = "",
    timezone: str | None = None,
) -> User:
    """A user of `tenant`, with a first calendar. Raises ValidationError on a taken email or weak password."""
    from events.services import calendar_create

    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "A user with this email address already exists."})
    if role not in User.Role.values:
        raise ValidationError({"role": f"Role must be one of: {', '.join(User.Role.values)}."})
    zone = timezone or tenant.timezone
    validate_timezone(zone)
    user = User(email=email, username=email, tenant=tenant, role=role, first_name=first_name, last_name=last_name)
    validate_password(password, user)
    user.timezone = zone
    user.can_setup_integrations = (
        tenant.default_can_setup_integrations if can_setup_integrations is None else can_setup_integrations
    )
    user.set_password(password)
    with transaction.atomic():
        user.save()
        calendar_create(owner=user, name="My calendar")
    return user


def user_update(*, user: User, role: str, can_setup_integrations: bool, is_active: bool) -> User:
    """Change a user's role and rights; a tenant always keeps at least one active admin."""
    with transaction.atomic():
        admins = User.objects.select_for_update().filter(tenant=user.tenant, role=User.Role.ADMIN, is_active=True)
        stays_admin = role == User.Role.ADMIN and is_active
        if user.is_tenant_admin and user.is_active and not stays_admin and admins.exclude(pk=user.pk).count() == 0:
            raise LastAdminError("This is the organisation's last admin; make someone else admin first.")
        user.role, user.can_setup_integrations, user.is_active = role, can_setup_integrations, is_active
        user.save(update_fields=["role", "can_setup_integrations", "is_active"])
    return user


def profile_update(
    *,
    user: User,
    first_name: str,
    last_name: str,
    timezone: str,
    week_start: int = 0,
    default_calendar: Calendar | None = None,
) -> User:
    """Name, time zone, the week's first day and, when given, the main calendar (where new events and
    integrations go)."""
    validate_timezone(timezone)
    if not 0 <= week_start <= 6:
        raise ValueError("A week starts on a weekday, Monday 0 to Sunday 6.")
    moved = timezone != user.timezone
    user.first_name, user.last_name, user.timezone, user.week_start = first_name, last_name, timezone, week_start
    fields = ["first_name", "last_name", "timezone", "week_start"]
    if default_calendar is not None:
        _check_main_calendar(user, default_calendar)
        user.default_calendar = default_calendar
        fields.append("default_calendar")
    with transaction.atomic():
        user.save(update_fields=fields)
        if moved:
            user_zone_changed.send(sender=User, user_id=user.pk)
    return user


def calendar_visibility_set(*, user: User, calendar_id: int, shown: bool) -> list[int]:
    """Show or hide one calendar in the user's calendar grid; remembered on the user (every device sees it)."""
    hidden = [pk for pk in user.hidden_calendars if isinstance(pk, int) and pk != calendar_id]
    if not shown:
        hidden.append(calendar_id)
    user.hidden_calendars = sorted(hidden)
    user.save(update_fields=["hidden_calendars"])
    return user.hidden_calendars


def _check_main_calendar(user: User, calendar: Calendar) -> None:
    """Only a calendar of the user's own that holds events: new events are written there without asking."""
    if calendar.owner_id != user.pk or calendar.tenant_id != user.tenant_id:
        raise ValidationError({"default_calendar": "Choose one of your own calendars."})
    if "VEVENT" not in calendar.components.split(","):
        raise ValidationError({"default_calendar": f"“{calendar.name}” holds only tasks; choose one for events."})
