"""Every write a meeting makes: creating it, carrying the owner's version and the answers to every copy, and the
invitations, updates and cancellations calsync sends itself when no connected provider sends them."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from datetime import datetime
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

from accounts.models import Tenant, User
from calsync.queue import publish
from events import services as event_services
from events.convert import item_from_event
from events.ical import Attendee, Component, ICalError, Item, Person, parse_item, serialise
from events.models import Calendar, Event
from events.selectors import main_calendar
from integrations.meetings import owners_meeting
from integrations.models import Integration
from integrations.providers import Provider

from . import imip, links
from .models import InvitationSender, Meeting
from .rules import meeting_service_writes, owner_fields

log = logging.getLogger(__name__)

# Providers that email invitations themselves for a meeting their user organises (Google sendUpdates, Graph,
# EWS SendToAllAndSaveCopy): when the owner's calendar is written to one of them, calsync sends nothing itself.
SENDING_PROVIDERS = (Provider.GOOGLE, Provider.MICROSOFT, Provider.EXCHANGE)


class MeetingError(ValueError):
    """A request about a meeting that cannot be carried out; `status` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --- the organisation's sender -------------------------------------------------------------------------------


def sender_for(tenant: Tenant) -> str:
    """ "Name <address>" invitations come from: the admin's choice, else DEFAULT_FROM_EMAIL."""
    chosen = InvitationSender.objects.filter(tenant=tenant).first()
    if chosen is None or not chosen.email:
        return settings.DEFAULT_FROM_EMAIL
    return formataddr((chosen.name, chosen.email))


def sender_update(*, tenant: Tenant, name: str, email: str) -> InvitationSender:
    sender, _ = InvitationSender.objects.update_or_create(tenant=tenant, defaults={"name": name, "email": email})
    return sender


# --- who sends -------------------------------------------------------------------------------------------------


def provider_sends(calendar: Calendar, item: Item) -> bool:
    """Does a connected provider that emails invitations receive this calendar's changes, and send for this
    meeting? It does when the meeting is its account's own, by the rule every provider's writes follow
    (integrations/meetings.py): a calendar connected with another account than the organiser's address gets
    copies written without sending, so calsync sends then.
    """
    writes_out = (Integration.Direction.BOTH, Integration.Direction.FROM_CALSYNC)
    accounts = Integration.objects.filter(
        calendar=calendar, provider__in=SENDING_PROVIDERS, sync_enabled=True, direction__in=writes_out
    ).values_list("config", flat=True)
    return any(owners_meeting(item.master, [str(config.get("account", ""))]) for config in accounts)


# --- creating ----------------------------------------------------------------------------------------------------


def meeting_create(
    *,
    owner: User,
    calendar: Calendar,
    title: str,
    description: str,
    start: datetime,
    end: datetime,
    attendees: list[Attendee],
) -> Meeting:
    """Put the meeting on the owner's calendar, a copy in each invited colleague's, and queue the invitations."""
    assert owner.tenant is not None and calendar.owner_id == owner.pk
    invited = {a.email.lower(): a for a in attendees if a.email.lower() != owner.email.lower()}
    master = Component(
        uid=event_services.new_uid(),
        summary=title,
        description=description,
        start=start,
        end=end,
        status="CONFIRMED",
        organizer=Person(owner.email, owner.get_full_name()),
        attendees=tuple(replace(a, email=email, partstat="NEEDS-ACTION", rsvp=True) for email, a in invited.items()),
    )
    item = Item(master=master)
    with transaction.atomic():
        meeting = Meeting.objects.create(tenant=owner.tenant, owner=owner, calendar=calendar, uid=master.uid)
        with meeting_service_writes():
            event_services.item_save(calendar=calendar, item=item, if_none_match=True)
        _copies_write(meeting, item)
        meeting.sent_digest, meeting.sent_to = _digest(item), _addresses(item)
        meeting.save(update_fields=["sent_digest", "sent_to"])
    _queue_invitations(meeting, "REQUEST")
    return meeting


