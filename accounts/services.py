"""Writes to tenants and users."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Tenant, User, validate_timezone
from .signals import tenant_zone_changed, user_zone_changed


class LastAdminError(ValidationError):
    pass


def tenant_create(*, slug: str, name: str, timezone: str = "UTC") -> Tenant:
    tenant = Tenant(slug=slug, name=name, timezone=timezone)
    tenant.full_clean()
    tenant.save()
    return tenant


def tenant_update(
    *, tenant: Tenant, name: str, timezone: str, allowed_providers: list[str], default_can_setup_integrations: bool
) -> Tenant:
    moved = timezone != tenant.timezone
    tenant.name, tenant.timezone = name, timezone
    tenant.allowed_providers = allowed_providers
    tenant.default_can_setup_integrations = default_can_setup_integrations
    tenant.full_clean()
    with transaction.atomic():
        tenant.save(update_fields=["name", "timezone", "allowed_providers", "default_can_setup_integrations"])
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


def profile_update(*, user: User, first_name: str, last_name: str, timezone: str) -> User:
    validate_timezone(timezone)
    moved = timezone != user.timezone
    user.first_name, user.last_name, user.timezone = first_name, last_name, timezone
    with transaction.atomic():
        user.save(update_fields=["first_name", "last_name", "timezone"])
        if moved:
            user_zone_changed.send(sender=User, user_id=user.pk)
    return user
