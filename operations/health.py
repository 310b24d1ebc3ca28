"""The admins' health board: every user of an organisation, their integrations and how each stands.

Read by the board page and by `manage.py health` alike, a page of users at a time, in a fixed number of queries
whatever the organisation's size: the page's users, their integrations (with the count of items not synced), the
counts per status (one aggregate) and the organisation-wide connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Case, Count, Exists, OuterRef, Prefetch, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Tenant, User
from integrations.models import ExchangeServer, GoogleWorkspace, Integration, MicrosoftOrganisation
from integrations.providers import Provider
from sync.models import UnsyncedItem

from . import radar


class BoardStatus(models.TextChoices):
    WORKING = "working", "Working"
    NEEDS_RECONNECTING = "needs_reconnecting", "Needs reconnecting"
    STOPPED = "stopped", "Stopped for safety"
    ERROR = "error", "Error"
    WAITING = "waiting", "Waiting for the user to confirm the first sync"
    PAUSED = "paused", "Paused"


# How an integration stands on the board: the first rule that matches decides, else it is working. A problem comes
# before "paused": the user who resumes finds it still there. Both board_status (one row in Python) and
# board_status_sql (counts and filters in the database) read this one table, so they cannot disagree.
_RULES: tuple[tuple[BoardStatus, str, object], ...] = (
    (BoardStatus.NEEDS_RECONNECTING, "status", Integration.Status.NEEDS_REAUTH),
    (BoardStatus.STOPPED, "status", Integration.Status.STOPPED),
    (BoardStatus.ERROR, "status", Integration.Status.ERROR),
    (BoardStatus.WAITING, "awaiting_confirmation", True),
    (BoardStatus.PAUSED, "sync_enabled", False),
)
# Where the board keeps when an admin last asked the owner to reconnect, and who (Integration.config). Both are
# cleared when the integration syncs again (sync.services), so a new problem can be asked about at once.
RECONNECT_ASKED_AT = "reconnect_asked_at"
RECONNECT_ASKED_BY = "reconnect_asked_by"
# What reconnecting can mend: refused credentials, and failures that are often an expired password (CalDAV, EWS).
RECONNECTABLE = (BoardStatus.NEEDS_RECONNECTING, BoardStatus.ERROR)
# Users without any integration, as a status filter.
NO_INTEGRATION = "none"
USERS_PER_PAGE = 50
# Integration fields the board never shows and that can be long (change-feed cursors, the encrypted secrets).
_UNREAD = ("credentials_encrypted", "local_cursor", "remote_cursor", "controls")


def board_status(integration: Integration) -> BoardStatus:
    """How one integration stands on the board."""
    return next((status for status, name, value in _RULES if getattr(integration, name) == value), BoardStatus.WORKING)


def board_status_sql() -> Case:
    """board_status as a database expression over Integration's columns."""
    whens = [When(Q(**{name: value}), then=Value(status.value)) for status, name, value in _RULES]
    return Case(*whens, default=Value(BoardStatus.WORKING.value), output_field=models.CharField())


@dataclass(frozen=True)
class BoardFilters:
    """What the admin narrowed the board to: a board status (or NO_INTEGRATION), a provider, a name or email."""

    status: str = ""
    provider: str = ""
    search: str = ""

    @classmethod
    def parse(cls, data: Any) -> BoardFilters:
        """From a query string or command options; unknown values are ignored rather than failing the page."""
        status, provider = data.get("status") or "", data.get("provider") or ""
        return cls(
            status=status if status in BoardStatus.values or status == NO_INTEGRATION else "",
            provider=provider if provider in Provider.values else "",
            search=(data.get("search") or "").strip()[:200],
        )

    def as_query(self) -> dict[str, str]:
        return {k: v for k, v in (("status", self.status), ("provider", self.provider), ("search", self.search)) if v}

    def integrations(self, integrations: models.QuerySet[Integration]) -> models.QuerySet[Integration]:
        """The integrations the status and provider filters keep (all of them when neither is set)."""
        if self.status and self.status != NO_INTEGRATION:
            integrations = integrations.alias(board_filter=board_status_sql()).filter(board_filter=self.status)
        if self.provider:
            integrations = integrations.filter(provider=self.provider)
        return integrations


_ORGANISATION_WIDE: tuple[tuple[str, str, Any], ...] = (
    ("google", "Google Workspace", GoogleWorkspace),
    ("microsoft", "Microsoft 365", MicrosoftOrganisation),
    ("exchange", "Exchange server", ExchangeServer),
)


@dataclass
class OrganisationConnection:
    kind: str
    label: str
    enabled: bool
    test_ok: bool
    tested_at: datetime | None
    test_message: str


def board_users(*, tenant: Tenant, filters: BoardFilters) -> models.QuerySet[User]:
    """The organisation's users the filters keep, by email: page through them, then read a page with board_page."""
    users = User.objects.filter(tenant=tenant).order_by("email", "pk")
    if filters.search:
        words = Q(email__icontains=filters.search) | Q(first_name__icontains=filters.search)
        users = users.filter(words | Q(last_name__icontains=filters.search))
    theirs = Integration.objects.filter(tenant=tenant, user=OuterRef("pk"))
    if filters.status == NO_INTEGRATION:
        return users.filter(~Exists(theirs))
    if filters.status or filters.provider:
        users = users.filter(Exists(filters.integrations(theirs)))
    return users


