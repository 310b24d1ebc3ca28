"""The sandbox's Google Workspace page: what a Workspace admin does in Google Cloud and the Admin console before
calsync's organisation-wide set-up can work, in one form.

It makes the domain's users, a service account with a JSON key (downloaded as Google Cloud hands it out:
https://cloud.google.com/iam/docs/keys-create-delete#creating) and, when ticked, domain-wide delegation of the
calendar scope to its client id (https://support.google.com/a/answer/162106). calsync then exchanges a JWT signed
with that key at the token endpoint, as the real one does.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import quote

from emulators.http import Response, page

from .state import CALENDAR_SCOPE, State

_ADDRESS = re.compile(r"^[^@\s]+@([a-z0-9-]+\.)+[a-z]{2,}$", re.IGNORECASE)


def workspace_page(state: State, request: Any) -> Response:
    if request.method == "POST" and request.path == "/sandbox/workspace/keys":
        return _make_key(state, request.form())
    return _form(state, request.query, problem="")


def _make_key(state: State, form: dict[str, str]) -> Response:
    domain = form.get("domain", "").strip().lower().lstrip("@")
    users = [u.strip().lower() for u in form.get("users", "").split() if u.strip()]
    if not _ADDRESS.match(f"user@{domain}"):
        return _form(state, form, problem="Give your Workspace domain, such as example.com.", status=400)
    strangers = [u for u in users if not _ADDRESS.match(u) or u.split("@")[1] != domain]
    if strangers:
        return _form(state, form, problem=f"Not addresses of {domain}: {', '.join(strangers)}.", status=400)
    for user in users:
        state.account(user)
    key = state.create_service_account(domain, delegation=form.get("delegation") == "on")
    filename = f"{key['project_id']}-{key['private_key_id'][:12]}.json"
    return Response(200, json.dumps(key, indent=2), "application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip


def _form(state: State, values: dict[str, str], problem: str, status: int = 200) -> Response:
    domain, users = html.escape(values.get("domain", "")), html.escape(values.get("users", ""))
    accounts = "".join(
        f"<tr><td><code>{html.escape(email)}</code></td><td>{html.escape(a['domain'])}</td>"
        f"<td><code>{html.escape(a['client_id'])}</code></td>"
        f"<td>{'calendar scope' if a['delegated_scopes'] else 'none'}</td></tr>"
        for email, a in state.service_accounts.items()
    )
    known = "".join(
        f'<li><a href="/sandbox?email={quote(e)}">{html.escape(e)}</a></li>'
        for e in state.accounts
        if values.get("domain") and e.endswith("@" + values.get("domain", "").lower())
    )
    body = f"""
{f'<p class="flash error" role="alert">{html.escape(problem)}</p>' if problem else ""}
<p>In real life an admin does this in Google Cloud (a service account and its JSON key) and in the Google Admin
console (Security › API controls › Domain-wide delegation). Here it is one form.</p>
<form method="post" action="/sandbox/workspace/keys">
  <label>Workspace domain <input name="domain" value="{domain}" placeholder="example.com" required></label>
  <label>Users of the domain (one address a line; each gets a sandbox Google account)
    <textarea name="users" rows="3">{users}</textarea></label>
  <label><input type="checkbox" name="delegation" checked> Domain-wide delegation for
    <code>{CALENDAR_SCOPE}</code></label>
  <p><button type="submit" data-testid="create-key">Create service account and download its JSON key</button></p>
</form>
{f"<h2>Users of {domain}</h2><ul>{known}</ul>" if known else ""}
<h2>Service accounts</h2>
<table><tr><th>Service account</th><th>Domain</th><th>Client id</th><th>Delegated</th></tr>
{accounts or '<tr><td colspan="4">None yet.</td></tr>'}</table>"""
    return Response(status, page("Sandbox Google Workspace", body), "text/html; charset=utf-8")
