"""Remembered CalDAV logins are forgotten when what they vouch for changes (see services.authenticate)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Tenant, User

from .models import AppPassword
from .services import LOGIN_COLUMNS, forget_logins

# The columns a remembered login carries, plus the web password: changing it is how people "sign out everywhere".
_USER_COLUMNS = LOGIN_COLUMNS["user"] | {"password"}


def _touches(update_fields: frozenset[str] | None, columns: set[str]) -> bool:
    return update_fields is None or bool(update_fields & columns)


@receiver(post_delete, sender=AppPassword, dispatch_uid="dav-forget-revoked-login")
def _app_password_deleted(instance: AppPassword, **_: Any) -> None:
    forget_logins([instance.digest])


@receiver(post_save, sender=User, dispatch_uid="dav-forget-user-logins")
def _user_saved(instance: User, update_fields: frozenset[str] | None = None, **_: Any) -> None:
    if not _touches(update_fields, _USER_COLUMNS):  # a web sign-in's last_login, a hidden calendar: nothing to do
        return
    forget_logins(list(AppPassword.objects.filter(user=instance).values_list("digest", flat=True)))


@receiver(post_save, sender=Tenant, dispatch_uid="dav-forget-tenant-logins")
def _tenant_saved(instance: Tenant, update_fields: frozenset[str] | None = None, **_: Any) -> None:
    if not _touches(update_fields, LOGIN_COLUMNS["tenant"]):
        return
    forget_logins(list(AppPassword.objects.filter(tenant=instance).values_list("digest", flat=True)))
