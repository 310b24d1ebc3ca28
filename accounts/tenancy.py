"""Tenant isolation, enforced in one place.

Every tenant-owned model uses TenantQuerySet, and views reach rows only
through a Scope built from the signed-in user: a Scope never returns a row of
another tenant, and a member's scope holds only their own calendars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.shortcuts import get_object_or_404

if TYPE_CHECKING:
    from accounts.models import Tenant, User
    from business.models import AssignmentRule, ListEntry, RuleRun
    from dav.models import AppPassword
    from events.models import Calendar, Event, ImportJob
    from integrations.models import Integration
    from meetings.models import Meeting
    from operations.radar import Warning
    from reports.models import SavedReport
    from scheduling.models import CalendarShare
    from sync.models import SyncPreview, SyncRun


class TenantQuerySet(models.QuerySet[Any]):
    def for_tenant(self, tenant: Tenant) -> TenantQuerySet:
        return self.filter(tenant=tenant)


@dataclass(frozen=True)
class Scope:
    """What one signed-in user may reach."""

    user: User

    def __post_init__(self) -> None:
        if self.user.tenant_id is None:
            # Operators without a tenant use Django's admin, not the product pages.
            raise PermissionDenied("This account belongs to no organisation.")

    @property
    def tenant(self) -> Tenant:
        assert self.user.tenant is not None
        return self.user.tenant

    # --- own calendars -------------------------------------------------------

    def calendars(self) -> models.QuerySet[Calendar]:
        from events.models import Calendar

        return Calendar.objects.for_tenant(self.tenant).filter(owner=self.user)

    def calendar(self, pk: int) -> Calendar:
        return get_object_or_404(self.calendars(), pk=pk)

    def events(self) -> models.QuerySet[Event]:
        from events.models import Event

        return Event.objects.for_tenant(self.tenant).filter(calendar__owner=self.user)

    def editable_calendars(self) -> models.QuerySet[Calendar]:
        """The user's own calendars and the colleagues' calendars shared with them (or with everyone in the
        organisation) at the level "edit"; "details" gives titles on the scheduling pages, never the events."""
        from events.models import Calendar

        shared = models.Q(shares__level="edit") & (
            models.Q(shares__grantee=self.user) | models.Q(shares__grantee__isnull=True)
        )
        return Calendar.objects.for_tenant(self.tenant).filter(models.Q(owner=self.user) | shared).distinct()

    def event(self, pk: int) -> Event:
        """One event the user may open and change: in their own calendars or in one shared with them to edit."""
        from events.models import Event

        editable = Event.objects.for_tenant(self.tenant).filter(calendar__in=self.editable_calendars())
        return get_object_or_404(editable.select_related("calendar"), pk=pk)

    def import_job(self, pk: int) -> ImportJob:
        from events.models import ImportJob

        return get_object_or_404(ImportJob.objects.for_tenant(self.tenant).filter(created_by=self.user), pk=pk)

    def integrations(self) -> models.QuerySet[Integration]:
        from integrations.models import Integration

        return Integration.objects.for_tenant(self.tenant).filter(user=self.user)

    def integration(self, pk: int) -> Integration:
        return get_object_or_404(self.integrations().select_related("calendar", "user"), pk=pk)

    def preview(self, integration_pk: int, pk: int) -> SyncPreview:
        """A preview of one of the user's own integrations (sync.previews)."""
        from sync.models import SyncPreview

        previews = SyncPreview.objects.for_tenant(self.tenant).filter(integration__user=self.user)
        return get_object_or_404(previews.select_related("integration__calendar", "integration__user"),
                                 pk=pk, integration_id=integration_pk)  # fmt: skip

    def app_passwords(self) -> models.QuerySet[AppPassword]:
        from dav.models import AppPassword

        return AppPassword.objects.for_tenant(self.tenant).filter(user=self.user)

    def app_password(self, pk: int) -> AppPassword:
        return get_object_or_404(self.app_passwords(), pk=pk)

    def run(self, pk: int) -> SyncRun:
        """One of the user's own sync runs, or, for an admin, any run in the tenant."""
        runs = (
            self.tenant_runs() if self.user.is_tenant_admin else self.tenant_runs().filter(integration__user=self.user)
        )
        return get_object_or_404(runs.select_related("integration__user", "integration__calendar"), pk=pk)

    def calendar_shares(self) -> models.QuerySet[CalendarShare]:
        """Shares the user made of their own calendars."""
        from scheduling.models import CalendarShare

        return CalendarShare.objects.for_tenant(self.tenant).filter(calendar__owner=self.user)

    def calendar_share(self, pk: int) -> CalendarShare:
        return get_object_or_404(self.calendar_shares().select_related("calendar", "grantee"), pk=pk)

    def colleagues(self, *, including_me: bool = False) -> models.QuerySet[User]:
        """The organisation's active members: whom the user may invite, and whose time the scheduling pages ask
        about (there the user is one of the people too)."""
        people = self.users().filter(is_active=True)
        return people if including_me else people.exclude(pk=self.user.pk)

    # --- meetings ------------------------------------------------------------

    def meeting_of(self, event: Event) -> Meeting | None:
        """The meeting an event the user may edit is a copy of (theirs or a colleague's), if it is one."""
        from meetings.models import Meeting

        if not self.editable_calendars().filter(pk=event.calendar_id).exists():
            raise PermissionDenied("Not your event.")
        return Meeting.objects.for_tenant(self.tenant).filter(uid=event.uid).select_related("owner").first()

    # --- the organisation's lists (clients, projects, activities) -----------

    def list_entries(self, model: type[ListEntry]) -> models.QuerySet[ListEntry]:
        """Everyone in the organisation reads its lists (they pick from them); see may_manage_lists for writes."""
        return model.objects.filter(tenant=self.tenant)

    def list_entry(self, model: type[ListEntry], pk: int) -> ListEntry:
        return get_object_or_404(self.list_entries(model), pk=pk)

    def may_manage_lists(self) -> bool:
        """Admins always; members when the organisation lets them (BusinessSettings.members_manage_lists)."""
        from business.services import settings_for

        return self.user.is_tenant_admin or settings_for(self.tenant).members_manage_lists

    def require_list_manager(self) -> None:
        if not self.may_manage_lists():
            raise PermissionDenied("Only your organisation's admins can change its clients, projects and activities.")

    # --- reports -------------------------------------------------------------

    def saved_reports(self) -> models.QuerySet[SavedReport]:
        """The user's saved reports and those colleagues shared with them or email them."""
        from reports.models import SavedReport

        mine_or_shared = models.Q(owner=self.user) | models.Q(shared_with=self.user) | models.Q(recipients=self.user)
        return SavedReport.objects.for_tenant(self.tenant).filter(mine_or_shared).distinct()

    def saved_report(self, pk: int) -> SavedReport:
        return get_object_or_404(self.saved_reports(), pk=pk)

    def own_saved_report(self, pk: int) -> SavedReport:
        """One the user may change: their own. A report only shared with them is refused, with the reason."""
        found = self.saved_report(pk)
        if found.owner_id != self.user.pk:
            raise PermissionDenied("Only the person who saved this report can change it.")
        return found

    # --- an event's story (sync.history) -------------------------------------

    def history_integrations(self, *, organisation: bool = False) -> models.QuerySet[Integration]:
        """Whose sync logs an event's story and the search by title read: the user's own integrations, or, from
        the admin pages (`organisation`), every integration in the organisation (admins only)."""
        return self.tenant_integrations() if organisation else self.integrations()

    def history_calendars(self, *, organisation: bool = False) -> models.QuerySet[Calendar]:
        """The calendars whose events and deletions an event's story tells: as history_integrations."""
        if not organisation:
            return self.calendars()
        self.require_admin()
        from events.models import Calendar

        return Calendar.objects.for_tenant(self.tenant)

    # --- administration ------------------------------------------------------

    def tenant_runs(self) -> models.QuerySet[SyncRun]:
        from sync.models import SyncRun

        return SyncRun.objects.for_tenant(self.tenant)

    def tenant_integrations(self) -> models.QuerySet[Integration]:
        self.require_admin()
        from integrations.models import Integration

        return Integration.objects.for_tenant(self.tenant)

    def credential_warnings(self, limit: int | None = None) -> list[Warning]:
        """The organisation's credentials that end soon (operations.radar), the `limit` soonest: admins only."""
        self.require_admin()
        from django.utils import timezone

        from operations import radar

        return radar.warnings(self.tenant, timezone.now(), limit)

    def managed_integration(self, pk: int) -> Integration:
        """Any integration of the organisation, for an admin acting from the health board (never another's)."""
        return get_object_or_404(self.tenant_integrations().select_related("user", "calendar"), pk=pk)

    def require_admin(self) -> None:
        if not self.user.is_tenant_admin:
            raise PermissionDenied("Only your organisation's admins can do this.")

    def users(self) -> models.QuerySet[User]:
        from accounts.models import User

        return User.objects.filter(tenant=self.tenant)

    def managed_user(self, pk: int) -> User:
        self.require_admin()
        return get_object_or_404(self.users(), pk=pk)

    # --- assignment rules (admins) -------------------------------------------

    def assignment_rule(self, pk: int) -> AssignmentRule:
        self.require_admin()
        from business.models import AssignmentRule

        return get_object_or_404(AssignmentRule.objects.for_tenant(self.tenant), pk=pk)

    def rule_run(self, pk: int) -> RuleRun:
        self.require_admin()
        from business.models import RuleRun

        return get_object_or_404(RuleRun.objects.for_tenant(self.tenant), pk=pk)