def _digest(item: Item) -> str:
    """What an update is sent for: the owner's fields and who is invited (answers are not news to send)."""
    emails = sorted(a.email.lower() for a in item.master.attendees)
    return hashlib.sha256(repr((owner_fields(item.master), emails)).encode()).hexdigest()


def _addresses(item: Item) -> str:
    return "\n".join(sorted({a.email.lower() for a in item.master.attendees}))


def _queue_invitations(meeting: Meeting, method: str, removed: tuple[str, ...] = ()) -> None:
    from . import tasks

    transaction.on_commit(lambda: publish(tasks.invitations_send, meeting.pk, method, list(removed)))


# --- copies ------------------------------------------------------------------------------------------------------


def _owner_item(meeting: Meeting) -> Item | None:
    event = Event.objects.filter(calendar=meeting.calendar, parent=None, uid=meeting.uid).first()
    return item_from_event(event) if event else None


def _colleagues(meeting: Meeting, item: Item) -> list[User]:
    emails = {a.email.lower() for a in item.master.attendees}
    return list(
        User.objects.filter(tenant_id=meeting.tenant_id, email__in=emails, is_active=True).exclude(pk=meeting.owner_id)
    )


def _copy_calendar(user: User) -> Calendar:
    found = main_calendar(Calendar.objects.for_tenant(user.tenant).filter(owner=user))
    return found or event_services.calendar_create(owner=user, name="My calendar")


def _copy_of(owner_item: Item, current: Item | None) -> Item:
    """The colleague's copy: the owner's meeting, keeping what is the colleague's own (their alarms)."""
    master = replace(owner_item.master, alarms=current.master.alarms if current else ())
    return replace(owner_item, master=master)


def _copies_write(meeting: Meeting, owner_item: Item) -> None:
    """Make every colleague's copy say what the owner's says; remove the copies of people no longer invited.

    A colleague may hold the copy in more than one calendar (one synced into another): each is kept in step.
    The owner's own calendars are left to the owner's syncs.
    """
    rows = Event.objects.filter(tenant_id=meeting.tenant_id, uid=meeting.uid, parent=None).exclude(
        calendar__owner_id=meeting.owner_id
    )
    held: dict[int, list[Event]] = {}
    for row in rows.select_related("calendar"):
        held.setdefault(row.calendar.owner_id, []).append(row)
    with meeting_service_writes():
        declined = {a.email.lower() for a in owner_item.master.attendees if a.partstat == "DECLINED"}
        for colleague in _colleagues(meeting, owner_item):
            # Someone who declined and deleted their copy is not given it back.
            fresh = [] if colleague.email.lower() in declined else [None]
            for existing in held.pop(colleague.pk, None) or fresh:
                _copy_write(owner_item, colleague, existing)
        for gone in (row for copies in held.values() for row in copies):
            event_services.item_delete(event=gone)


def _copy_write(owner_item: Item, colleague: User, existing: Event | None) -> None:
    current = item_from_event(existing) if existing else None
    wanted = _copy_of(owner_item, current)
    if current != wanted:
        calendar = existing.calendar if existing else _copy_calendar(colleague)
        event_services.item_save(calendar=calendar, item=wanted)


# --- answers -----------------------------------------------------------------------------------------------------


def meeting_answer(*, meeting: Meeting, email: str, partstat: str) -> None:
    """Record one attendee's answer on the owner's meeting and every copy."""
    if partstat not in imip.PARTSTATS:
        raise MeetingError("Answer accepted, tentative or declined.")
    if meeting.cancelled:
        raise MeetingError("This meeting was cancelled.", status=410)
    with transaction.atomic():
        owner_item = _owner_item(meeting)
        if owner_item is None:
            raise MeetingError("This meeting no longer exists.", status=404)
        attendees = owner_item.master.attendees
        if email.lower() not in {a.email.lower() for a in attendees}:
            raise MeetingError(f"{email} is not invited to this meeting.", status=403)
        changed = tuple(replace(a, partstat=partstat) if a.email.lower() == email.lower() else a for a in attendees)
        new_item = replace(owner_item, master=replace(owner_item.master, attendees=changed))
        if new_item == owner_item:
            return
        with meeting_service_writes():
            event_services.item_save(calendar=meeting.calendar, item=new_item)
        _copies_write(meeting, new_item)


