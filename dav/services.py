"""App passwords: create, revoke, and check them, with failed attempts throttled and logged."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User

from .models import AppPassword
from .resources import principal_href

log = logging.getLogger(__name__)

# No 0/o, 1/l/i: easy to read off one screen and type on a phone.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_GROUPS, _GROUP_SIZE = 5, 4  # 20 characters, about 99 bits
# Touch last_used_at at most this often, so a busy client does not write on every request.
_LAST_USED_RESOLUTION = timedelta(minutes=1)
# A verified login is remembered this long, so a client's next requests skip the login's query (see authenticate).
_VERIFIED_SECONDS = int(_LAST_USED_RESOLUTION.total_seconds())


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed logins; try again in {retry_after} seconds.")
        self.retry_after = retry_after


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _normalise(secret: str) -> str:
    # People retype the password with or without the dashes, in capitals on some keyboards.
    return secret.strip().lower().replace("-", "").replace(" ", "")


def _new_secret() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP_SIZE))
    return "-".join(raw[i : i + _GROUP_SIZE] for i in range(0, len(raw), _GROUP_SIZE))


@dataclass(frozen=True)
class NewAppPassword:
    app_password: AppPassword
    secret: str  # shown once, never stored
    username: str
    server_url: str


def server_url_for(user: User) -> str:
    """The address a user types into Apple Calendar: their principal URL."""
    return settings.SITE_URL + principal_href(user)


def app_password_create(*, user: User, label: str) -> NewAppPassword:
    if not user.may_set_up_integrations:
        raise PermissionDenied("You do not have the right to set up integrations, which app passwords need.")
    label = label.strip()
    if not label:
        raise ValidationError({"label": "Give the password a name, such as the device it is for."})
    if len(label) > 100:
        raise ValidationError({"label": "Keep the name under 100 characters."})
    secret = _new_secret()
    app_password = AppPassword.objects.create(
        tenant_id=user.tenant_id, user=user, label=label, digest=_digest(_normalise(secret)), hint=secret[:4]
    )
    log.info("app password created", extra={"user": user.pk, "app_password": app_password.pk})
    return NewAppPassword(app_password, secret, user.email, server_url_for(user))


def app_password_revoke(*, app_password: AppPassword) -> None:
    log.info("app password revoked", extra={"user": app_password.user_id, "app_password": app_password.pk})
    app_password.delete()


# --- checking credentials ----------------------------------------------------


@dataclass(frozen=True)
class _Throttle:
    """Failures counted per client address and per (user, address), and whether this user succeeded from there."""

    address_key: str
    pair_key: str
    known_key: str
    pair_failures: int
    known_since: float | None


def _throttle_for(username: str, address: str, verified_key: str) -> tuple[_Throttle, User | None]:
    """The counts for this attempt and the login remembered under verified_key, read in one cache round trip;
    raises Throttled when it must not even be checked.

    The pair (user, address) that has been failing is refused, so guessing one person's password from one
    place is slow. An address that has been failing for many users is refused too, except for a user who
    signed in from there recently: colleagues' devices behind the same NAT keep working, and a user's
    devices are never refused because of failures from somewhere else.
    """
    user_key = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    address_key, pair_key, known_key = (
        f"dav-fail:addr:{address}",
        f"dav-fail:pair:{user_key}:{address}",
        f"dav-ok:{user_key}:{address}",
    )
    counts = cache.get_many([address_key, pair_key, known_key, verified_key])
    throttle = _Throttle(address_key, pair_key, known_key, counts.get(pair_key, 0), counts.get(known_key))
    if throttle.pair_failures >= settings.DAV_MAX_FAILURES_PER_USER_AND_ADDRESS or (
        counts.get(address_key, 0) >= settings.DAV_MAX_FAILURES_PER_ADDRESS and throttle.known_since is None
    ):
        log.warning("caldav login throttled", extra={"dav_username": username[:254], "client_address": address})
        raise Throttled(settings.DAV_FAILURE_WINDOW_SECONDS)
    return throttle, counts.get(verified_key)


def _record_failure(throttle: _Throttle, username: str, address: str, reason: str) -> None:
    window = settings.DAV_FAILURE_WINDOW_SECONDS
    for key in (throttle.address_key, throttle.pair_key):
        if not cache.add(key, 1, window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, window)
    log.warning(
        "caldav login failed",
        extra={"dav_username": username[:254], "client_address": address, "reason": reason},
    )


def _record_success(throttle: _Throttle) -> None:
    if throttle.pair_failures:
        cache.delete(throttle.pair_key)
    # Remember the address a while; refreshed at most twice per period, not written on every request.
    remember = settings.DAV_KNOWN_ADDRESS_SECONDS
    now = timezone.now().timestamp()
    if throttle.known_since is None or now - throttle.known_since > remember / 2:
        cache.set(throttle.known_key, now, remember)


# What a CalDAV request reads of the login, its user and tenant: every request pays for each column it loads.
_LOGIN_FIELDS = ("id", "digest", "last_used_at", "user__id", "user__email", "user__first_name", "user__last_name",
                 "user__tenant_id", "user__is_active", "user__role", "user__can_setup_integrations", "user__timezone",
                 "user__tenant__id", "user__tenant__slug", "user__tenant__name", "user__tenant__timezone")  # fmt: skip
# The same columns by model, for what a remembered login must be forgotten on (dav.signals).
LOGIN_COLUMNS = {
    "user": {f.split("__")[1] for f in _LOGIN_FIELDS if f.count("__") == 1},
    "tenant": {f.split("__")[2] for f in _LOGIN_FIELDS if f.count("__") == 2},
}


def _verified_key(digest: str) -> str:
    """Where a verified login is remembered: keyed by the stored digest under the site's secret key, so the cache
    holds neither the password nor its digest, and a revoke (which knows only the digest) can find the entry."""
    keyed = hmac.new(settings.SECRET_KEY.encode(), digest.encode(), hashlib.sha256).hexdigest()
    return f"dav-login:{keyed[:40]}"


def authenticate(*, username: str, password: str, address: str) -> User | None:
    """The user these CalDAV credentials belong to, or None. Only app passwords are accepted.

    Raises Throttled when this user from this address, or this address for users who have not
    signed in from it lately, failed too often recently (see _throttle_for); then the password
    is not even checked, so guessing gains nothing.

    Clients send the credentials with every request, so a verified login is remembered for a minute (with its
    user and tenant) and read in the throttle's own cache round trip: a client's next requests cost no query
    for the login. Revoking the app password, or any change to its user or tenant, forgets it at once
    (forget_logins); the once-a-minute "last used" write still happens, when the remembered login expires.
    """
    digest = _digest(_normalise(password))
    verified_key = _verified_key(digest)
    throttle, remembered = _throttle_for(username, address, verified_key)
    if remembered is not None and remembered.email.lower() == username.strip().lower():
        _record_success(throttle)
        return remembered
    candidates = (
        AppPassword.objects.select_related("user", "user__tenant")
        .filter(user__email__iexact=username.strip(), user__is_active=True)
        .only(*_LOGIN_FIELDS)
        .order_by()
    )
    match = next((p for p in candidates if hmac.compare_digest(p.digest, digest)), None)
    if match is None or match.user.tenant_id is None:
        _record_failure(throttle, username, address, "unknown user" if not candidates else "wrong app password")
        return None
    _record_success(throttle)
    now = timezone.now()
    if match.last_used_at is None or now - match.last_used_at > _LAST_USED_RESOLUTION:
        AppPassword.objects.filter(pk=match.pk).update(last_used_at=now, last_used_from=address or None)
    cache.set(verified_key, match.user, _VERIFIED_SECONDS)
    return match.user


def forget_logins(digests: list[str]) -> None:
    """Drop these app passwords' remembered logins, now and again once the change commits (a request that read
    the old rows in between must not keep them for its minute)."""
    keys = [_verified_key(digest) for digest in digests]
    if keys:
        cache.delete_many(keys)
        transaction.on_commit(lambda: cache.delete_many(keys))
