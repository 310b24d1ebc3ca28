"""The Microsoft 365 sandbox's own page: look at a mailbox's calendars, add, edit and delete events on the
"Outlook" side by hand, and watch calsync follow (at once where calsync subscribed to change notifications, else
after "Synchronize now"); send a subscription's lifecycle notifications by hand.

Changes go through the same State calls Graph requests do, so they show in calendarView/delta (with new
change keys) exactly as an edit in Outlook would.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from emulators.http import Request, Response, page, redirect

from .state import GraphError, State, parse_when

_TITLE = "Sandbox Microsoft 365"


def sandbox_page(state: State, request: Request) -> Response:
    if request.method == "POST":
        return _change(state, request)
    upn = request.query.get("mailbox", "").lower()
    if upn not in state.mailboxes:
        rows = "".join(f'<li><a href="/sandbox?mailbox={quote(u)}">{html.escape(u)}</a></li>' for u in state.mailboxes)
        body = f"<p>Mailboxes that signed in to the sandbox:</p><ul>{rows or '<li>none yet</li>'}</ul>"
        return Response(200, page(_TITLE, body, "Microsoft"), "text/html; charset=utf-8")
    box = state.mailboxes[upn]
    chosen = request.query.get("calendar") or box.calendars[0]
    try:
        calendar = state.calendar_for(upn, chosen)
    except GraphError as exc:
        return Response(404, page(_TITLE, f"<p>{html.escape(exc.message)}</p>", "Microsoft"), "text/html")
    tabs = " · ".join(
        f'<a href="/sandbox?mailbox={quote(upn)}&calendar={quote(c)}">{html.escape(state.calendars[c].name)}</a>'
        + ("" if state.calendars[c].can_edit else " <small>(read-only)</small>")
        for c in box.calendars
    )
    hidden = (f'<input type="hidden" name="mailbox" value="{html.escape(upn)}">'
              f'<input type="hidden" name="calendar" value="{html.escape(calendar.id)}">')  # fmt: skip
    with state.lock:
        events = [e for e in calendar.events.values() if e.get("type") in ("singleInstance", "seriesMaster")]
        events.sort(key=lambda e: parse_when(e["start"]))
        rows = "".join(_row(e, hidden) for e in events)
    body = f"""<p>{html.escape(upn)}: {tabs}</p>
<h2>{html.escape(calendar.name)}</h2>
<table><tr><th>Event</th><th>Starts</th><th></th></tr>{rows or '<tr><td colspan="3">No events.</td></tr>'}</table>
<h2>Add an event</h2>
<form method="post" action="/sandbox/events">{hidden}
<input name="subject" placeholder="Title" required> <input name="date" type="date" required>
<input name="time" type="time" value="09:00"> <input name="minutes" type="number" value="60" min="1">
<label>Time zone <input name="zone" value="UTC" size="14"></label>
<label><input type="checkbox" name="weekly"> weekly, 10 times</label> <button type="submit">Add</button></form>
{_subscriptions(state, calendar.id, hidden)}"""
    return Response(200, page(_TITLE, body, "Microsoft"), "text/html; charset=utf-8")


def _change(state: State, request: Request) -> Response:
    form = request.form()
    upn, calendar_id = form.get("mailbox", "").lower(), form.get("calendar", "")
    try:
        if request.path == "/sandbox/events":
            state.create(upn, calendar_id, _body(form))
        elif request.path == "/sandbox/events/edit":
            changes: dict[str, Any] = {"subject": form.get("subject", "")}
            if form.get("date"):
                changes.update(_when(form))
            state.update(upn, form.get("event", ""), changes, None)
        elif request.path == "/sandbox/events/delete":
            state.delete(upn, form.get("event", ""), None)
        elif request.path == "/sandbox/subscriptions/lifecycle":
            state.subscriptions.lifecycle(form.get("subscription", ""), form.get("event", ""))
        else:
            raise GraphError(404, "NotFound", "No such sandbox action.")
    except (GraphError, ValueError, KeyError) as exc:
        message = exc.message if isinstance(exc, GraphError) else f"Invalid input ({exc})."
        return Response(400, page(_TITLE, f"<p>{html.escape(message)}</p>", "Microsoft"), "text/html")
    return redirect(f"/sandbox?mailbox={quote(upn)}&calendar={quote(calendar_id)}", {})


def _when(form: dict[str, str]) -> dict[str, Any]:
    """start and end from the form's date, time, length and zone (a Windows or IANA name, as Graph takes)."""
    start = datetime.fromisoformat(f"{form['date']}T{form.get('time') or '09:00'}")
    end = start + timedelta(minutes=int(form.get("minutes") or 60))
    zone = form.get("zone") or "UTC"
    return {"start": {"dateTime": start.isoformat(), "timeZone": zone},
            "end": {"dateTime": end.isoformat(), "timeZone": zone}}  # fmt: skip


