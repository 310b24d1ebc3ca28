"""The Google emulator's HTTP surface: OAuth 2 endpoints, Calendar v3 JSON API, batch, and a sandbox page.

Paths and payloads are Google's, so the real client libraries (google-auth,
google-auth-oauthlib, google-api-python-client) talk to it unchanged once
pointed at its address.
"""

from __future__ import annotations

import html
import logging
import secrets
import threading
from collections.abc import Callable
from email.parser import BytesParser
from typing import Any
from urllib.parse import unquote, urlsplit
from wsgiref.simple_server import WSGIServer, make_server

import requests

from emulators.http import Emulator, QuietHandler, Request, Response, ThreadingServer, page, redirect

from . import freebusy
from .state import CALENDAR_SCOPE, GOOGLE_TOKEN_ENDPOINT, ApiError, Channel, Grant, OAuthError, State
from .writes import send_updates

log = logging.getLogger(__name__)

Start = Callable[[str, list[tuple[str, str]]], Any]
_SHORT_LIVED = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                "Check your iat and exp values in the JWT claim.")  # fmt: skip


class GoogleEmulator(Emulator):
    def __init__(self, state: State | None = None, base_url: str = "") -> None:
        self.state = state or State()
        self.base_url = base_url
        self.state.notify = self._notify

    # --- WSGI ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except ApiError as exc:
            return Response.json(exc.body(), exc.status, headers=exc.headers)
        except OAuthError as exc:
            return Response.json({"error": exc.error, "error_description": exc.description}, exc.status)
        except ValueError:  # a body that is not the JSON object the method takes
            return Response.json(ApiError(400, "parseError", "Parse Error").body(), 400)

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/o/oauth2/auth" and method == "GET":
            return self._consentpage(request)
        if path == "/o/oauth2/approve" and method == "POST":
            return self._approve(request)
        if path == "/token" and method == "POST":
            return self._token(request)
        if path == "/revoke" and method == "POST":
            self.state.revoke(request.form().get("token", ""))
            return Response.json({})
        if path == "/batch/calendar/v3" and method == "POST":
            return self._batch(request)
        if path.startswith("/calendar/v3/"):
            with self.state.lock:
                self.state.calls.append((method, path))
            return self._api(request)
        if path.startswith("/_emulator/"):
            return self._control(request)
        if path in ("/", "/sandbox") or path.startswith("/sandbox/"):
            return self._sandbox(request)
        raise ApiError(404, "notFound", "Not Found")

    # --- OAuth 2 ---------------------------------------------------------------------------------

    def _consentpage(self, request: Request) -> Response:
        q = request.query
        if q.get("client_id") not in self.state.clients:
            return Response(401, page("Error 401: invalid_client", "<p>The OAuth client was not found.</p>"),
                            "text/html; charset=utf-8")  # fmt: skip
        if q.get("response_type") != "code" or not q.get("redirect_uri"):
            return Response(400, page("Error 400: invalid_request", "<p>Missing response_type or redirect_uri.</p>"),
                            "text/html; charset=utf-8")  # fmt: skip
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in q.items()
        )
        hint = html.escape(q.get("login_hint", "") or "sandbox.user@example.com")
        scopes = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in q.get("scope", "").split())
        body = f"""
<p>calsync wants to access your Google Account.</p>
<p>It asks for:</p><ul>{scopes}</ul>
<form method="post" action="/o/oauth2/approve">{hidden}
  <label>Sandbox Google account <input name="email" type="email" value="{hint}" required></label>
  <p><button name="decision" value="allow" type="submit">Allow</button>
     <button name="decision" value="deny" type="submit" formnovalidate>Cancel</button></p>
</form>"""
        return Response(200, page("Sign in with Google (sandbox)", body), "text/html; charset=utf-8")

    def _approve(self, request: Request) -> Response:
        form = request.form()
        redirect_uri, state = form.get("redirect_uri", ""), form.get("state", "")
        if form.get("client_id") not in self.state.clients or not redirect_uri:
            return Response(400, page("Error 400: invalid_request", "<p>Bad request.</p>"), "text/html")
        if form.get("decision") != "allow":
            return redirect(redirect_uri, {"error": "access_denied", "state": state})
        email = self.state.account(form.get("email", ""))
        scopes = form.get("scope", "").split()
        grant = Grant(email=email, client_id=form["client_id"], scopes=scopes, redirect_uri=redirect_uri,
                      challenge=form.get("code_challenge", ""), offline=form.get("access_type") == "offline",
                      prompt_consent="consent" in form.get("prompt", "").split())  # fmt: skip
        if grant.challenge and form.get("code_challenge_method", "plain") != "S256":
            return redirect(redirect_uri, {"error": "invalid_request", "state": state})
        code = self.state.issue_code(grant)
        return redirect(redirect_uri, {"code": code, "scope": " ".join(scopes), "state": state})

    def _token(self, request: Request) -> Response:
        form = request.form()
        client_id, secret = _client_credentials(request, form)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            answer = self.state.exchange_code(form.get("code", ""), client_id, secret, form.get("redirect_uri", ""),
                                              form.get("code_verifier", ""))  # fmt: skip
        elif grant_type == "refresh_token":
            answer = self.state.refresh_access(form.get("refresh_token", ""), client_id, secret)
        elif grant_type == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            answer = self._jwt_bearer(form.get("assertion", ""))
        else:
            raise OAuthError(400, "unsupported_grant_type", "Invalid grant_type.")
        return Response.json(answer, headers={"Cache-Control": "no-store"})

    def _jwt_bearer(self, assertion: str) -> dict[str, Any]:
        """A service account's JWT, signed with its key: iss the service account, scope, aud Google's token
        endpoint, iat and exp at most an hour apart, and (domain-wide delegation) sub the user to act as.
        https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests"""
        from google.auth import jwt

        try:
            unverified = jwt.decode(assertion, verify=False)
        except ValueError:
            raise OAuthError(400, "invalid_grant", "Invalid JWT.") from None
        account = self.state.service_accounts.get(unverified.get("iss", ""))
        if account is None:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        try:
            # Google's own token endpoint is the audience, wherever the request is sent.
            claims = jwt.decode(assertion, certs={account["key_id"]: account["certificate"]},
                                audience=[GOOGLE_TOKEN_ENDPOINT, f"{self.base_url}/token"])  # fmt: skip
        except ValueError as exc:
            if "signature" in str(exc).lower() or "certificate" in str(exc).lower():
                raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.") from None
            raise OAuthError(400, "invalid_grant", _SHORT_LIVED if "too early" in str(exc) or "expired" in str(exc)
                             else f"Invalid JWT: {exc}") from None  # fmt: skip
        if not isinstance(claims.get("exp"), int) or claims["exp"] - claims.get("iat", 0) > 3600:
            raise OAuthError(400, "invalid_grant", _SHORT_LIVED)  # "a maximum of 1 hour after the issued time"
        return self.state.service_account_token(claims["iss"], claims.get("sub", ""), claims.get("scope", "").split())

    # --- Calendar v3 ---------------------------------------------------------------------------------

    def _user(self, request: Request) -> str:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise ApiError(401, "required", "Login Required.")
        return self.state.user_for(auth[7:].strip())

    def _api(self, request: Request) -> Response:
        self.state.check_faults()
        email = self._user(request)
        parts = [unquote(p) for p in request.path[len("/calendar/v3/") :].strip("/").split("/")]
        method, q, state = request.method, request.query, self.state
        if parts == ["users", "me", "calendarList"] and method == "GET":
            return Response.json({"kind": "calendar#calendarList", "items": state.calendar_list(email)})
        if parts == ["freeBusy"] and method == "POST":
            return Response.json(freebusy.query(state, email, request.json()))
        if parts == ["channels", "stop"] and method == "POST":
            state.stop(request.json())
            return Response(204)
        if len(parts) < 2 or parts[0] != "calendars":
            raise ApiError(404, "notFound", "Not Found")
        calendar_id = parts[1]
        if len(parts) == 2 and method == "GET":
            calendar = state.calendar_for(email, calendar_id)
            return Response.json({"kind": "calendar#calendar", "id": calendar.id, "summary": calendar.summary,
                                  "timeZone": calendar.time_zone})  # fmt: skip
        if len(parts) == 3 and parts[2] == "events":
            if method == "GET":
                return Response.json(state.list(email, calendar_id, request.lists))
            if method == "POST":
                return _event(state.insert(email, calendar_id, request.json(), send_updates(q)))
        if len(parts) == 4 and parts[2:] == ["events", "import"] and method == "POST":
            return _event(state.import_event(email, calendar_id, request.json()))
        if len(parts) == 4 and parts[2:] == ["events", "watch"] and method == "POST":
            return Response.json(state.watch(email, calendar_id, request.json()))
        if len(parts) == 4 and parts[2] == "events":
            event_id, if_match = parts[3], request.headers.get("if-match")
            if method == "GET":
                return _event(state.get(email, calendar_id, event_id, q))
            if method in ("PUT", "PATCH"):
                return _event(state.write(email, calendar_id, event_id, request.json(), if_match, method == "PATCH",
                                          send_updates(q)))  # fmt: skip
            if method == "DELETE":
                state.delete(email, calendar_id, event_id, if_match, send_updates(q))
                return Response(204)
        if len(parts) == 5 and parts[2] == "events" and parts[4] == "instances" and method == "GET":
            return Response.json(state.instances(email, calendar_id, parts[3], q))
        raise ApiError(404, "notFound", "Not Found")

    # --- batch -------------------------------------------------------------------------------------------

    def _batch(self, request: Request) -> Response:
        """multipart/mixed of embedded HTTP requests (https://developers.google.com/calendar/api/guides/batch)."""
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/mixed"):
            raise ApiError(400, "badContent", "Batch requests must be multipart/mixed.")
        message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + request.body)
        parts = message.get_payload()
        if not isinstance(parts, list) or len(parts) > 1000:
            raise ApiError(400, "badContent", "A batch holds at most 1000 requests.")
        boundary = "batch_" + secrets.token_hex(12)
        chunks = []
        for part in parts:
            inner = self.handle(_embedded(part.get_payload(decode=True) or b"", request.headers))
            content_id = (part.get("Content-ID") or "").strip("<>")
            headers = "".join(f"{k}: {v}\r\n" for k, v in inner.headers.items())
            chunks.append(
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-{content_id}>\r\n\r\n"
                f"HTTP/1.1 {inner.status_line()}\r\nContent-Type: {inner.content_type}\r\n{headers}\r\n".encode()
                + inner.body
                + b"\r\n"
            )
        body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
        return Response(200, body, f"multipart/mixed; boundary={boundary}")

    # --- push ------------------------------------------------------------------------------------------

    def _notify(self, channel: Channel, resource_state: str) -> None:
        channel.messages += 1
        headers = {
            "X-Goog-Channel-ID": channel.id, "X-Goog-Channel-Token": channel.token,
            "X-Goog-Channel-Expiration": str(channel.expiration), "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": f"{self.base_url}/calendar/v3/calendars/{channel.calendar_id}/events",
            "X-Goog-Resource-State": resource_state, "X-Goog-Message-Number": str(channel.messages),
        }  # fmt: skip
        threading.Thread(target=_deliver, args=(channel.address, headers), daemon=True).start()

    # --- test and sandbox controls -----------------------------------------------------------------------

    def _control(self, request: Request) -> Response:
        data = request.json() if request.body else {}
        if request.path == "/_emulator/faults" and request.method == "POST":
            with self.state.lock:
                self.state.faults.update({k: v for k, v in data.items() if k in self.state.faults})
                if data.get("expire_sync_tokens"):
                    self.state.expire_sync_tokens()
                if data.get("revoke_user"):
                    self.state.revoke_user(data["revoke_user"])
            return Response.json(self.state.faults)
        if request.path == "/_emulator/requests" and request.method == "GET":
            return Response.json({"requests": self.state.requests})
        if request.path == "/_emulator/sent_invitations":
            return self._invitations(request)
        raise ApiError(404, "notFound", "Not Found")

    def _invitations(self, request: Request) -> Response:
        """What Google would have emailed (GET), or forget it (DELETE): the same URL and list as the Graph and
        EWS emulators, so a test or page reads every provider's invitations one way."""
        with self.state.lock:
            if request.method == "DELETE":
                self.state.sent_invitations.clear()
            return Response.json(list(self.state.sent_invitations))

    def _sandbox(self, request: Request) -> Response:
        from .sandbox import sandbox_page
        from .workspace import workspace_page

        if request.path.startswith("/sandbox/workspace"):
            return workspace_page(self.state, request)
        return sandbox_page(self.state, request)


