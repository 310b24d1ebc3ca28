"""What the Google emulator remembers: accounts, calendars, events, grants and tokens.

It follows Google's published behaviour for the Calendar v3 surface calsync
uses (https://developers.google.com/calendar/api/v3/reference and the
"Synchronize resources efficiently" guide):

- events are JSON resources with an etag that changes on every write;
  writes with a stale If-Match get 412 conditionNotMet;
- a recurring event's changed or cancelled occurrences are separate events
  with recurringEventId and originalStartTime, ids "<master>_<start>";
- events.list pages with pageToken and ends with a nextSyncToken; a sync token
  cannot be combined with filters (400), and a forgotten one answers 410
  fullSyncRequired; incremental results include cancelled (deleted) events;
  the time window, singleEvents and the other filters are in listing.py;
- deleting a recurring event cancels the series, deleting an occurrence
  leaves a cancelled exception behind; events.get still answers a deleted
  event, with status cancelled;
- events.import adds a copy of an event organised elsewhere, keeping its
  organizer.

Everything is in memory behind one lock; tests reach the state directly to
switch faults on (rate limits, server errors, expired tokens, revoked grants).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
READONLY_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"  # noqa: S105 - an address, the JWT audience
_CLIENT_FIELDS = (
    "summary", "description", "location", "start", "end", "recurrence", "status", "transparency", "visibility",
    "attendees", "reminders", "extendedProperties", "colorId", "sequence", "guestsCanModify", "originalStartTime",
    "source", "conferenceData", "attachments", "anyoneCanAddSelf", "guestsCanInviteOthers", "guestsCanSeeOtherGuests",
    "eventType", "outOfOfficeProperties", "focusTimeProperties", "workingLocationProperties", "birthdayProperties",
)  # fmt: skip
# What only an event of one eventType carries; events.import drops them (it imports default events only).
_TYPE_PROPERTIES = ("outOfOfficeProperties", "focusTimeProperties", "workingLocationProperties", "birthdayProperties")


class ApiError(Exception):
    """An error answered the way Google answers it: a status and a reason in the JSON error body."""

    def __init__(self, status: int, reason: str, message: str, domain: str = "global", headers: Any = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.domain = status, reason, message, domain
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"errors": [{"domain": self.domain, "reason": self.reason, "message": self.message}],
                          "code": self.status, "message": self.message}}  # fmt: skip


class OAuthError(Exception):
    """An OAuth 2 error (RFC 6749 5.2) as Google's token endpoint answers it."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


@dataclass
class Channel:
    id: str
    resource_id: str
    calendar_id: str
    address: str
    token: str
    expiration: int  # ms since the epoch
    messages: int = 0


@dataclass
class Calendar:
    id: str
    summary: str
    time_zone: str
    owner: str
    roles: dict[str, str] = field(default_factory=dict)  # email -> owner | writer | reader
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed_at: dict[str, int] = field(default_factory=dict)  # event id -> seq of its last change
    seq: int = 0
    generation: str = field(default_factory=lambda: secrets.token_hex(4))


@dataclass
class Grant:
    email: str
    client_id: str
    scopes: list[str]
    redirect_uri: str = ""
    challenge: str = ""
    offline: bool = False
    prompt_consent: bool = False
    used: bool = False


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_when(value: dict[str, Any]) -> datetime | date:
    """An EventDateTime as an aware datetime (in its timeZone when given) or a date."""
    if value.get("date"):
        return date.fromisoformat(value["date"])
    text = value.get("dateTime")
    if not text:
        raise ApiError(400, "required", "Missing time.")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    zone = value.get("timeZone")
    if moment.tzinfo is None:
        if not zone:
            raise ApiError(400, "invalid", "Missing time zone definition for start time.")
        return moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(ZoneInfo(zone)) if zone else moment