def meeting_copy_changed(*, meeting_id: int, calendar_id: int) -> None:
    """A copy changed outside the meeting service (a web page, CalDAV, a sync): carry the change to the others.

    The owner's copy carries everything (a new time, an answer that arrived through the owner's provider); a
    colleague's copy carries only that colleague's own answer.
    """
    meeting = Meeting.objects.filter(pk=meeting_id, cancelled=False).select_related("calendar", "owner").first()
    if meeting is None:
        return
    if calendar_id == meeting.calendar_id:
        _owner_changed(meeting)
        return
    copy = (
        Event.objects.filter(calendar_id=calendar_id, uid=meeting.uid, parent=None)
        .select_related("calendar__owner")
        .first()
    )
    if copy is None:
        return
    own = copy.calendar.owner.email.lower()
    answer = next((a["partstat"] for a in copy.attendees if a.get("email", "").lower() == own), None)
    if answer in imip.PARTSTATS:
        meeting_answer(meeting=meeting, email=own, partstat=answer)


def meeting_copy_deleted(*, meeting_id: int, user_id: int) -> None:
    """A colleague deleted their copy (in calsync, over CalDAV or through a sync): that is their "decline".

    A copy still held in another of their calendars (one synced into another) means they kept the meeting.
    """
    meeting = Meeting.objects.filter(pk=meeting_id, cancelled=False).select_related("calendar", "owner").first()
    colleague = User.objects.filter(pk=user_id).first()
    if meeting is None or colleague is None:
        return
    if Event.objects.filter(tenant_id=meeting.tenant_id, uid=meeting.uid, parent=None, calendar__owner=colleague):
        return
    try:
        meeting_answer(meeting=meeting, email=colleague.email, partstat="DECLINED")
    except MeetingError:
        log.info("Meeting %s: a deleted copy by someone no longer invited is no answer", meeting.pk)


def _owner_changed(meeting: Meeting) -> None:
    with transaction.atomic():
        owner_item = _owner_item(meeting)
        if owner_item is None:
            return
        _copies_write(meeting, owner_item)
        digest = _digest(owner_item)
        if digest == meeting.sent_digest:
            return
        now_invited = _addresses(owner_item)
        removed = tuple(sorted(set(meeting.sent_to.split()) - set(now_invited.split())))
        meeting.sent_digest, meeting.sent_sequence, meeting.sent_to = digest, meeting.sent_sequence + 1, now_invited
        meeting.save(update_fields=["sent_digest", "sent_sequence", "sent_to"])
    _queue_invitations(meeting, "REQUEST", removed)


def meeting_cancel(*, meeting_id: int, snapshot: str) -> None:
    """The owner deleted the meeting: remove every copy and tell the attendees (METHOD:CANCEL)."""
    meeting = Meeting.objects.select_related("calendar", "owner", "tenant").filter(pk=meeting_id).first()
    if meeting is None:
        return
    if not meeting.cancelled:  # a retry after a mail failure only sends again
        with transaction.atomic():
            meeting.cancelled, meeting.sent_sequence = True, meeting.sent_sequence + 1
            meeting.save(update_fields=["cancelled", "sent_sequence"])
            with meeting_service_writes():
                for copy in Event.objects.filter(tenant_id=meeting.tenant_id, uid=meeting.uid, parent=None):
                    event_services.item_delete(event=copy)
    cancelled = parse_item(snapshot)
    if not provider_sends(meeting.calendar, cancelled):
        _send_all(meeting, cancelled, "CANCEL")


# --- sending -------------------------------------------------------------------------------------------------------


