"""The Exchange sandbox's own web page: change the "Exchange" side by hand, as Outlook would, and watch calsync
follow. Edits change only the field they name (Outlook's UpdateItem sets what changed), so calsync's extended
properties stay on the item; the page also lists the meeting mail Exchange would have sent."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from emulators.http import Request, Response, page, redirect

from .state import EwsError, Login, State

TITLE = "Sandbox Exchange"
SYNC_USER = "calsync-sync"  # the organisation's sync account, with the ApplicationImpersonation role


def sandbox_state(domain: str, user: str, password: str, address: str) -> State:
    """What `make run` serves: the user's own login and mailbox (with a second calendar), and a sync account for
    the organisation-wide set-up that may impersonate anyone in the mail domain, whose mailboxes exist on first
    use, so "Test Exchange Settings" succeeds for whichever admin tries it."""
    state = State()
    state.auto_mailboxes = True
    state.mailbox(address, "Ann (sandbox)", password=password, username=f"{domain}\\{user}")
    state.add_folder(address, "Team meetings")
    sync_address = f"{SYNC_USER}@{address.split('@')[1]}"
    state.mailbox(sync_address, "calsync sync account")
    state.add_login(f"{domain}\\{SYNC_USER}", password, sync_address, impersonation=True)
    return state


def sandbox_page(state: State, request: Request) -> Response:
    if request.method == "POST":
        form = request.form()
        mailbox, folder_id = form.get("mailbox", "").lower(), form.get("folder", "")
        try:
            _change(state, request.path, mailbox, folder_id, form)
        except (EwsError, ValueError, KeyError) as exc:
            text = exc.text if isinstance(exc, EwsError) else str(exc)
            return Response(400, page(TITLE, f"<p>{html.escape(text)}</p>", "Exchange"), "text/html; charset=utf-8")
        return redirect(f"/sandbox?mailbox={quote(mailbox)}&folder={quote(folder_id)}", {})
    mailbox = request.query.get("mailbox", "").lower()
    if mailbox not in state.mailboxes:
        rows = "".join(f'<li><a href="/sandbox?mailbox={quote(a)}">{html.escape(a)}</a></li>' for a in state.mailboxes)
        body = f"<p>Mailboxes on this server:</p><ul>{rows or '<li>none</li>'}</ul>"
        return Response(200, page(TITLE, body, "Exchange"), "text/html; charset=utf-8")
    return Response(200, page(TITLE, _mailbox_body(state, mailbox, request.query.get("folder", "")), "Exchange"),
                    "text/html; charset=utf-8")  # fmt: skip


def _owner(mailbox: str) -> Login:
    """The mailbox's owner, as the state's access checks know people."""
    return Login(username=mailbox, password="", address=mailbox)


def _change(state: State, path: str, mailbox: str, folder_id: str, form: dict[str, str]) -> None:
    owner = _owner(mailbox)
    if path == "/sandbox/events":
        start = datetime.fromisoformat(f"{form['date']}T{form.get('time') or '09:00'}").replace(tzinfo=UTC)
        length = timedelta(minutes=int(form.get("minutes") or 60))
        guests = [(a.strip(), a.strip(), "Unknown") for a in form.get("attendees", "").split(",") if a.strip()]
        state.create(mailbox, folder_id or None, {"subject": form.get("subject") or "Sandbox event", "start": start,
                                                  "end": start + length, "required": guests,
                                                  "free_busy": form.get("free_busy") or "Busy"},
                     "SendToAllAndSaveCopy")  # as Outlook's Send: attendees get a request  # fmt: skip
        return
    item = state.get(mailbox, owner, form["item"])
    if path == "/sandbox/events/rename":
        state.update(mailbox, owner, item, {"subject": form.get("subject", "")}, set(), None)
    elif path == "/sandbox/events/move":
        later = timedelta(minutes=int(form.get("minutes") or 60))
        state.update(mailbox, owner, item, {"start": item["start"] + later, "end": item["end"] + later}, set(), None)
    elif path == "/sandbox/events/delete":
        state.delete(mailbox, owner, item["id"], how="MoveToDeletedItems")
    else:
        raise ValueError("There is nothing to do at this address.")


def _mailbox_body(state: State, mailbox: str, folder_id: str) -> str:
    box = state.mailboxes[mailbox]
    folder = box.folders.get(folder_id) or state.folder(mailbox, distinguished="calendar")
    tabs = " · ".join(f'<a href="/sandbox?mailbox={quote(mailbox)}&folder={quote(f.id)}">{html.escape(f.name)}</a>'
                      for f in box.folders.values())  # fmt: skip
    hidden = (f'<input type="hidden" name="mailbox" value="{html.escape(mailbox)}">'
              f'<input type="hidden" name="folder" value="{html.escape(folder.id)}">')  # fmt: skip
    rows = "".join(_row(i, hidden) for i in sorted(folder.items.values(), key=lambda i: i["start"]))
    mail = "".join(
        f"<li>{html.escape(m['method'])} to {html.escape(m['to'])}: {html.escape(m['subject'])}</li>"
        for m in state.sent_invitations
        if m["organizer"] == mailbox
    )
    return f"""<p>{html.escape(mailbox)}: {tabs}</p>
<h2>{html.escape(folder.name)}</h2>
<table><tr><th>Event</th><th>Starts (UTC)</th><th>Shows as</th><th></th></tr>
{rows or '<tr><td colspan="4">No events.</td></tr>'}</table>
<h2>Add an event</h2>
<form method="post" action="/sandbox/events" data-testid="add-event">{hidden}
<input name="subject" placeholder="Title" required> <input name="date" type="date" required>
<input name="time" type="time" value="09:00"> <input name="minutes" type="number" value="60" min="1">
<select name="free_busy">{"".join(f"<option>{s}</option>" for s in _STATUSES)}</select>
<input name="attendees" placeholder="Attendees, comma separated"> <button type="submit">Add</button></form>
<h2>Mail Exchange would have sent</h2><ul data-testid="sent-mail">{mail or "<li>none</li>"}</ul>"""


_STATUSES = ("Busy", "Free", "Tentative", "OOF", "WorkingElsewhere", "NoData")


def _row(item: dict[str, Any], hidden: str) -> str:
    ident = f'<input type="hidden" name="item" value="{html.escape(item["id"])}">'
    repeat = " (repeats)" if item.get("recurrence") else ""
    return (
        f"<tr><td>{html.escape(item['subject'])}{repeat}</td><td>{item['start'].astimezone(UTC):%Y-%m-%d %H:%M}</td>"
        f"<td>{html.escape(item['free_busy'])}</td><td>"
        f'<form method="post" action="/sandbox/events/rename" style="display:inline">{hidden}{ident}'
        f'<input name="subject" value="{html.escape(item["subject"])}" aria-label="Title">'
        "<button>Rename</button></form> "
        f'<form method="post" action="/sandbox/events/move" style="display:inline">{hidden}{ident}'
        f'<input type="hidden" name="minutes" value="60"><button>One hour later</button></form> '
        f'<form method="post" action="/sandbox/events/delete" style="display:inline">{hidden}{ident}'
        "<button>Delete</button></form></td></tr>"
    )
