"""The Microsoft emulator's HTTPS surface: identity platform v2.0 endpoints and Graph v1.0 calendars.

msal refuses http:// authorities, so the emulator speaks HTTPS with a
self-signed certificate that callers trust explicitly (`serve()` returns its path).
"""

from __future__ import annotations

import html
import json
import re
import ssl
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit
from wsgiref.simple_server import make_server

from emulators.http import Emulator, QuietHandler, Request, Response, ThreadingServer, page, redirect

from . import schedule, subscriptions
from .state import Calendar, Grant, GraphError, IdentityError, Mailbox, State, parse_when, window

Start = Callable[[str, list[tuple[str, str]]], Any]
# Page sizes without $top or Prefer: odata.maxpagesize: Outlook collections page by 10
# (https://learn.microsoft.com/graph/paging); a delta round's pages are the service's to choose.
LIST_PAGE = 10
DELTA_PAGE = 100
# What says where the client called: a batch's requests answer with links there too.
_ORIGIN_HEADERS = ("host", "x-forwarded-host", "x-forwarded-proto")


class MicrosoftEmulator(Emulator):
    def __init__(self, state: State | None = None, base_url: str = "") -> None:
        self.state = state or State()
        self.base_url = base_url
        # Where browsers are sent for consent; a plain-http twin in the sandbox spares people a certificate warning.
        self.browser_url = ""

    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except GraphError as exc:
            return Response.json(exc.body(), exc.status, headers=exc.headers)
        except IdentityError as exc:
            return Response.json({"error": exc.error, "error_description": exc.description,
                                  "error_codes": [int(exc.description[6:].split(":")[0])]
                                  if exc.description.startswith("AADSTS") else []}, exc.status)  # fmt: skip
        except (ValueError, KeyError) as exc:
            return Response.json(GraphError(400, "BadRequest", f"Invalid request ({exc}).").body(), 400)

    def _route(self, request: Request) -> Response:
        parts = [unquote(p) for p in request.path.strip("/").split("/")]
        if parts[:1] == ["v1.0"]:
            return self._graph(request, parts[1:])
        if len(parts) >= 2 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return self._openid(parts[0])
        if len(parts) == 4 and parts[1:3] == ["oauth2", "v2.0"]:
            endpoint = parts[3]
            if endpoint == "authorize" and request.method == "GET":
                return self._consent(request, parts[0])
            if endpoint == "approve" and request.method == "POST":
                return self._approve(request, parts[0])
            if endpoint == "token" and request.method == "POST":
                return self._token(request, parts[0])
        if len(parts) == 2 and parts[1] == "adminconsent":
            return self._admin_consent(request, parts[0])
        if parts == ["_emulator", "faults"] and request.method == "POST":
            data = request.json()
            with self.state.lock:
                self.state.faults.update({k: v for k, v in data.items() if k in self.state.faults})
                if data.get("expire_delta_tokens"):
                    self.state.expire_delta_tokens()
            return Response.json(self.state.faults)
        if parts == ["_emulator", "sent_invitations"]:
            # What Graph would have emailed, for tests and the sandbox page; DELETE forgets it.
            with self.state.lock:
                if request.method == "DELETE":
                    self.state.sent_invitations.clear()
                return Response.json(list(self.state.sent_invitations))
        if parts[:2] == ["_emulator", "subscriptions"]:
            return subscriptions.control(self.state.subscriptions, request, parts[2:])
        if parts in ([""], ["sandbox"]) or parts[:1] == ["sandbox"]:
            from .sandbox import sandbox_page

            return sandbox_page(self.state, request)
        raise GraphError(404, "NotFound", "Resource not found.")

    # --- identity platform ---------------------------------------------------------------------------

    def _openid(self, tenant: str) -> Response:
        # The issuer names the tenant by its id, also when the request named it by a domain.
        base, tenant_id = f"{self.base_url}/{tenant}", self.state.tenant_id(tenant)
        browser = f"{self.browser_url or self.base_url}/{tenant}"
        return Response.json({
            "authorization_endpoint": f"{browser}/oauth2/v2.0/authorize", "token_endpoint": f"{base}/oauth2/v2.0/token",
            "issuer": f"https://login.microsoftonline.com/{tenant_id}/v2.0", "jwks_uri": f"{base}/discovery/v2.0/keys",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout", "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        })  # fmt: skip

    def _consent(self, request: Request, tenant: str) -> Response:
        q = request.query
        if q.get("client_id") not in self.state.apps:
            return Response(
                400, page("Sign in (sandbox)", "<p>AADSTS700016: Application not found.</p>", "Microsoft"), "text/html"
            )
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in q.items()
        )
        hint = html.escape(q.get("login_hint") or "sandbox.user@contoso.example")
        scopes = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in q.get("scope", "").split())
        body = f"""<p>calsync wants to read and write your calendars.</p><ul>{scopes}</ul>
<form method="post" action="/{html.escape(tenant)}/oauth2/v2.0/approve">{hidden}
<label>Sandbox Microsoft account <input name="login" type="email" value="{hint}" required></label>
<p><button name="decision" value="accept" type="submit">Accept</button>
<button name="decision" value="cancel" type="submit" formnovalidate>Cancel</button></p></form>"""
        return Response(200, page("Sign in to Microsoft (sandbox)", body, "Microsoft"), "text/html; charset=utf-8")

    def _approve(self, request: Request, tenant: str) -> Response:
        form = request.form()
        redirect_uri, state = form.get("redirect_uri", ""), form.get("state", "")
        if form.get("decision") != "accept":
            return redirect(redirect_uri, {"error": "access_denied", "error_description": "AADSTS65004: User declined "
                            "to consent to access the app.", "state": state})  # fmt: skip
        box = self.state.mailbox(form.get("login", ""))
        grant = Grant(user=box.upn, client_id=form["client_id"], scopes=form.get("scope", "").split(),
                      redirect_uri=redirect_uri, challenge=form.get("code_challenge", ""),
                      nonce=form.get("nonce", ""))  # fmt: skip
        code = self.state.issue_code(grant)
        return redirect(redirect_uri, {"code": code, "state": state, "session_state": box.id})

    def _token(self, request: Request, tenant: str) -> Response:
        form = request.form()
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        grant = form.get("grant_type")
        if form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            # A certificate instead of a secret: the assertion must be signed by a certificate of the app.
            secret = self.state.check_assertion(client_id, form.get("client_assertion", ""),
                                                f"{self.base_url}/{tenant}/oauth2/v2.0/token")  # fmt: skip
        if grant == "authorization_code":
            answer = self.state.redeem(form.get("code", ""), client_id, secret, form.get("redirect_uri", ""),
                                       form.get("code_verifier", ""))  # fmt: skip
        elif grant == "refresh_token":
            answer = self.state.refresh_tokens(form.get("refresh_token", ""), client_id, secret)
        elif grant == "client_credentials":
            # An app asks for the permissions it was granted as "<resource>/.default".
            # https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
            if not form.get("scope", "").endswith("/.default"):
                raise IdentityError(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid. "
                                    "Client credential flows must have a scope value with /.default.")  # fmt: skip
            answer = self.state.app_token(tenant, client_id, secret)
        else:
            raise IdentityError(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant.")
        return Response.json(answer, headers={"Cache-Control": "no-store"})

    def _admin_consent(self, request: Request, tenant: str) -> Response:
        """The admin consent endpoint: a tenant's admin signs in and grants the app its application permissions
        for the whole tenant, then goes back with admin_consent=True and the tenant's id.
        https://learn.microsoft.com/entra/identity-platform/v2-admin-consent"""
        q = request.query
        redirect_uri, state = q.get("redirect_uri", ""), q.get("state", "")
        if q.get("client_id") not in self.state.apps:
            return Response(400, page("Admin consent (sandbox)", "<p>AADSTS700016: Application not found.</p>",
                                      "Microsoft"), "text/html; charset=utf-8")  # fmt: skip
        if request.method == "GET" and not q.get("decision"):
            hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                             for k, v in q.items())  # fmt: skip
            permissions = "".join(f"<li><code>{html.escape(p)}</code> (application)</li>"
                                  for p in sorted(self.state.roles(q["client_id"])))  # fmt: skip
            body = f"""<p>Grant calsync access to every calendar in your organisation?</p><ul>{permissions}</ul>
<form method="get"><label>Sandbox administrator <input name="login" type="email" required
placeholder="admin@your-domain.example"></label>{hidden}
<p><button name="decision" value="accept" type="submit">Accept</button>
<button name="decision" value="cancel" type="submit" formnovalidate>Cancel</button></p></form>"""
            return Response(200, page("Admin consent (sandbox)", body, "Microsoft"), "text/html; charset=utf-8")
        if q.get("decision") != "accept":
            return redirect(redirect_uri, {"error": "access_denied", "error_description": "AADSTS65004: The admin "
                            "declined to consent.", "state": state})  # fmt: skip
        tenant_id = self.state.tenant_id(tenant)
        if q.get("login"):  # the admin signs in to their own tenant, which the URL may name or leave "common"
            admin = self.state.mailbox(q["login"])
            if tenant not in ("common", "organizations") and tenant_id not in (admin.tenant, tenant):
                return redirect(redirect_uri, {"error": "access_denied", "state": state, "error_description":
                                "AADSTS50020: The administrator's account is not in this tenant."})  # fmt: skip
            tenant_id = admin.tenant
        elif tenant_id not in self.state.tenants:
            tenant_id = self.state.tenant_for(tenant)
        self.state.admin_consent.add((tenant_id, q["client_id"]))
        return redirect(redirect_uri, {"admin_consent": "True", "tenant": tenant_id, "state": state})

    # --- Graph --------------------------------------------------------------------------------------------

    def _who(self, request: Request, parts: list[str]) -> tuple[str, list[str], set[str]]:
        """The mailbox a Graph path names, the rest of the path, and the permissions the caller holds there."""
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        principal, client_id = self.state.principal(auth[7:].strip())
        delegated = {"Calendars.ReadWrite"}
        if parts[:1] == ["me"]:
            if principal.startswith("app:"):
                raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
            return principal, parts[1:], delegated
        if parts[:1] == ["users"] and len(parts) >= 2:
            box = self.state.user(parts[1])
            if box is None:
                raise GraphError(404, "ErrorInvalidUser", f"The requested user '{parts[1]}' is invalid.")
            if principal.startswith("app:"):
                # App-only access: the tenant's own mailboxes, with the application permission consented to.
                # https://learn.microsoft.com/graph/api/user-list-calendars#permissions
                roles = self.state.roles(client_id) & {"Calendars.Read", "Calendars.ReadWrite"}
                if principal[4:] != box.tenant or not roles:
                    raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
                return box.upn, parts[2:], roles
            if principal != box.upn:
                raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            return box.upn, parts[2:], delegated
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{parts[0] if parts else ''}'.")

    def _graph(self, request: Request, parts: list[str]) -> Response:
        if parts == ["$batch"] and request.method == "POST":
            return self._batch(request)
        self.state.check_faults()
        if parts[:1] == ["subscriptions"]:
            return subscriptions.api(self, request, parts[1:])
        if len(parts) == 1 and parts[0].startswith("applications(") and request.method == "GET":
            return self._application(request, parts[0])
        upn, rest, roles = self._who(request, parts)
        if request.method != "GET" and "Calendars.ReadWrite" not in roles:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        # Links Graph returns are absolute, on the host the client called (behind a proxy: the proxy's), and
        # continue the path the request named (/me or /users/{id}).
        own = urlsplit(self.base_url)
        host = request.headers.get("x-forwarded-host") or request.headers.get("host") or own.netloc
        origin = f"{request.headers.get('x-forwarded-proto') or own.scheme}://{host}"
        user_url = f"{origin}/v1.0/" + "/".join(quote(p, safe="@") for p in parts[: len(parts) - len(rest)])
        return self._mailbox(request, upn, rest, user_url)

    def _application(self, request: Request, segment: str) -> Response:
        """GET /applications(appId='{appId}'): an app registration, read by an app holding Application.Read.All
        (or a higher application permission). https://learn.microsoft.com/graph/api/application-get"""
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        principal, client_id = self.state.principal(auth[7:].strip())
        readers = {"Application.Read.All", "Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"}
        if not principal.startswith("app:") or not self.state.roles(client_id) & readers:
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        match = re.fullmatch(r"applications\(appId='([^']*)'\)", segment)
        if match and (status := self.state.registration_errors.get(match[1])):
            raise GraphError(status, "Request_BadRequest", "The request could not be processed.")
        registration = self.state.registration(match[1]) if match else None
        if registration is None:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{segment}' does not exist or one of its "
                             "queried reference-property objects are not present.")  # fmt: skip
        fields = [f for f in request.query.get("$select", "").split(",") if f] or list(registration)
        body = {"@odata.context": f"{self.base_url}/v1.0/$metadata#applications/$entity"}
        return Response.json({**body, **{f: registration[f] for f in fields if f in registration}})

    def _mailbox(self, request: Request, upn: str, rest: list[str], user_url: str) -> Response:
        state, method, q = self.state, request.method, request.query
        box = state.mailboxes[upn]
        prefer = request.headers.get("prefer", "")
        zone_name = _prefer(prefer, "outlook.timezone")
        if not rest and method == "GET":
            return Response.json({"id": box.id, "displayName": box.name, "mail": box.upn,
                                  "userPrincipalName": box.upn})  # fmt: skip
        if rest == ["calendars"] and method == "GET":
            found = [_calendar(box, state.calendars[i]) for i in box.calendars]
            return _paged(found, q, prefer, f"{user_url}/calendars")
        if rest == ["calendar", "getSchedule"] and method == "POST":
            return Response.json(schedule.get_schedule(state, upn, request.json()))
        # /calendar is the default calendar, /calendars/{id} one of them; what follows is the same for both.
        # https://learn.microsoft.com/graph/api/calendar-get
        calendar_id, base = None, user_url
        if rest[:1] == ["calendar"]:
            calendar_id, rest, base = box.calendars[0], rest[1:], f"{user_url}/calendar"
        elif rest[:1] == ["calendars"] and len(rest) >= 2:
            calendar_id, rest = rest[1], rest[2:]
            base = f"{user_url}/calendars/{quote(calendar_id, safe='')}"
        if calendar_id and not rest and method == "GET":
            return Response.json(_calendar(box, state.calendar_for(upn, calendar_id)))
        if rest == ["calendarView", "delta"] and method == "GET":
            size = int(_prefer(prefer, "odata.maxpagesize") or DELTA_PAGE)
            return Response.json(state.delta(upn, calendar_id, q, size, f"{base}/calendarView/delta", zone_name))
        if rest == ["calendarView"] and method == "GET":
            found = state.calendar_view(upn, calendar_id, q, zone_name)
            return _paged(found, q, prefer, f"{base}/calendarView")
        expand = q.get("$expand", "")
        if rest == ["events"] and method == "POST":
            return _event(state.create(upn, calendar_id, request.json()), 201)
        if rest == ["events"] and method == "GET":
            found = state.events(upn, calendar_id, q.get("$filter", ""), expand, zone_name)
            return _paged(found, q, prefer, f"{base}/events")
        if len(rest) == 2 and rest[0] == "events":
            if method == "GET":
                return _event(state.get(upn, rest[1], zone_name, expand, calendar_id))
            state.get(upn, rest[1], calendar_id=calendar_id)  # 404 outside the calendar the path names
            if method == "PATCH":
                return _event(state.update(upn, rest[1], request.json(), request.headers.get("if-match")))
            if method == "DELETE":
                state.delete(upn, rest[1], request.headers.get("if-match"))
                return Response(204)
        if len(rest) == 3 and rest[0] == "events" and rest[2] == "cancel" and method == "POST":
            state.cancel(upn, rest[1])
            return Response(202)
        if len(rest) == 3 and rest[0] == "events" and rest[2] == "instances" and method == "GET":
            start, end = window(q)
            with state.lock:
                calendar, master = state.event_for(upn, rest[1])
                found = state.instances_of(calendar, master, start, end) if master.get("recurrence") else []
                found = [state._out(e, zone_name) for e in found]
            return _paged(found, q, prefer, f"{base}/events/{quote(rest[1], safe='')}/instances")
        if method not in ("GET", "POST", "PATCH", "DELETE"):
            raise GraphError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed here.")
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{'/'.join(rest)}'.")

    def _batch(self, request: Request) -> Response:
        """JSON batching: up to 20 requests with unique ids, each answered on its own (status, headers, body);
        dependsOn orders them, and a request whose dependency failed is answered 424 Failed Dependency. A batch
        that breaks these rules fails as a whole with 400. https://learn.microsoft.com/graph/json-batching"""
        auth = request.headers.get("authorization", "")
        self.state.principal(auth[7:].strip() if auth.lower().startswith("bearer ") else "")
        requests = request.json().get("requests")
        if not isinstance(requests, list) or not requests:
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > 20:
            raise GraphError(400, "BadRequest", "The number of batch requests exceeds the limit of 20.")
        ids = [str(item.get("id", "")) for item in requests]
        if "" in ids or len({i.lower() for i in ids}) != len(ids):  # ids are case-insensitive
            raise GraphError(400, "BadRequest", "Batch request ids must be unique and not empty.")
        for item in requests:
            if not item.get("method") or not item.get("url"):
                raise GraphError(400, "BadRequest", f"Request {item['id']} needs a method and a url.")
            if item.get("body") is not None and not any(k.lower() == "content-type" for k in item.get("headers") or {}):
                raise GraphError(400, "BadRequest", f"Write request id : {item['id']} does not contain Content-Type "
                                 "header or body.")  # fmt: skip
            unknown = [d for d in item.get("dependsOn") or [] if str(d).lower() not in {i.lower() for i in ids}]
            if unknown:
                raise GraphError(400, "BadRequest", f"Request {item['id']} depends on unknown request {unknown[0]}.")
        statuses: dict[str, int] = {}
        responses = []
        for item in _in_dependency_order(requests):
            failed = [d for d in item.get("dependsOn") or [] if statuses.get(str(d).lower(), 200) >= 400]
            if failed:
                statuses[str(item["id"]).lower()] = 424
                responses.append(
                    {
                        "id": item["id"],
                        "status": 424,
                        "body": GraphError(
                            424, "FailedDependency", f"Request {failed[0]}, which this one depends on, failed."
                        ).body(),
                    }
                )
                continue
            url = urlsplit(item["url"] if item["url"].startswith("/") else "/" + item["url"])
            headers = {
                k: v for k, v in request.headers.items() if k in ("host", "x-forwarded-host", "x-forwarded-proto")
            }
            headers |= {"authorization": auth, **{k.lower(): v for k, v in (item.get("headers") or {}).items()}}
            body = json.dumps(item["body"]).encode() if item.get("body") is not None else b""
            inner = self.handle(Request(item["method"], "/v1.0" + url.path, url.query, headers, body))
            statuses[str(item["id"]).lower()] = inner.status
            responses.append({"id": item["id"], "status": inner.status, "headers": inner.headers,
                              "body": json.loads(inner.body) if inner.body else None})  # fmt: skip
        return Response.json({"responses": responses})


