"""The sandbox's own small web page: look at and change the "Google" side by hand, and watch calsync follow."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from .state import ApiError, State


def sandbox_page(state: State, request: Any) -> Any:
    from emulators.http import Response, page, redirect

    if request.method == "POST":
        form = request.form()
        email, calendar_id = form.get("email", ""), form.get("calendar", "")
        back = f"/sandbox?email={quote(email)}&calendar={quote(calendar_id)}"
        try:
            if request.path == "/sandbox/events":
                start = datetime.fromisoformat(f"{form['date']}T{form.get('time') or '09:00'}")
                calendar = state.calendar_for(email, calendar_id, write=True)
                zone = calendar.time_zone
                body = {"summary": form.get("summary") or "Sandbox event",
                        "start": {"dateTime": start.isoformat(), "timeZone": zone},
                        "end": {"dateTime": (start + timedelta(minutes=int(form.get("minutes") or 60))).isoformat(),
                                "timeZone": zone}}  # fmt: skip
                if form.get("weekly"):
                    body["recurrence"] = ["RRULE:FREQ=WEEKLY;COUNT=10"]
                state.insert(email, calendar_id, body)
            elif request.path == "/sandbox/events/delete":
                state.delete(email, calendar_id, form.get("event", ""), None)
            elif request.path == "/sandbox/events/rename":
                state.write(email, calendar_id, form.get("event", ""), {"summary": form.get("summary", "")}, None,
                            patch=True)  # fmt: skip
        except (ApiError, ValueError, KeyError) as exc:
            return Response(400, page("Sandbox Google", f"<p>{html.escape(str(exc))}</p>"), "text/html")
        return redirect(back, {})
    email = request.query.get("email", "")
    if email not in state.accounts:
        rows = "".join(f'<li><a href="/sandbox?email={quote(e)}">{html.escape(e)}</a></li>' for e in state.accounts)
        body = (
            f"<p>Accounts that signed in to the sandbox:</p><ul>{rows or '<li>none yet</li>'}</ul>"
            '<p><a href="/sandbox/workspace">Google Workspace: service account keys and delegation</a></p>'
        )
        return Response(200, page("Sandbox Google", body), "text/html; charset=utf-8")
    calendars = state.calendar_list(email)
    chosen = request.query.get("calendar") or email
    tabs = " · ".join(f'<a href="/sandbox?email={quote(email)}&calendar={quote(c["id"])}">{html.escape(c["summary"])}'
                      f'</a> <small>({c["accessRole"]})</small>' for c in calendars)  # fmt: skip
    calendar = state.calendar_for(email, chosen)
    events = [e for e in calendar.events.values() if e.get("status") != "cancelled" and "recurringEventId" not in e]
    hidden = (f'<input type="hidden" name="email" value="{html.escape(email)}">'
              f'<input type="hidden" name="calendar" value="{html.escape(chosen)}">')  # fmt: skip
    rows = "".join(_row(e, hidden) for e in sorted(events, key=lambda e: str(e["start"])))
    body = f"""<p>{html.escape(email)}: {tabs}</p>
<h2>{html.escape(calendar.summary)}</h2>
<table><tr><th>Event</th><th>Starts</th><th></th></tr>{rows or '<tr><td colspan="3">No events.</td></tr>'}</table>
<h2>Add an event</h2>
<form method="post" action="/sandbox/events">{hidden}
<input name="summary" placeholder="Title" required> <input name="date" type="date" required>
<input name="time" type="time" value="09:00"> <input name="minutes" type="number" value="60" min="1">
<label><input type="checkbox" name="weekly"> weekly, 10 times</label> <button type="submit">Add</button></form>"""
    return Response(200, page("Sandbox Google", body), "text/html; charset=utf-8")


def _row(event: dict[str, Any], hidden: str) -> str:
    start = event["start"].get("dateTime") or event["start"].get("date")
    repeat = " (repeats)" if event.get("recurrence") else ""
    ident = f'<input type="hidden" name="event" value="{html.escape(event["id"])}">'
    return (
        f"<tr><td>{html.escape(event.get('summary', ''))}{repeat}</td><td>{html.escape(start)}</td><td>"
        f'<form method="post" action="/sandbox/events/rename" style="display:inline">{hidden}{ident}'
        f'<input name="summary" value="{html.escape(event.get("summary", ""))}"><button>Rename</button></form> '
        f'<form method="post" action="/sandbox/events/delete" style="display:inline">{hidden}{ident}'
        f"<button>Delete</button></form></td></tr>"
    )