def _event(event: dict[str, Any]) -> Response:
    return Response.json(event, headers={"ETag": event.get("etag", "")})


def _deliver(address: str, headers: dict[str, str]) -> None:
    with requests.Session() as session:
        session.trust_env = False
        try:
            session.post(address, headers=headers, timeout=10)
        except requests.RequestException as exc:
            log.info("push notification to %s failed: %s", address, exc)


def _embedded(raw: bytes, outer: dict[str, str]) -> Request:
    head, _, body = raw.partition(b"\r\n\r\n")
    if not body and b"\n\n" in raw:
        head, _, body = raw.partition(b"\n\n")
    lines = head.decode().splitlines()
    method, target, _ = [*lines[0].split(" "), "", ""][:3]
    headers = {"authorization": outer.get("authorization", "")}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    url = urlsplit(target)
    return Request(method, url.path, url.query, headers, body)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        import base64

        user, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        return unquote(user), unquote(secret)
    return form.get("client_id", ""), form.get("client_secret", "")


def serve(state: State | None = None, host: str = "127.0.0.1", port: int = 0,
          clients: dict[str, str] | None = None) -> tuple[GoogleEmulator, WSGIServer]:  # fmt: skip
    """Start the emulator on a thread; returns the app (its .state, .base_url) and the server (to shut down)."""
    app = GoogleEmulator(state)
    server = make_server(host, port, app, server_class=ThreadingServer, handler_class=QuietHandler)
    app.base_url = f"http://{host}:{server.server_port}"
    app.state.clients.update(clients or {})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, server


__all__ = ["CALENDAR_SCOPE", "GoogleEmulator", "serve"]