def _in_dependency_order(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each request after those it depends on; a cycle is a bad batch."""
    by_id = {str(r["id"]).lower(): r for r in requests}
    done: list[dict[str, Any]] = []
    visiting: set[str] = set()

    def visit(key: str) -> None:
        if any(r is by_id[key] for r in done):
            return
        if key in visiting:
            raise GraphError(400, "BadRequest", "The batch's dependsOn form a cycle.")
        visiting.add(key)
        for dependency in by_id[key].get("dependsOn") or []:
            visit(str(dependency).lower())
        done.append(by_id[key])

    for key in by_id:
        visit(key)
    return done


def _calendar(box: Mailbox, calendar: Calendar) -> dict[str, Any]:
    """A calendar resource; the mailbox's first is its default.
    https://learn.microsoft.com/graph/api/resources/calendar"""
    return {"id": calendar.id, "name": calendar.name, "canEdit": calendar.can_edit,
            "isDefaultCalendar": calendar.id == box.calendars[0],
            "owner": {"name": box.name, "address": box.upn}}  # fmt: skip


def _paged(found: list[dict[str, Any]], q: dict[str, str], prefer: str, link: str) -> Response:
    """A collection in pages: 10 items unless $top (up to 1000) or `Prefer: odata.maxpagesize` asks for another
    size, continued by an absolute @odata.nextLink with $skip. https://learn.microsoft.com/graph/paging
    https://learn.microsoft.com/graph/api/calendar-list-calendarview#query-parameters"""
    size = min(int(q.get("$top") or _prefer(prefer, "odata.maxpagesize") or LIST_PAGE), 1000)
    skip = int(q.get("$skip") or 0)
    if size < 1 or skip < 0:
        raise GraphError(400, "ErrorInvalidParameter", "$top and $skip must be positive numbers.")
    answer: dict[str, Any] = {"value": found[skip : skip + size]}
    if skip + size < len(found):
        answer["@odata.nextLink"] = f"{link}?{urlencode({**q, '$top': str(size), '$skip': str(skip + size)})}"
    return Response.json(answer)


def _prefer(header: str, name: str) -> str:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == name.lower():
            return value.strip().strip('"')
    return ""


def _event(event: dict[str, Any], status: int = 200) -> Response:
    return Response.json(event, status, headers={"ETag": event.get("@odata.etag", "")})


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid a year: the emulator's, trusted by its callers only."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = folder / "microsoft-emulator.pem", folder / "microsoft-emulator.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calsync Microsoft emulator")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def serve(
    state: State | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    apps: dict[str, str] | None = None,
    cert_folder: Path | None = None,
    browser_port: int | None = None,
) -> tuple[MicrosoftEmulator, Any, Path]:
    """Start on a thread, over HTTPS; returns the app (.state, .base_url), the server, and the certificate to trust."""
    folder = cert_folder or Path(tempfile.mkdtemp(prefix="ms-emulator-"))
    cert, key = self_signed_certificate(folder)
    app = MicrosoftEmulator(state)
    server = make_server(host, port, app, server_class=ThreadingServer, handler_class=QuietHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    app.base_url = f"https://{host}:{server.server_port}"
    app.state.apps.update(apps or {})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if browser_port is not None:
        browser = make_server(host, browser_port, app, server_class=ThreadingServer, handler_class=QuietHandler)
        app.browser_url = f"http://{host}:{browser.server_port}"
        threading.Thread(target=browser.serve_forever, daemon=True).start()
    return app, server, cert


__all__ = ["MicrosoftEmulator", "parse_when", "serve"]