def invitations_send(*, meeting_id: int, method: str, removed: tuple[str, ...] = ()) -> int:
    """Email the meeting to every attendee, unless a connected provider does; how many emails went out.

    The people just removed from it get a CANCEL naming only themselves (RFC 5546 3.2.5: "the Organizer MUST
    send the removed Attendee a CANCEL"); a provider that sends invitations does the same on its side.
    """
    meeting = Meeting.objects.select_related("calendar", "owner", "tenant").get(pk=meeting_id)
    item = _owner_item(meeting)
    if item is None or meeting.cancelled or provider_sends(meeting.calendar, item):
        return 0
    sent = _send_all(meeting, item, method)
    if removed:
        gone = tuple(Attendee(email=email) for email in removed)
        sent += _send_all(meeting, replace(item, master=replace(item.master, attendees=gone)), "CANCEL")
    return sent


def _send_all(meeting: Meeting, item: Item, method: str) -> int:
    text = imip.calendar_text(item, method, meeting.sent_sequence, parseaddr(sender_for(meeting.tenant))[1])
    for attendee in item.master.attendees:
        _email(meeting, item, attendee, method, text).send(fail_silently=False)
    return len(item.master.attendees)


def _subject(item: Item, method: str, sequence: int) -> str:
    title = item.master.summary or "(no title)"
    if method == "CANCEL":
        return f"Cancelled: {title}"
    return f"{'Updated invitation' if sequence else 'Invitation'}: {title}"


def _when(item: Item) -> str:
    """The time in words, in the zone the owner gave (an all-day date, or a start without an end, too)."""
    start, end = item.master.start, item.master.end
    if not isinstance(start, datetime):
        return f"{start:%A %d %B %Y} (all day)" if start else "(no time)"
    until = f" – {end:%H:%M %Z}" if isinstance(end, datetime) else ""
    return f"{start:%A %d %B %Y %H:%M %Z}{until}"


def _email(meeting: Meeting, item: Item, attendee: Attendee, method: str, text: str) -> EmailMessage:
    owner = meeting.owner
    lines = [
        f"{owner.display_name} <{owner.email}> "
        + ("cancelled this meeting." if method == "CANCEL" else "invites you to this meeting."),
        "",
        item.master.summary,
        f"When: {_when(item)}",
    ]
    if item.master.description:
        lines += ["", item.master.description]
    if method == "REQUEST":
        lines += [
            "",
            "Answer (accept, maybe or decline) here, no account needed:",
            links.answer_url(meeting, attendee.email),
        ]
    message = EmailMessage(
        subject=_subject(item, method, meeting.sent_sequence),
        body="\n".join(lines) + "\n",
        from_email=sender_for(meeting.tenant),
        to=[formataddr((attendee.name, attendee.email))],
        reply_to=[links.reply_address(meeting) or owner.email],
    )
    message.attach(imip.calendar_part(text, method))
    return message


# --- replies by email ------------------------------------------------------------------------------------------


def reply_receive(*, raw: bytes, recipient: str = "") -> Meeting:
    """Apply an iMIP REPLY that arrived at a meeting's signed reply address (RFC 6047 over RFC 5546 3.2.3)."""
    try:
        reply = imip.parse_reply(raw)
    except ICalError as exc:
        raise MeetingError(str(exc)) from exc
    meeting_id = _signed_meeting_id([recipient, *reply.recipients] if recipient else list(reply.recipients))
    meeting = Meeting.objects.filter(pk=meeting_id).first()
    if meeting is None or meeting.uid != reply.uid:
        raise MeetingError(f"No meeting with the UID {reply.uid[:200]!r} is waiting for this reply.", status=404)
    if reply.sender != reply.attendee.email.lower():
        raise MeetingError("The reply's sender is not the attendee it answers for.", status=403)
    meeting_answer(meeting=meeting, email=reply.attendee.email, partstat=reply.attendee.partstat)
    return meeting


def _signed_meeting_id(addresses: list[str]) -> int:
    problem = "The reply was not sent to a meeting's reply address."
    for address in addresses:
        try:
            return links.meeting_id_from_address(address)
        except links.LinkError as exc:
            problem = str(exc) if "+" in address else problem
    raise MeetingError(problem, status=403)


def snapshot_of(event: Event) -> str:
    """The owner's meeting as iCalendar, kept for the cancellation sent after the row is gone."""
    return serialise([item_from_event(event)])
