"""Meeting pages: a new meeting, answering one (signed in, or from an email's signed link), the organisation's
sender, and the endpoint iMIP replies are delivered to. Views parse input, call a service, render."""

from __future__ import annotations

import hmac
from email.utils import parseaddr

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.tenancy import Scope
from events import services as event_services
from events.convert import item_from_event
from events.forms import timezone_choices
from events.selectors import main_calendar

from . import links, services
from .forms import MeetingForm, SenderForm
from .models import InvitationSender, Meeting

ANSWERS = {"accept": "ACCEPTED", "tentative": "TENTATIVE", "decline": "DECLINED"}
MAX_INBOUND_BYTES = 1_000_000


def _scope(request: HttpRequest) -> Scope:
    return Scope(request.user)  # type: ignore[arg-type]


@login_required
def meeting_new(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    if not scope.calendars().exists():
        event_services.calendar_create(owner=request.user, name="My calendar")  # type: ignore[arg-type]
    calendars = scope.calendars()
    if request.method == "POST":
        form = MeetingForm(request.POST, calendars=calendars)
        if form.is_valid():
            data = form.cleaned_data
            meeting = services.meeting_create(
                owner=request.user,
                calendar=data["calendar"],
                title=data["title"],  # type: ignore[arg-type]
                description=data["description"],
                start=data["start"],
                end=data["end"],
                attendees=form.attendee_list(),
            )
            messages.success(request, f"“{data['title']}” was created and the invitations are on their way.")
            event = meeting.calendar.events.get(uid=meeting.uid, parent=None)
            return redirect("events:event_detail", pk=event.pk)
    else:
        zone = request.user.timezone  # type: ignore[union-attr]
        initial = {"calendar": main_calendar(calendars), **MeetingForm.initial_from_query(request.GET, zone)}
        form = MeetingForm(calendars=calendars, initial=initial)
    context = {"form": form, "timezones": timezone_choices(), "colleagues": scope.colleagues()}
    return render(request, "meetings/meeting_form.html", context)


@login_required
@require_POST
def meeting_respond(request: HttpRequest, pk: int) -> HttpResponse:
    """A colleague answers on their copy's page (Accept / Tentative / Decline)."""
    scope = _scope(request)
    event = scope.event(pk)
    meeting = scope.meeting_of(event)
    answer = ANSWERS.get(request.POST.get("answer", ""))
    if meeting is None or answer is None:
        messages.error(request, "Choose accept, tentative or decline on a meeting you are invited to.")
        return redirect("events:event_detail", pk=event.pk)
    try:
        services.meeting_answer(meeting=meeting, email=request.user.email, partstat=answer)  # type: ignore[union-attr]
    except services.MeetingError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Your answer was sent to {meeting.owner.display_name}.")
    return redirect("events:event_detail", pk=event.pk)


def _bad_link(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(request, "meetings/answer_refused.html", {"message": message}, status=status)


def meeting_answer_link(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation's link opens: the meeting and three buttons. No login; the signature is the proof."""
    try:
        meeting_id, email = links.read_answer_token(token)
    except links.LinkError as exc:
        return _bad_link(request, str(exc))
    meeting = Meeting.objects.filter(pk=meeting_id).select_related("owner", "calendar").first()
    event = meeting.calendar.events.filter(uid=meeting.uid, parent=None).first() if meeting else None
    if meeting is None or event is None or meeting.cancelled:
        return _bad_link(request, "This meeting was cancelled or no longer exists.", status=410)
    if request.method == "POST":
        try:
            services.meeting_answer(
                meeting=meeting, email=email, partstat=ANSWERS.get(request.POST.get("answer", ""), "")
            )
        except services.MeetingError as exc:
            return _bad_link(request, str(exc), status=exc.status)
        messages.success(request, "Thank you: your answer was recorded.")
        return redirect(request.path)
    item = item_from_event(event)
    mine = next((a for a in item.master.attendees if a.email.lower() == email), None)
    return render(
        request, "meetings/answer.html", {"meeting": meeting, "component": item.master, "mine": mine, "email": email}
    )


@csrf_exempt
@require_POST
def inbound_reply(request: HttpRequest) -> HttpResponse:
    """An iMIP REPLY as a raw RFC 822 message (an MTA pipe or a mail webhook POSTs it here).

    The meeting is named by the signed reply address it was sent to (`?to=` carries the envelope recipient);
    when MEETINGS_INBOUND_SECRET is set, X-Calsync-Inbound-Secret must match it too.
    """
    secret = settings.MEETINGS_INBOUND_SECRET
    if secret and not hmac.compare_digest(request.headers.get("X-Calsync-Inbound-Secret", ""), secret):
        return HttpResponse("The inbound secret is missing or wrong.\n", status=403, content_type="text/plain")
    if len(request.body) > MAX_INBOUND_BYTES:
        return HttpResponse("The message is too large.\n", status=413, content_type="text/plain")
    try:
        meeting = services.reply_receive(raw=request.body, recipient=_envelope_recipient(request))
    except services.MeetingError as exc:
        return HttpResponse(f"{exc}\n", status=exc.status, content_type="text/plain")
    return HttpResponse(f"Recorded the answer to {meeting.uid}.\n", status=202, content_type="text/plain")


def _envelope_recipient(request: HttpRequest) -> str:
    # An unencoded "+" in the query string arrives as a space, and an address holds no spaces.
    return parseaddr(request.GET.get("to", "").replace(" ", "+"))[1]


@login_required
def sender_settings(request: HttpRequest) -> HttpResponse:
    """The admin's choice of the name and address invitations come from."""
    scope = _scope(request)
    scope.require_admin()
    current = InvitationSender.objects.filter(tenant=scope.tenant).first()
    initial = {"name": current.name, "email": current.email} if current else {}
    form = SenderForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.sender_update(tenant=scope.tenant, **form.cleaned_data)
        messages.success(request, "The invitation sender was saved.")
        return redirect("meetings:sender")
    return render(request, "meetings/sender.html", {"form": form, "sender": services.sender_for(scope.tenant)})