def _body(form: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": form.get("subject") or "Sandbox event", **_when(form)}
    if form.get("weekly"):
        day = datetime.fromisoformat(form["date"])
        body["recurrence"] = {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [day.strftime("%A").lower()]},
            "range": {"type": "numbered", "numberOfOccurrences": 10, "startDate": day.date().isoformat()},
        }
    return body


def _row(event: dict[str, Any], hidden: str) -> str:
    start = parse_when(event["start"])
    length = int((parse_when(event["end"]) - start).total_seconds() // 60)
    zone = event["start"].get("timeZone", "UTC")
    repeat = " (repeats)" if event.get("recurrence") else ""
    ident = f'<input type="hidden" name="event" value="{html.escape(event["id"])}">'
    subject = html.escape(event.get("subject", ""))
    return (
        f"<tr><td>{subject}{repeat}</td><td>{start:%Y-%m-%d %H:%M} {html.escape(zone)}</td><td>"
        f'<form method="post" action="/sandbox/events/edit" data-testid="edit">{hidden}{ident}'
        f'<input name="subject" value="{subject}" aria-label="Title"> '
        f'<input name="date" type="date" value="{start:%Y-%m-%d}" aria-label="Date"> '
        f'<input name="time" type="time" value="{start:%H:%M}" aria-label="Time"> '
        f'<input name="minutes" type="number" value="{length}" min="1" style="width:5em" aria-label="Minutes"> '
        f'<input type="hidden" name="zone" value="{html.escape(zone)}"><button>Save</button></form> '
        f'<form method="post" action="/sandbox/events/delete" style="display:inline">{hidden}{ident}'
        f"<button>Delete</button></form></td></tr>"
    )


def _subscriptions(state: State, calendar_id: str, hidden: str) -> str:
    """The calendar's change notification subscriptions, each with buttons sending its lifecycle notifications."""
    with state.subscriptions.lock:
        found = [s for s in state.subscriptions.items.values() if s.calendar_id == calendar_id]
    rows = "".join(
        f"<tr><td><code>{html.escape(s.id)}</code></td><td>{s.expires:%Y-%m-%d %H:%M} UTC</td>"
        f"<td>{len(s.delivered)}</td><td>"
        + "".join(
            f'<form method="post" action="/sandbox/subscriptions/lifecycle" style="display:inline">{hidden}'
            f'<input type="hidden" name="subscription" value="{html.escape(s.id)}">'
            f'<button name="event" value="{event}">{event}</button></form> '
            for event in ("missed", "reauthorizationRequired", "subscriptionRemoved")
        )
        + "</td></tr>"
        for s in found
    )
    return ("<h2>Change notifications</h2><table><tr><th>Subscription</th><th>Ends</th><th>Delivered</th><th>"
            f"</th></tr>{rows or '<tr><td colspan=4>No subscription on this calendar.</td></tr>'}</table>")  # fmt: skip