def instance_suffix(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return moment.strftime("%Y%m%d")


class State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, list[str]] = {}  # email -> calendar ids in their calendar list
        self.names: dict[str, str] = {}
        self.calendars: dict[str, Calendar] = {}
        self.clients: dict[str, str] = {}  # client id -> secret
        self.codes: dict[str, Grant] = {}
        self.access: dict[str, tuple[str, str, float, list[str]]] = {}  # token -> email, client, expiry, scopes
        self.refresh: dict[str, Grant] = {}
        self.consented: set[tuple[str, str]] = set()  # (email, client) pairs that consented before
        self.service_accounts: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, Channel] = {}
        self.faults: dict[str, Any] = {"rate_limit": 0, "rate_limit_status": 403, "server_error": 0,
                                       "omit_refresh_token": False, "retry_after": None}  # fmt: skip
        self.requests = 0
        # Every API request as (method, path), batches' parts included: tests count the writes calsync sent.
        self.calls: list[tuple[str, str]] = []
        # The emails Google would have sent to guests (writes.invitations), for tests to assert on.
        self.sent_invitations: list[dict[str, Any]] = []
        self.notify: Any = None  # set by the server: called with (channel, state) after a change
        self._etag = int(time.time() * 1000)

    # --- accounts and calendars -------------------------------------------------------------

    def account(self, email: str, name: str = "", calendars: bool = True) -> str:
        """An account (created on first use) with a primary calendar, a shared one and a read-only one."""
        email = email.strip().lower()
        with self.lock:
            if email not in self.accounts:
                self.accounts[email] = []
                self.names[email] = name or email.split("@")[0].replace(".", " ").title()
                self.add_calendar(email, email, self.names[email], "Europe/Berlin", role="owner")
                if calendars:
                    slug = hashlib.sha256(email.encode()).hexdigest()[:12]
                    self.add_calendar(email, f"team-{slug}@group.calendar.google.com", "Team", "Europe/Berlin",
                                      role="writer")  # fmt: skip
                    self.add_calendar(email, f"holidays-{slug}@group.v.calendar.google.com", "Holidays", "UTC",
                                      role="reader")  # fmt: skip
            return email

    def add_calendar(self, email: str, calendar_id: str, summary: str, zone: str, role: str = "owner") -> Calendar:
        with self.lock:
            calendar = self.calendars.get(calendar_id) or Calendar(calendar_id, summary, zone, owner=email)
            self.calendars[calendar_id] = calendar
            calendar.roles[email] = role
            self.accounts.setdefault(email, [])
            if calendar_id not in self.accounts[email]:
                self.accounts[email].append(calendar_id)
            return calendar

    def calendar_for(self, email: str, calendar_id: str, write: bool = False) -> Calendar:
        if calendar_id == "primary":
            calendar_id = email
        calendar = self.calendars.get(calendar_id)
        if calendar is None or email not in calendar.roles:
            raise ApiError(404, "notFound", "Not Found")
        if write and calendar.roles[email] not in ("owner", "writer"):
            raise ApiError(403, "requiredAccessLevel", "You need to have writer access to this calendar.")
        return calendar

    def calendar_list(self, email: str) -> list[dict[str, Any]]:
        return [
            {"kind": "calendar#calendarListEntry", "etag": f'"{c.generation}"', "id": c.id, "summary": c.summary,
             "timeZone": c.time_zone, "accessRole": c.roles[email], "primary": c.id == email}
            for c in (self.calendars[i] for i in self.accounts.get(email, []))
        ]  # fmt: skip

    # --- OAuth ---------------------------------------------------------------------------------

    def issue_code(self, grant: Grant) -> str:
        code = "4/" + secrets.token_urlsafe(30)
        with self.lock:
            self.codes[code] = grant
        return code

    def authorize(self, email: str, client_id: str, scopes: list[str] | None = None) -> dict[str, Any]:
        """Tokens as after a completed consent (offline access), without the browser: for tests and benchmarks."""
        with self.lock:
            grant = Grant(email=self.account(email), client_id=client_id, scopes=scopes or [CALENDAR_SCOPE],
                          offline=True)  # fmt: skip
            answer = self._access_token(grant.email, client_id, grant.scopes)
            answer["refresh_token"] = "1//" + secrets.token_urlsafe(40)
            self.refresh[answer["refresh_token"]] = grant
            self.consented.add((grant.email, client_id))
            return answer

    def exchange_code(self, code: str, client_id: str, secret: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        with self.lock:
            self._check_client(client_id, secret)
            grant = self.codes.get(code)
            if grant is None or grant.used or grant.client_id != client_id:
                raise OAuthError(400, "invalid_grant", "Malformed auth code.")
            grant.used = True  # a code works once; a replay is refused
            if grant.redirect_uri != redirect_uri:
                raise OAuthError(400, "redirect_uri_mismatch", "Bad Request")
            if grant.challenge:
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if digest != grant.challenge:
                    raise OAuthError(400, "invalid_grant", "Invalid code verifier.")
            answer = self._access_token(grant.email, client_id, grant.scopes)
            first = (grant.email, client_id) not in self.consented
            self.consented.add((grant.email, client_id))
            # A refresh token comes with offline access the first time, or when consent was asked for again.
            if grant.offline and not self.faults["omit_refresh_token"] and (first or grant.prompt_consent):
                refresh = "1//" + secrets.token_urlsafe(40)
                self.refresh[refresh] = grant
                answer["refresh_token"] = refresh
            return answer

    def refresh_access(self, refresh: str, client_id: str, secret: str) -> dict[str, Any]:
        with self.lock:
            self._check_client(client_id, secret)
            grant = self.refresh.get(refresh)
            if grant is None or grant.client_id != client_id:
                raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
            return self._access_token(grant.email, client_id, grant.scopes)

    def revoke(self, token: str) -> None:
        """Revoking any token of a grant ends the application's access to the account: every refresh and access
        token of that account and client stops working, and the next consent issues a new refresh token.
        https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke"""
        with self.lock:
            grant = self.refresh.get(token)
            if grant is None and token in self.access:
                email, client_id = self.access[token][:2]
                grant = next((g for g in self.refresh.values() if (g.email, g.client_id) == (email, client_id)), None)
            if grant is None:
                raise OAuthError(400, "invalid_token", "Token expired or revoked")
            key = (grant.email, grant.client_id)
            self.refresh = {t: g for t, g in self.refresh.items() if (g.email, g.client_id) != key}
            self.access = {t: a for t, a in self.access.items() if (a[0], a[1]) != key}
            self.consented.discard(key)

    def revoke_user(self, email: str) -> None:
        """The user removed calsync's access in their Google account settings."""
        with self.lock:
            self.refresh = {t: g for t, g in self.refresh.items() if g.email != email}
            self.access = {t: a for t, a in self.access.items() if a[0] != email}

    def service_account_token(self, client_email: str, subject: str, scopes: list[str]) -> dict[str, Any]:
        """An access token for a service account acting as `subject` (domain-wide delegation), with the errors
        Google's token endpoint documents for it.
        https://developers.google.com/identity/protocols/oauth2/service-account#error-codes"""
        with self.lock:
            account = self.service_accounts.get(client_email)
            if account is None:
                raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
            if not scopes:
                raise OAuthError(400, "invalid_scope", "Empty or missing scope not allowed.")
            if not set(scopes) <= set(account["delegated_scopes"]):
                raise OAuthError(401, "unauthorized_client", "Client is unauthorized to retrieve access tokens using "
                                 "this method, or client not authorized for any of the scopes requested.")  # fmt: skip
            if not subject or subject.lower() not in self.accounts or subject.split("@")[-1] != account["domain"]:
                raise OAuthError(400, "invalid_grant", "Invalid email or User ID")
            return self._access_token(subject.lower(), client_email, scopes)

    def create_service_account(self, domain: str, delegation: bool = True,
                               token_uri: str = GOOGLE_TOKEN_ENDPOINT) -> dict[str, Any]:  # fmt: skip
        """A service account of a Workspace domain, and its JSON key file in the format Google Cloud hands out
        (https://cloud.google.com/iam/docs/keys-create-delete#creating). With `delegation` the domain's admin has
        authorised its client id for the calendar scope in the Admin console (domain-wide delegation,
        https://developers.google.com/identity/protocols/oauth2/service-account#delegatingauthority)."""
        from urllib.parse import quote

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        project = f"{domain.split('.')[0]}-project"
        client_email = f"calsync-{secrets.token_hex(3)}@{project}.iam.gserviceaccount.com"
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())  # fmt: skip
        client_id = str(10**20 + secrets.randbelow(9 * 10**20))  # a 21-digit number, as Google's are
        with self.lock:
            self.service_accounts[client_email] = {
                "key_id": key_id,
                "certificate": public.decode(),
                "delegated_scopes": [CALENDAR_SCOPE] if delegation else [],
                "domain": domain.lower(),
                "client_id": client_id,
            }
        return {
            "type": "service_account", "project_id": project, "private_key_id": key_id,
            "private_key": private.decode(), "client_email": client_email, "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{quote(client_email)}",
            "universe_domain": "googleapis.com",
        }  # fmt: skip

    def _check_client(self, client_id: str, secret: str) -> None:
        if self.clients.get(client_id) != secret:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")

    def _access_token(self, email: str, client_id: str, scopes: list[str]) -> dict[str, Any]:
        token = "ya29." + secrets.token_urlsafe(40)
        self.access[token] = (email, client_id, time.time() + 3599, scopes)
        return {"access_token": token, "expires_in": 3599, "scope": " ".join(scopes), "token_type": "Bearer"}

    def user_for(self, token: str) -> str:
        entry = self.access.get(token)
        if entry is None or entry[2] < time.time():
            raise ApiError(401, "authError", "Request had invalid authentication credentials.")
        return entry[0]

    # --- faults ------------------------------------------------------------------------------------

    def check_faults(self) -> None:
        with self.lock:
            self.requests += 1
            if self.faults["server_error"] > 0:
                self.faults["server_error"] -= 1
                raise ApiError(503, "backendError", "Backend Error")
            if self.faults["rate_limit"] > 0:
                self.faults["rate_limit"] -= 1
                status = self.faults["rate_limit_status"]
                headers = {"Retry-After": str(self.faults["retry_after"])} if self.faults["retry_after"] else {}
                if status == 429:
                    raise ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits", headers)
                raise ApiError(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits", headers)

    def expire_sync_tokens(self, calendar_id: str | None = None) -> None:
        with self.lock:
            for calendar in self.calendars.values():
                if calendar_id in (None, calendar.id):
                    calendar.generation = secrets.token_hex(4)

    # --- events ------------------------------------------------------------------------------------

    def _touch(self, calendar: Calendar, event: dict[str, Any]) -> None:
        self._etag += 1
        calendar.seq += 1
        event["etag"] = f'"{self._etag}"'
        event["updated"] = now_rfc3339()
        calendar.changed_at[event["id"]] = calendar.seq
        for channel in [c for c in self.channels.values() if c.calendar_id == calendar.id]:
            if self.notify is not None:
                self.notify(channel, "exists")

    def _check_if_match(self, event: dict[str, Any], if_match: str | None) -> None:
        if if_match and if_match != "*" and if_match != event["etag"]:
            raise ApiError(412, "conditionNotMet", "Precondition Failed")

    def _validate(self, body: dict[str, Any]) -> None:
        if "start" not in body:
            raise ApiError(400, "required", "Missing start time.")
        if "end" not in body:
            raise ApiError(400, "required", "Missing end time.")
        start, end = parse_when(body["start"]), parse_when(body["end"])
        if isinstance(start, datetime) != isinstance(end, datetime):
            raise ApiError(400, "invalid", "Start and end times must either both be date or both be dateTime.")
        # end is exclusive, for an all-day event too: its end date is the day after its last day, so an all-day
        # event ending on its start date is empty. https://developers.google.com/calendar/api/v3/reference/events
        if end < start or (not isinstance(start, datetime) and end <= start):  # type: ignore[operator]
            raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
        if body.get("recurrence") and isinstance(start, datetime) and not body["start"].get("timeZone"):
            raise ApiError(400, "invalid", "Missing time zone definition for start time.")
        for line in body.get("recurrence") or []:
            if line.split(":")[0].split(";")[0] not in ("RRULE", "EXRULE", "RDATE", "EXDATE"):
                raise ApiError(400, "invalid", "Invalid recurrence rule.")

    def insert(self, email: str, calendar_id: str, body: dict[str, Any], send: str = "none") -> dict[str, Any]:
        """events.insert; `send` is its sendUpdates."""
        from .writes import apply_type_defaults, check_event_type, limit_properties

        with self.lock:
            calendar = self.calendar_for(email, calendar_id, write=True)
            self._validate(body)
            check_event_type(calendar.id, body, None)
            event_id = body.get("id") or uuid.uuid4().hex
            if event_id in calendar.events:
                raise ApiError(409, "duplicate", "The requested identifier already exists.")
            uid = body.get("iCalUID") or f"{event_id}@google.com"
            if any(e.get("iCalUID") == uid and e.get("status") != "cancelled" and "recurringEventId" not in e
                   for e in calendar.events.values()):  # fmt: skip
                raise ApiError(409, "duplicate", "The requested identifier already exists.")
            event = {field_: body[field_] for field_ in _CLIENT_FIELDS if field_ in body}
            event.update(kind="calendar#event", id=event_id, iCalUID=uid, created=now_rfc3339(),
                         status=body.get("status", "confirmed"), sequence=body.get("sequence", 0),
                         htmlLink=f"https://calendar.google.com/event?eid={event_id}",
                         creator={"email": email}, organizer=self._organizer(calendar, body))  # fmt: skip
            apply_type_defaults(event)
            limit_properties(event)
            self._normalise_times(calendar, event)
            calendar.events[event_id] = event
            self._touch(calendar, event)
            self._record(calendar, None, event, send)
            return dict(event)

    def _record(self, calendar: Calendar, before: dict[str, Any] | None, after: dict[str, Any] | None,
                send: str) -> None:  # fmt: skip
        from .writes import invitations

        self.sent_invitations.extend(invitations(calendar.id, before, after, send, lambda to: to not in self.accounts))

    def _normalise_times(self, calendar: Calendar, event: dict[str, Any]) -> None:
        """Google keeps a dateTime as the instant, written back with the offset of the event's time zone (else
        the calendar's): 09:00:00Z for Europe/Berlin comes back as 10:00:00+01:00.
        https://developers.google.com/calendar/api/v3/reference/events#resource"""
        for when in ("start", "end"):
            value = event.get(when) or {}
            if value.get("dateTime"):
                moment = parse_when(value)
                assert isinstance(moment, datetime)
                local = moment.astimezone(ZoneInfo(value.get("timeZone") or calendar.time_zone))
                event[when] = {**value, "dateTime": local.isoformat()}

    def _organizer(self, calendar: Calendar, body: dict[str, Any]) -> dict[str, Any]:
        # Google sets the organizer to the calendar; only events.import may name another one.
        return {"email": calendar.id, "displayName": calendar.summary, "self": True}

    def get(self, email: str, calendar_id: str, event_id: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        from .listing import in_zone, response_zone

        with self.lock:
            calendar = self.calendar_for(email, calendar_id)
            event = calendar.events.get(event_id) or self._virtual_instance(calendar, event_id)
            if event is None:
                raise ApiError(404, "notFound", "Not Found")
            # A deleted event is still there, status "cancelled": "The get method always returns them."
            # https://developers.google.com/calendar/api/v3/reference/events#status
            return in_zone(event, response_zone(params or {}, calendar.time_zone))

    def _virtual_instance(self, calendar: Calendar, event_id: str) -> dict[str, Any] | None:
        """An occurrence of a series that has no exception yet, by its instance id."""
        master_id, _, suffix = event_id.rpartition("_")
        master = calendar.events.get(master_id)
        if not master or not master.get("recurrence") or master.get("status") == "cancelled":
            return None
        for start in self._occurrences(master, limit=5000):
            if instance_suffix(start) == suffix:
                return self._instance(master, start)
        return None

    def occurrence(self, master: dict[str, Any], start: datetime | date) -> dict[str, Any]:
        """The instance of a series that starts (originally) at `start`, as Google lists an unchanged one."""
        return self._instance(master, start)

    def _instance(self, master: dict[str, Any], start: datetime | date) -> dict[str, Any]:
        first = parse_when(master["start"])
        length = parse_when(master["end"]) - first  # type: ignore[operator]
        instance = {k: v for k, v in master.items() if k not in ("recurrence", "id", "etag")}
        instance.update(id=f"{master['id']}_{instance_suffix(start)}", recurringEventId=master["id"],
                        originalStartTime=self._when(start, master["start"]), start=self._when(start, master["start"]),
                        end=self._when(start + length, master["end"]), etag=master["etag"])  # fmt: skip
        return instance

    def _when(self, moment: datetime | date, like: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(moment, datetime):
            return {"date": moment.isoformat()}
        zone = like.get("timeZone")
        value = moment.astimezone(ZoneInfo(zone)) if zone else moment
        return {"dateTime": value.isoformat(), **({"timeZone": zone} if zone else {})}

    def _occurrences(self, master: dict[str, Any], limit: int = 1000, until: datetime | None = None) -> list[Any]:
        found: list[Any] = []
        for value in self.each_occurrence(master):
            if until is not None and _as_utc(value) >= until:
                break
            found.append(value)
            if len(found) >= limit:
                break
        return found

    def each_occurrence(self, master: dict[str, Any]) -> Iterator[datetime | date]:
        """The original starts of a series' occurrences in order (dates for an all-day series), EXDATEs left out."""
        first = parse_when(master["start"])
        lines = [line for line in master.get("recurrence") or [] if not line.startswith("EXDATE")]
        start = first if isinstance(first, datetime) else datetime(first.year, first.month, first.day)
        rule = rrulestr("\n".join(lines), dtstart=start, forceset=True, unfold=True)
        excluded = self._exdates(master, first)
        for moment in rule:
            value = moment if isinstance(first, datetime) else moment.date()
            if _as_utc(value) not in excluded:
                yield value

    def _exdates(self, master: dict[str, Any], first: datetime | date) -> set[datetime]:
        excluded: set[datetime] = set()
        for line in master.get("recurrence") or []:
            if not line.startswith("EXDATE"):
                continue
            head, _, values = line.partition(":")
            params = dict(p.split("=", 1) for p in head.split(";")[1:] if "=" in p)
            for text in values.split(","):
                if len(text) == 8:
                    excluded.add(_as_utc(datetime.strptime(text, "%Y%m%d").date()))
                elif text.endswith("Z"):
                    excluded.add(datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC))
                else:
                    zone = ZoneInfo(params.get("TZID", "UTC"))
                    excluded.add(_as_utc(datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=zone)))
        return excluded

    def write(self, email: str, calendar_id: str, event_id: str, body: dict[str, Any], if_match: str | None,
              patch: bool, send: str = "none") -> dict[str, Any]:  # fmt: skip
        """events.update (patch=False: the body replaces the event) and events.patch (writes.merge_patch);
        instances too. `send` is the request's sendUpdates."""
        from .writes import apply_type_defaults, check_event_type, limit_properties, merge_patch

        with self.lock:
            calendar = self.calendar_for(email, calendar_id, write=True)
            event = calendar.events.get(event_id)
            if event is None:
                virtual = self._virtual_instance(calendar, event_id)
                if virtual is None:
                    raise ApiError(404, "notFound", "Not Found")
                self._check_if_match(virtual, if_match)
                event = {**virtual, "created": now_rfc3339()}
                calendar.events[event_id] = event  # the occurrence becomes an exception
            elif event.get("status") == "cancelled" and "recurringEventId" not in event:
                raise ApiError(410, "deleted", "Resource has been deleted")
            else:
                self._check_if_match(event, if_match)
            before = dict(event)
            given = {k: body[k] for k in _CLIENT_FIELDS if k in body}
            merged = merge_patch(event, given)
            if not patch:
                merged = {**event, **given}
                merged = {k: v for k, v in merged.items() if k not in _CLIENT_FIELDS or k in body}
                merged.setdefault("status", "confirmed")
                merged.setdefault("eventType", before.get("eventType", "default"))  # not the client's to change
                if "recurringEventId" in event:
                    merged["originalStartTime"] = event["originalStartTime"]
            self._validate(merged)
            check_event_type(calendar.id, merged, before)
            apply_type_defaults(merged)
            limit_properties(merged)
            self._normalise_times(calendar, merged)
            event.clear()
            event.update(merged)
            self._touch(calendar, event)
            self._record(calendar, before, event, send)
            return dict(event)

    def delete(self, email: str, calendar_id: str, event_id: str, if_match: str | None, send: str = "none") -> None:
        with self.lock:
            calendar = self.calendar_for(email, calendar_id, write=True)
            event = calendar.events.get(event_id)
            if event is None:
                virtual = self._virtual_instance(calendar, event_id)
                if virtual is None:
                    raise ApiError(404, "notFound", "Not Found")
                event = calendar.events[event_id] = {**virtual, "created": now_rfc3339()}
            elif event.get("status") == "cancelled":
                raise ApiError(410, "deleted", "Resource has been deleted")
            else:
                self._check_if_match(event, if_match)
            before = dict(event)
            event["status"] = "cancelled"
            self._touch(calendar, event)
            self._record(calendar, before, event, send)
            if "recurringEventId" not in event:  # the whole series goes
                for other in calendar.events.values():
                    if other.get("recurringEventId") == event_id and other.get("status") != "cancelled":
                        other["status"] = "cancelled"
                        self._touch(calendar, other)

    def instances(self, email: str, calendar_id: str, event_id: str, params: dict[str, str]) -> dict[str, Any]:
        from .listing import in_zone, response_zone

        with self.lock:
            calendar = self.calendar_for(email, calendar_id)
            master = calendar.events.get(event_id)
            if master is None or not master.get("recurrence"):
                raise ApiError(404, "notFound", "Not Found")
            until = _parse_rfc3339(params["timeMax"]) if params.get("timeMax") else None
            items = []
            for start in self._occurrences(master, limit=int(params.get("maxResults", 250)), until=until):
                instance_id = f"{event_id}_{instance_suffix(start)}"
                exception = calendar.events.get(instance_id)
                if exception is not None and exception.get("status") == "cancelled":
                    continue
                items.append(dict(exception) if exception else self._instance(master, start))
            zone = response_zone(params, calendar.time_zone)
            return {
                "kind": "calendar#events",
                "items": [in_zone(i, zone) for i in items],
                "timeZone": calendar.time_zone,
            }

    # --- events.import ----------------------------------------------------------------------------------

    def import_event(self, email: str, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A private copy of an event that exists elsewhere, such as a meeting someone else organises. start, end
        and iCalUID are required; the organizer is kept as given (read-only except when importing) and so are
        the attendees, and nobody is sent anything. Only default events import: another eventType becomes
        default and loses its type's properties (the documented, deprecated behaviour).
        https://developers.google.com/calendar/api/v3/reference/events/import
        https://developers.google.com/calendar/api/v3/reference/events#organizer"""
        if not body.get("iCalUID"):
            raise ApiError(400, "required", "Missing iCalUID.")
        copy = {k: v for k, v in body.items() if k not in _TYPE_PROPERTIES and k != "eventType"}
        with self.lock:
            calendar = self.calendar_for(email, calendar_id, write=True)
            event = calendar.events[self.insert(email, calendar_id, copy)["id"]]
            organizer = body.get("organizer") or {}
            if organizer.get("email"):
                event["organizer"] = {**organizer, "self": organizer["email"].lower() == calendar.id}
            event["eventType"] = "default"
            return dict(event)

    # --- listing and sync tokens ----------------------------------------------------------------------

    def list(self, email: str, calendar_id: str, params: dict[str, list[str]]) -> dict[str, Any]:
        """events.list; which events, instances and order: listing.py. Pages hold at most maxResults (default
        250, never more than 2500) and the last page carries the nextSyncToken of an unfiltered listing.
        https://developers.google.com/calendar/api/v3/reference/events/list"""
        from .listing import as_listed, listing, parse_query

        with self.lock:
            calendar = self.calendar_for(email, calendar_id)
            one = {k: v[-1] for k, v in params.items() if v}
            size = _page_size(one.get("maxResults"))
            query = parse_query(params, calendar.time_zone)
            page = _decode(one["pageToken"]) if one.get("pageToken") else None
            if one.get("pageToken") and page is None:
                raise ApiError(400, "invalid", "Invalid page token value.")
            if page is None:
                since = self._token_seq(calendar, query.sync) if query.sync else None
                page = {"since": since, "until": calendar.seq, "offset": 0}
            found = listing(self, calendar, query, page["since"], page["until"])
            chunk = found[page["offset"] : page["offset"] + size]
            answer: dict[str, Any] = {
                "kind": "calendar#events", "summary": calendar.summary, "timeZone": calendar.time_zone,
                "accessRole": calendar.roles[email], "updated": now_rfc3339(),
                "items": [as_listed(e, query) for e in chunk],
            }  # fmt: skip
            if page["offset"] + size < len(found):
                answer["nextPageToken"] = _encode({**page, "offset": page["offset"] + size})
            elif not query.filtered:
                answer["nextSyncToken"] = _encode({"c": calendar.id, "g": calendar.generation, "s": page["until"]})
            return answer

    def _token_seq(self, calendar: Calendar, token: str) -> int:
        decoded = _decode(token)
        if not decoded or decoded.get("c") != calendar.id or decoded.get("g") != calendar.generation:
            raise ApiError(410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.")
        return int(decoded["s"])

    # --- push notifications ------------------------------------------------------------------------------

    def watch(self, email: str, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            calendar = self.calendar_for(email, calendar_id)
            if body.get("type") not in ("web_hook", "webhook"):
                raise ApiError(400, "invalid", "Invalid channel type.")
            if not str(body.get("address", "")).startswith(("https://", "http://")):
                raise ApiError(400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS.")
            ttl = int((body.get("params") or {}).get("ttl", 604800))
            expiration = int((time.time() + min(ttl, 604800)) * 1000)
            channel = Channel(body["id"], uuid.uuid4().hex, calendar.id, body["address"], body.get("token", ""),
                              expiration)  # fmt: skip
            self.channels[channel.id] = channel
            if self.notify is not None:
                self.notify(channel, "sync")
            return {
                "kind": "api#channel",
                "id": channel.id,
                "resourceId": channel.resource_id,
                "resourceUri": f"/calendar/v3/calendars/{calendar.id}/events",
                "expiration": str(expiration),
            }

    def stop(self, body: dict[str, Any]) -> None:
        with self.lock:
            channel = self.channels.get(body.get("id", ""))
            if channel is None or channel.resource_id != body.get("resourceId"):
                raise ApiError(404, "notFound", "Channel not found.")
            del self.channels[channel.id]


def _as_utc(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _page_size(text: str | None) -> int:
    """maxResults: 250 by default, "can never be larger than 2500", minimum 1 (the discovery document)."""
    try:
        size = int(text or 250)
    except ValueError:
        size = 0
    if size < 1:
        raise ApiError(400, "invalid", "Invalid value for maxResults.")
    return min(size, 2500)


def _parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _encode(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any] | None:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))  # type: ignore[no-any-return]
    except (ValueError, TypeError):
        return None
