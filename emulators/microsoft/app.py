"""The Microsoft emulator's HTTPS surface: identity platform v2.0 endpoints and Graph v1.0 calendars.

msal refuses http:// authorities, so the emulator speaks HTTPS with a
self-signed certificate that callers trust explicitly (`serve()` returns its path).
"""

from __future__ import annotations

import html
import json
import ssl
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from wsgiref.simple_server import make_server

from emulators.http import Emulator, QuietHandler, Request, Response, ThreadingServer, page, redirect

from . import schedule
from .state import Grant, GraphError, IdentityError, State, parse_when

Start = Callable[[str, list[tuple[str, str]]], Any]


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
        if parts in ([""], ["sandbox"]):
            rows = "".join(f"<li>{html.escape(u)}</li>" for u in self.state.mailboxes)
            return Response(
                200, page("Sandbox Microsoft 365", f"<p>Mailboxes:</p><ul>{rows}</ul>", "Microsoft"), "text/html"
            )
        raise GraphError(404, "NotFound", "Resource not found.")

    # --- identity platform ---------------------------------------------------------------------------

    def _openid(self, tenant: str) -> Response:
        base = f"{self.base_url}/{tenant}"
        browser = f"{self.browser_url or self.base_url}/{tenant}"
        return Response.json({
            "authorization_endpoint": f"{browser}/oauth2/v2.0/authorize", "token_endpoint": f"{base}/oauth2/v2.0/token",
            "issuer": f"https://login.microsoftonline.com/{tenant}/v2.0", "jwks_uri": f"{base}/discovery/v2.0/keys",
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
            answer = self.state.app_token(tenant, client_id, secret)
        else:
            raise IdentityError(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant.")
        return Response.json(answer, headers={"Cache-Control": "no-store"})

    def _admin_consent(self, request: Request, tenant: str) -> Response:
        q = request.query
        if request.method == "GET" and not q.get("decision"):
            body = (f'<p>Grant calsync access to every calendar in your organisation?</p><p>'
                    f'<a href="?{html.escape(request_query(q, decision="accept"))}">Accept</a> · '
                    f'<a href="?{html.escape(request_query(q, decision="cancel"))}">Cancel</a></p>')  # fmt: skip
            return Response(200, page("Admin consent (sandbox)", body, "Microsoft"), "text/html; charset=utf-8")
        if q.get("decision") != "accept":
            return redirect(q.get("redirect_uri", ""), {"error": "access_denied", "state": q.get("state", "")})
        tenant_id = tenant if tenant in self.state.tenants else self.state.tenant_for(tenant)
        self.state.admin_consent.add((tenant_id, q.get("client_id", "")))
        return redirect(q.get("redirect_uri", ""), {"admin_consent": "True", "tenant": tenant_id,
                                                   "state": q.get("state", "")})  # fmt: skip

    # --- Graph --------------------------------------------------------------------------------------------

    def _who(self, request: Request, parts: list[str]) -> tuple[str, list[str]]:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        principal = self.state.principal(auth[7:].strip())
        if parts[:1] == ["me"]:
            if principal.startswith("app:"):
                raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
            return principal, parts[1:]
        if parts[:1] == ["users"] and len(parts) >= 2:
            target = parts[1].lower()
            box = self.state.mailboxes.get(target) or next(
                (b for b in self.state.mailboxes.values() if b.id == target), None
            )
            if box is None:
                raise GraphError(404, "ErrorInvalidUser", f"The requested user '{parts[1]}' is invalid.")
            if principal.startswith("app:") and principal[4:] != box.tenant:
                raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            if not principal.startswith("app:") and principal != box.upn:
                raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            return box.upn, parts[2:]
        raise GraphError(400, "BadRequest", "Invalid request.")

    def _graph(self, request: Request, parts: list[str]) -> Response:
        if parts == ["$batch"] and request.method == "POST":
            return self._batch(request)
        self.state.check_faults()
        upn, rest = self._who(request, parts)
        state, method, q = self.state, request.method, request.query
        box = state.mailboxes[upn]
        zone_name = _prefer(request.headers.get("prefer", ""), "outlook.timezone")
        page_size = int(_prefer(request.headers.get("prefer", ""), "odata.maxpagesize") or 1000)
        if not rest and method == "GET":
            return Response.json({"id": box.id, "displayName": box.name, "mail": box.upn,
                                  "userPrincipalName": box.upn})  # fmt: skip
        if rest == ["calendars"] and method == "GET":
            return Response.json({"value": [
                {"id": c.id, "name": c.name, "canEdit": c.can_edit, "isDefaultCalendar": i == 0,
                 "owner": {"name": box.name, "address": box.upn}}
                for i, c in enumerate(state.calendars[i] for i in box.calendars)
            ]})  # fmt: skip
        if rest == ["calendar", "getSchedule"] and method == "POST":
            return Response.json(schedule.get_schedule(state, upn, request.json()))
        calendar_id = None
        if rest[:1] == ["calendars"] and len(rest) >= 3:
            calendar_id, rest = rest[1], rest[2:]
        if rest == ["calendarView", "delta"] and method == "GET":
            return Response.json(state.delta(upn, calendar_id, q, page_size))
        expand = q.get("$expand", "")
        if rest == ["events"] and method == "POST":
            return _event(state.create(upn, calendar_id, request.json()), 201)
        if rest == ["events"] and method == "GET":
            return Response.json({"value": state.events(upn, calendar_id, q.get("$filter", ""), expand)})
        if len(rest) == 2 and rest[0] == "events":
            if method == "GET":
                return _event(state.get(upn, rest[1], zone_name, expand))
            if method == "PATCH":
                return _event(state.update(upn, rest[1], request.json(), request.headers.get("if-match")))
            if method == "DELETE":
                state.delete(upn, rest[1], request.headers.get("if-match"))
                return Response(204)
        if len(rest) == 3 and rest[0] == "events" and rest[2] == "cancel" and method == "POST":
            state.cancel(upn, rest[1])
            return Response(202)
        if len(rest) == 3 and rest[0] == "events" and rest[2] == "instances" and method == "GET":
            with state.lock:
                calendar, master = state.event_for(upn, rest[1])
                start = datetime.fromisoformat(q["startDateTime"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(q["endDateTime"].replace("Z", "+00:00"))
                found = state.instances_of(calendar, master, start, end) if master.get("recurrence") else []
                return Response.json({"value": [state._out(e, zone_name) for e in found]})
        raise GraphError(400, "BadRequest", "Unsupported segment or method.")

    def _batch(self, request: Request) -> Response:
        """JSON batching: up to 20 requests, each answered on its own."""
        requests = request.json().get("requests", [])
        if len(requests) > 20:
            raise GraphError(400, "BadRequest", "The number of batch requests exceeds the limit of 20.")
        responses = []
        for item in requests:
            url = urlsplit(item["url"] if item["url"].startswith("/") else "/" + item["url"])
            headers = {"authorization": request.headers.get("authorization", "")}
            headers |= {k.lower(): v for k, v in (item.get("headers") or {}).items()}
            body = json.dumps(item["body"]).encode() if item.get("body") is not None else b""
            inner = self.handle(Request(item["method"], "/v1.0" + url.path, url.query, headers, body))
            responses.append({"id": item["id"], "status": inner.status, "headers": inner.headers,
                              "body": json.loads(inner.body) if inner.body else None})  # fmt: skip
        return Response.json({"responses": responses})


def request_query(q: dict[str, str], **extra: str) -> str:
    from urllib.parse import urlencode

    return urlencode({**q, **extra})


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