def board_integrations(*, tenant: Tenant, filters: BoardFilters) -> models.QuerySet[Integration]:
    """Integrations as the board shows them: status, calendar and the number of items not synced, in one query."""
    unsynced = (
        UnsyncedItem.objects.filter(integration=OuterRef("pk")).order_by().values("integration")
        .annotate(n=Count("pk")).values("n")
    )  # fmt: skip
    integrations = Integration.objects.for_tenant(tenant).defer(*_UNREAD).select_related("calendar")
    integrations = integrations.annotate(board=board_status_sql(), unsynced=Coalesce(Subquery(unsynced), 0))
    return filters.integrations(integrations).order_by("created_at", "pk")


def board_page(*, tenant: Tenant, users: list[User], filters: BoardFilters) -> list[User]:
    """The users of one page with their integrations (`user.board_integrations`): one query for all of them.

    With a status or provider filter, only the integrations it keeps are listed under each user."""
    prefetch = Prefetch("integrations", board_integrations(tenant=tenant, filters=filters), "board_integrations")
    models.prefetch_related_objects(users, prefetch)
    for user in users:
        for integration in user.board_integrations:  # type: ignore[attr-defined]
            integration.board_label = BoardStatus(integration.board).label
            asked = reconnect_asked_at(integration.config)  # shown only while the problem lasts
            integration.reconnect_asked_at = asked if integration.board in RECONNECTABLE else None
    return users


def board_counts(*, tenant: Tenant) -> dict[str, int]:
    """Integrations per board status in the whole organisation (one aggregate query), every status present."""
    rows = (
        Integration.objects.for_tenant(tenant).order_by().annotate(board=board_status_sql())
        .values("board").annotate(n=Count("pk")).values_list("board", "n")
    )  # fmt: skip
    found = dict(rows)
    return {status: found.get(status, 0) for status in BoardStatus.values}


def user_counts(*, tenant: Tenant) -> dict[str, int]:
    """The organisation's users, and how many have no integration (one aggregate query)."""
    theirs = Integration.objects.filter(tenant=tenant, user=OuterRef("pk"))
    return User.objects.filter(tenant=tenant).aggregate(
        users=Count("pk"), without_integration=Count("pk", filter=~Exists(theirs))
    )


def organisation_connections(*, tenant: Tenant) -> list[OrganisationConnection]:
    """The organisation-wide connections the organisation set up, with their last "Test settings"."""
    found = []
    for kind, label, model in _ORGANISATION_WIDE:
        row = model.objects.filter(tenant=tenant).only("enabled", "test_ok", "tested_at", "test_message").first()
        if row is not None:
            found.append(OrganisationConnection(kind, label, row.enabled, row.test_ok, row.tested_at, row.test_message))
    return found


def reconnect_asked_at(config: dict[str, Any]) -> datetime | None:
    """When an admin last asked the owner to reconnect an integration (Integration.config), if ever."""
    stored = (config or {}).get(RECONNECT_ASKED_AT)
    return parse_datetime(stored) if isinstance(stored, str) else None


def reconnect_ask_forget(integration: Integration) -> None:
    """An admin's "asked to reconnect" is answered: the owner reconnected (integrations.services), or the
    integration syncs again (sync.services). A new problem can then be asked about at once."""
    if integration.config.get(RECONNECT_ASKED_AT) or integration.config.get(RECONNECT_ASKED_BY):
        integration.config_merge({RECONNECT_ASKED_AT: None, RECONNECT_ASKED_BY: None})


def board_json(*, tenant: Tenant, filters: BoardFilters, chunk: int = 500) -> dict[str, Any]:
    """The whole board as `manage.py health --json` prints it (documented in README, Operations: health board):
    every user the filters keep, read `chunk` users at a time, so the queries grow with the pages, not the rows."""
    users = board_users(tenant=tenant, filters=filters)
    rows: list[dict[str, Any]] = []
    for start in range(0, users.count(), chunk):
        rows += [_user_json(u) for u in board_page(tenant=tenant, users=list(users[start : start + chunk]),
                                                    filters=filters)]  # fmt: skip
    return {
        "tenant": tenant.slug,
        "filters": filters.as_query(),
        "counts": {**board_counts(tenant=tenant), **user_counts(tenant=tenant)},
        "organisation": [vars(c) for c in organisation_connections(tenant=tenant)],
        "credentials": [_warning_json(w) for w in radar.warnings(tenant, timezone.now())],
        "users": rows,
    }


def _warning_json(warning: radar.Warning) -> dict[str, Any]:
    """A credential the radar says ends within 30 days (or has ended); never a secret."""
    return {"key": warning.key, "label": warning.label, "expires_at": warning.expires_at.isoformat(),
            "days_left": warning.days_left, "kind": warning.kind, "source": warning.source}  # fmt: skip


def _user_json(user: User) -> dict[str, Any]:
    integrations = user.board_integrations  # type: ignore[attr-defined]
    return {"id": user.pk, "email": user.email, "name": user.get_full_name(), "role": user.role,
            "is_active": user.is_active, "integrations": [_integration_json(i) for i in integrations]}  # fmt: skip


def _integration_json(integration: Integration) -> dict[str, Any]:
    return {
        "id": integration.pk,
        "provider": integration.provider,
        "calendar": integration.calendar.name,
        "remote_calendar": integration.remote_calendar_name or integration.remote_calendar_id,
        "status": integration.board,  # type: ignore[attr-defined]
        "last_synced_at": integration.last_synced_at,
        "unsynced": integration.unsynced,  # type: ignore[attr-defined]
        "last_error": integration.last_error,
        "reconnect_asked_at": integration.reconnect_asked_at,  # type: ignore[attr-defined]
    }
