"""What the Microsoft emulator remembers: tenants, app registrations, consents, mailboxes, calendars, events.

It follows Microsoft's published behaviour for the identity platform (v2.0
endpoints, authorization code with PKCE, refresh tokens, client credentials
after admin consent) and the Graph v1.0 calendar surface calsync uses
(https://learn.microsoft.com/graph/api/resources/event):

- events carry "@odata.etag"; PATCH/DELETE with a stale If-Match get 412;
- a series is a seriesMaster with a recurrence pattern; calendarView returns
  its occurrences and exceptions (type, seriesMasterId, originalStart), a
  cancelled occurrence is simply absent;
- calendarView/delta pages with @odata.nextLink and ends with @odata.deltaLink;
  later rounds return changed instances and {"id", "@removed"} for removed
  ones; a forgotten delta token answers 410 SyncStateNotFound;
- throttling answers 429 with Retry-After when switched on;
- PATCH changes only the properties it names; extended properties are merged by id and come back only through
  $expand=singleValueExtendedProperties($filter=id eq '...');
- meeting requests and cancellations Graph would email are recorded in `sent_invitations`.
- start and end come back in UTC unless `Prefer: outlook.timezone` names a zone, and the zone an event was
  written in is kept as originalStartTimeZone / originalEndTimeZone
  (https://learn.microsoft.com/graph/api/event-get#request-headers);
- an app (client credentials) reaches a mailbox only with the Calendars.Read or Calendars.ReadWrite
  application permission an admin consented to (https://learn.microsoft.com/graph/api/user-list-calendars).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import hashes
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, weekday
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

GRAPH_SCOPES = {"Calendars.ReadWrite", "User.Read", "offline_access", "openid", "profile"}
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
# https://learn.microsoft.com/en-us/graph/api/resources/freebusystatus
SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
# What a new event holds unless the request says otherwise (https://learn.microsoft.com/en-us/graph/api/resources/event).
_DEFAULTS = {"showAs": "busy", "importance": "normal", "sensitivity": "normal", "categories": [],
             "isOnlineMeeting": False, "responseRequested": True}  # fmt: skip
# Properties whose change makes Outlook send the attendees an update; the others are the organiser's own
# (categories, showAs, reminders, extended properties) and send nothing.
_MEETING_FIELDS = {"subject", "body", "start", "end", "location", "locations", "isAllDay", "recurrence", "attendees",
                   "isOnlineMeeting"}  # fmt: skip


# What a verified client assertion stands for in place of a client secret.
CERTIFIED = "\x00certificate"


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message,
                          "innerError": {"request-id": str(uuid.uuid4()), "date": _now()}}}  # fmt: skip


class IdentityError(Exception):
    """An OAuth error as the identity platform answers it (error, error_description with an AADSTS code)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def zone(name: str) -> ZoneInfo:
    """A Graph timeZone (Windows or IANA) as a zone."""
    name = name or "UTC"
    return ZoneInfo(WINDOWS_TO_OLSON.get(name, name))


def parse_when(value: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(value["dateTime"][:26].rstrip("Z")).replace(tzinfo=zone(value.get("timeZone", "")))


def format_when(moment: datetime, zone_name: str = "UTC") -> dict[str, str]:
    local = moment.astimezone(zone(zone_name))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": zone_name}


def occurrences(master: dict[str, Any], start: datetime, end: datetime, limit: int = 5000) -> list[datetime]:
    """Starts of a series' occurrences (per its pattern and range) that overlap [start, end)."""
    recurrence = master["recurrence"]
    pattern, rng = recurrence["pattern"], recurrence["range"]
    first = parse_when(master["start"])
    length = parse_when(master["end"]) - first
    zone_name = rng.get("recurrenceTimeZone") or master["start"].get("timeZone") or "UTC"
    local_first = first.astimezone(zone(zone_name)).replace(tzinfo=None)
    kind, interval = pattern["type"], int(pattern.get("interval") or 1)
    days = [weekday(_DAYS.index(d)) for d in pattern.get("daysOfWeek") or []]
    options: dict[str, Any] = {"interval": interval, "dtstart": local_first}
    if kind == "daily":
        freq = DAILY
    elif kind == "weekly":
        freq, options["byweekday"] = WEEKLY, days or None
        options["wkst"] = _DAYS.index(pattern.get("firstDayOfWeek", "sunday"))
    elif kind == "absoluteMonthly":
        freq, options["bymonthday"] = MONTHLY, int(pattern["dayOfMonth"])
    elif kind == "relativeMonthly":
        freq, options["byweekday"] = MONTHLY, [d(_INDEX[pattern.get("index", "first")]) for d in days]
    elif kind == "absoluteYearly":
        freq, options["bymonth"], options["bymonthday"] = YEARLY, int(pattern["month"]), int(pattern["dayOfMonth"])
    else:  # relativeYearly
        freq, options["bymonth"] = YEARLY, int(pattern["month"])
        options["byweekday"] = [d(_INDEX[pattern.get("index", "first")]) for d in days]
    if rng["type"] == "numbered":
        options["count"] = int(rng["numberOfOccurrences"])
    elif rng["type"] == "endDate":
        options["until"] = datetime.combine(date.fromisoformat(rng["endDate"]), datetime.max.time())
    found = []
    for local in rrule(freq, **options):
        moment = local.replace(tzinfo=zone(zone_name))
        if moment >= end:
            break
        if moment + length > start or (length == timedelta(0) and moment >= start):
            found.append(moment)
        if len(found) >= limit:
            break
    return found


@dataclass
class Calendar:
    id: str
    name: str
    owner: str
    can_edit: bool = True
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Event id -> the sequence number of its last change; removed ids keep theirs in `removed`.
    changed: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    seq: int = 0
    generation: str = field(default_factory=lambda: secrets.token_hex(4))
    view_cache: tuple[Any, list[dict[str, Any]]] | None = None


@dataclass
class Mailbox:
    id: str
    upn: str
    name: str
    tenant: str
    calendars: list[str] = field(default_factory=list)


@dataclass
class Grant:
    user: str
    client_id: str
    scopes: list[str]
    redirect_uri: str = ""
    challenge: str = ""
    nonce: str = ""
    used: bool = False


class State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tenants: dict[str, set[str]] = {}  # tenant id -> domains
        self.apps: dict[str, str] = {}  # client id -> secret ("" for an app that only has certificates)
        self.app_certificates: dict[str, list[bytes]] = {}  # client id -> its uploaded certificates (PEM)
        # When each app's client secret expires (the Entra portal offers 6 to 24 months; default: 180 days on).
        self.secret_expiry: dict[str, datetime] = {}
        self.admin_consent: set[tuple[str, str]] = set()  # (tenant id, client id)
        self.mailboxes: dict[str, Mailbox] = {}  # by upn (lower case)
        self.calendars: dict[str, Calendar] = {}
        self.codes: dict[str, Grant] = {}
        self.access: dict[str, tuple[str, str, float]] = {}  # token -> (upn or "app:<tenant>", client, expiry)
        self.refresh: dict[str, Grant] = {}
        self.faults: dict[str, Any] = {"throttle": 0, "retry_after": 2}
        self.requests = 0
        # Every meeting request and cancellation Graph would have emailed, in the shape all emulators share:
        # {"method", "to", "organizer", "subject", "event_id", "ical_uid"}.
        self.sent_invitations: list[dict[str, str]] = []
        # Application permissions an app registration asks for; admin consent grants them (default: calsync's).
        self.app_permissions: dict[str, set[str]] = {}
        # Tests: app id -> the HTTP status its registration's read answers with (400 as Graph answers a request it
        # cannot take, 500 as an outage).
        self.registration_errors: dict[str, int] = {}
        # The sandbox's directory: every address at a known tenant's domain is a licensed user with a mailbox.
        self.open_directory = False
        from .subscriptions import Subscriptions  # it reads this module's types

        # Change notifications: told of every change below, it notifies the subscriptions on that calendar.
        self.subscriptions = Subscriptions()

    # --- directory ---------------------------------------------------------------------------

    def tenant_for(self, domain: str) -> str:
        with self.lock:
            for tenant_id, domains in self.tenants.items():
                if domain in domains:
                    return tenant_id
            tenant_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, domain))
            self.tenants[tenant_id] = {domain}
            return tenant_id

    def tenant_id(self, name: str) -> str:
        """A tenant named by its id or by one of its domains, as authority URLs may name it; unknown names as
        given. https://learn.microsoft.com/entra/identity-platform/v2-protocols#endpoints"""
        name = name.lower()
        with self.lock:
            return next((t for t, domains in self.tenants.items() if name in domains), name)

    def mailbox(self, upn: str, name: str = "") -> Mailbox:
        """A user's mailbox (created on first use) with a default calendar, a shared one, and a read-only one."""
        upn = upn.strip().lower()
        with self.lock:
            if upn not in self.mailboxes:
                tenant = self.tenant_for(upn.split("@")[-1])
                box = Mailbox(str(uuid.uuid5(uuid.NAMESPACE_URL, upn)), upn,
                              name or upn.split("@")[0].replace(".", " ").title(), tenant)  # fmt: skip
                self.mailboxes[upn] = box
                for title, can_edit in (("Calendar", True), ("Team", True), ("Holidays", False)):
                    calendar = Calendar(_graph_id(f"{upn}/{title}"), title, upn, can_edit)
                    self.calendars[calendar.id] = calendar
                    box.calendars.append(calendar.id)
            return self.mailboxes[upn]

    def user(self, key: str) -> Mailbox | None:
        """A mailbox by address or object id; in the sandbox's open directory, any address of a known tenant."""
        key = key.lower()
        with self.lock:
            box = self.mailboxes.get(key) or next((b for b in self.mailboxes.values() if b.id == key), None)
            domain = key.rsplit("@", 1)[-1]
            if box is None and self.open_directory and any(domain in d for d in self.tenants.values()):
                box = self.mailbox(key)
            return box

    def roles(self, client_id: str) -> set[str]:
        """The application permissions an app holds once an admin consented (its registration's)."""
        return self.app_permissions.get(client_id, {"Calendars.ReadWrite"})

    def registration(self, client_id: str) -> dict[str, Any] | None:
        """The app registration as Graph describes it: its secret's hint (the first three characters) and end, and
        each certificate keyed by its SHA-1 thumbprint (customKeyIdentifier, Edm.Binary: base64 in JSON) and
        ending when the certificate does. https://learn.microsoft.com/graph/api/resources/application"""
        from cryptography import x509

        if client_id not in self.apps:
            return None
        secret, ends = self.apps[client_id], self.secret_expiry.get(client_id)
        passwords = [{"customKeyIdentifier": None, "displayName": "calsync", "hint": secret[:3], "secretText": None,
                      "keyId": str(uuid.uuid5(uuid.NAMESPACE_OID, secret)), "startDateTime": _now(),
                      "endDateTime": (ends or datetime.now(UTC) + timedelta(days=180)).strftime("%Y-%m-%dT%H:%M:%SZ")}
                     ] if secret else []  # fmt: skip
        keys = []
        for pem in self.app_certificates.get(client_id, []):
            cert = x509.load_pem_x509_certificate(pem)
            thumbprint = cert.fingerprint(hashes.SHA1())  # noqa: S303
            keys.append({"customKeyIdentifier": base64.b64encode(thumbprint).decode(), "displayName": "CN=calsync",
                         "keyId": str(uuid.UUID(bytes=thumbprint[:16])), "type": "AsymmetricX509Cert",
                         "usage": "Verify", "key": None,
                         "startDateTime": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "endDateTime": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")})  # fmt: skip
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)), "appId": client_id, "displayName": client_id,
                "passwordCredentials": passwords, "keyCredentials": keys}  # fmt: skip

    def calendar_for(self, upn: str, calendar_id: str | None, write: bool = False) -> Calendar:
        box = self.mailboxes.get(upn)
        if box is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        calendar = self.calendars.get(calendar_id or box.calendars[0])
        if calendar is None or calendar.id not in box.calendars:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if write and not calendar.can_edit:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return calendar

    def event_for(self, upn: str, event_id: str) -> tuple[Calendar, dict[str, Any]]:
        box = self.mailboxes.get(upn)
        for calendar_id in box.calendars if box else []:
            calendar = self.calendars[calendar_id]
            if event_id in calendar.events:
                return calendar, calendar.events[event_id]
            virtual = self._virtual(calendar, event_id)
            if virtual is not None:
                return calendar, virtual
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    # --- identity ---------------------------------------------------------------------------------

    def issue_code(self, grant: Grant) -> str:
        code = "0.A" + secrets.token_urlsafe(40)
        with self.lock:
            self.codes[code] = grant
        return code

    def check_assertion(self, client_id: str, assertion: str, audience: str) -> str:
        """A client assertion (RFC 7523) signed with one of the app's certificates; the app's secret if it is."""
        import jwt
        from cryptography import x509

        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise IdentityError(401, "invalid_client", "AADSTS50027: JWT token is invalid or malformed.") from None
        for pem in self.app_certificates.get(client_id, []):
            cert = x509.load_pem_x509_certificate(pem)
            x5t = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode()
            legacy = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()  # noqa: S303
            # RFC 7515 thumbprints are base64url; clients differ on padding.
            if x5t != str(header.get("x5t#S256", "")).rstrip("=") and legacy != str(header.get("x5t", "")).rstrip("="):
                continue
            try:
                required = {"require": ["exp", "aud", "iss", "sub", "jti"]}
                claims = jwt.decode(assertion, cert.public_key(), algorithms=["PS256", "RS256"],  # type: ignore[arg-type]
                                    audience=audience, issuer=client_id, options=required)  # fmt: skip
            except jwt.PyJWTError as exc:
                raise IdentityError(401, "invalid_client", f"AADSTS700027: Client assertion failed signature "
                                    f"validation ({type(exc).__name__}).") from None  # fmt: skip
            if claims["sub"] != client_id:
                raise IdentityError(401, "invalid_client", "AADSTS700023: Client assertion subject is not the app.")
            return CERTIFIED
        raise IdentityError(401, "invalid_client", "AADSTS700027: The certificate with identifier used to sign the "
                            "client assertion is not registered on application.")  # fmt: skip

    def _client(self, client_id: str, secret: str) -> None:
        if client_id not in self.apps:
            raise IdentityError(400, "unauthorized_client", f"AADSTS700016: Application with identifier '{client_id}' "
                                "was not found in the directory.")  # fmt: skip
        if secret != CERTIFIED and (not self.apps[client_id] or self.apps[client_id] != secret):
            raise IdentityError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")

    def redeem(self, code: str, client_id: str, secret: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        with self.lock:
            self._client(client_id, secret)
            grant = self.codes.get(code)
            if grant is None or grant.used or grant.client_id != client_id:
                raise IdentityError(400, "invalid_grant", "AADSTS54005: OAuth2 Authorization code was already "
                                    "redeemed, please retry with a new valid code.")  # fmt: skip
            grant.used = True
            if grant.redirect_uri != redirect_uri:
                raise IdentityError(400, "invalid_grant", "AADSTS50148: The redirect_uri does not match.")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if grant.challenge and digest != grant.challenge:
                raise IdentityError(400, "invalid_grant", "AADSTS501481: The Code_Verifier does not match.")
            return self._tokens(grant, with_id_token=True)

    def refresh_tokens(self, token: str, client_id: str, secret: str) -> dict[str, Any]:
        with self.lock:
            self._client(client_id, secret)
            grant = self.refresh.get(token)
            if grant is None or grant.client_id != client_id:
                raise IdentityError(400, "invalid_grant", "AADSTS70000: The provided grant has expired due to it "
                                    "being revoked, a fresh auth token is needed.")  # fmt: skip
            return self._tokens(grant, with_id_token=True)

    def app_token(self, tenant: str, client_id: str, secret: str) -> dict[str, Any]:
        with self.lock:
            self._client(client_id, secret)
            tenant = self.tenant_id(tenant)
            if tenant not in self.tenants:
                raise IdentityError(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
            if (tenant, client_id) not in self.admin_consent:
                raise IdentityError(400, "invalid_grant", "AADSTS65001: The user or administrator has not consented "
                                    "to use the application.")  # fmt: skip
            token = "eyA" + secrets.token_urlsafe(40)
            self.access[token] = (f"app:{tenant}", client_id, time.time() + 3599)
            return {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}

    def revoke_user(self, upn: str) -> None:
        """The user (or an admin) revoked calsync's consent."""
        with self.lock:
            self.refresh = {t: g for t, g in self.refresh.items() if g.user != upn}
            self.access = {t: a for t, a in self.access.items() if a[0] != upn}

    def _tokens(self, grant: Grant, with_id_token: bool) -> dict[str, Any]:
        box = self.mailboxes[grant.user]
        access = "eyJ0" + secrets.token_urlsafe(40)
        self.access[access] = (grant.user, grant.client_id, time.time() + 3599)
        answer: dict[str, Any] = {"token_type": "Bearer", "scope": " ".join(grant.scopes), "expires_in": 3599,
                                  "ext_expires_in": 3599, "access_token": access}  # fmt: skip
        if "offline_access" in grant.scopes:
            refresh = "0.A" + secrets.token_urlsafe(60)
            self.refresh[refresh] = grant
            answer["refresh_token"] = refresh
        if with_id_token:
            claims = {"aud": grant.client_id, "iss": f"https://login.microsoftonline.com/{box.tenant}/v2.0",
                      "iat": int(time.time()), "nbf": int(time.time()), "exp": int(time.time()) + 3600,
                      "name": box.name, "oid": box.id, "preferred_username": box.upn, "sub": box.id,
                      "tid": box.tenant, "ver": "2.0", **({"nonce": grant.nonce} if grant.nonce else {})}  # fmt: skip
            answer["id_token"] = ".".join(_b64(p) for p in ({"typ": "JWT", "alg": "none"}, claims)) + "."
            answer["client_info"] = _b64({"uid": box.id, "utid": box.tenant})
        return answer

    def principal(self, token: str) -> tuple[str, str]:
        """Who a token stands for (an address, or "app:<tenant>") and the app it was issued to."""
        entry = self.access.get(token)
        if entry is None or entry[2] < time.time():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        return entry[0], entry[1]

    # --- faults ---------------------------------------------------------------------------------------

    def check_faults(self) -> None:
        with self.lock:
            self.requests += 1
            if self.faults["throttle"] > 0:
                self.faults["throttle"] -= 1
                raise GraphError(429, "TooManyRequests", "Application is over its MailboxConcurrency limit.",
                                 {"Retry-After": str(self.faults["retry_after"])})  # fmt: skip

    def expire_delta_tokens(self) -> None:
        with self.lock:
            for calendar in self.calendars.values():
                calendar.generation = secrets.token_hex(4)

    # --- events --------------------------------------------------------------------------------------

    def _touch(self, calendar: Calendar, event: dict[str, Any]) -> None:
        calendar.seq += 1
        key = secrets.token_urlsafe(12)
        event["@odata.etag"] = f'W/"{key}"'
        event["changeKey"] = key
        event["lastModifiedDateTime"] = _now()
        kind = "updated" if event["id"] in calendar.changed else "created"
        calendar.changed[event["id"]] = calendar.seq
        self.subscriptions.changed(calendar, event, kind)

    def create(self, upn: str, calendar_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            calendar = self.calendar_for(upn, calendar_id, write=True)
            if "start" not in body or "end" not in body:
                raise GraphError(400, "ErrorInvalidRequest", "Your request can't be completed. Start and end required.")
            transaction = body.get("transactionId")
            if transaction:
                for existing in calendar.events.values():
                    if existing.get("transactionId") == transaction:
                        return dict(existing)  # Graph: the same transactionId does not make a second event
            event_id = _graph_id(f"{calendar.id}/{uuid.uuid4()}")
            event = {**_DEFAULTS, **self._clean(body)}
            event.update(
                id=event_id,
                createdDateTime=_now(),
                type="seriesMaster" if body.get("recurrence") else "singleInstance",
                iCalUId=f"040000008200E00074C5B7101A82E008{uuid.uuid4().hex}",  # Graph makes its own
                isCancelled=False,
                organizer={"emailAddress": {"name": self.mailboxes[upn].name, "address": upn}},
                isOrganizer=True,
                transactionId=transaction,
                originalStartTimeZone=body["start"].get("timeZone") or "UTC",
                originalEndTimeZone=body["end"].get("timeZone") or "UTC",
            )
            calendar.events[event_id] = event
            self._touch(calendar, event)
            # https://learn.microsoft.com/en-us/graph/api/user-post-events: the attendees get meeting requests.
            self._mail("REQUEST", calendar, event, _addresses(event))
            return self._out(event)

    def deliver(self, upn: str, calendar_id: str | None, body: dict[str, Any], organizer: str) -> dict[str, Any]:
        """A meeting request from `organizer` arrived and Outlook put it in the calendar: the attendee's copy, which
        the mailbox does not organise (isOrganizer false), for tests and the sandbox."""
        with self.lock:
            made = self.create(upn, calendar_id, {k: v for k, v in body.items() if k != "attendees"})
            event = self.calendars[self.calendar_for(upn, calendar_id).id].events[made["id"]]
            event.update(organizer={"emailAddress": {"name": organizer.split("@")[0].title(), "address": organizer}},
                         isOrganizer=False, attendees=body.get("attendees") or [],
                         responseStatus={"response": "notResponded", "time": "0001-01-01T00:00:00Z"})  # fmt: skip
            return self._out(event)

    def _mail(self, method: str, calendar: Calendar, event: dict[str, Any], people: list[str]) -> None:
        """Graph sends meeting mail for the organiser's copy only; an attendee's copy of a meeting sends nothing."""
        organizer = ((event.get("organizer") or {}).get("emailAddress") or {}).get("address", "").lower()
        if organizer != calendar.owner:
            return
        for address in people:
            self.sent_invitations.append({"method": method, "to": address, "organizer": organizer,
                                          "subject": event.get("subject") or "", "event_id": event["id"],
                                          "ical_uid": event.get("iCalUId") or ""})  # fmt: skip

    def _clean(self, body: dict[str, Any]) -> dict[str, Any]:
        allowed = ("subject", "body", "start", "end", "isAllDay", "location", "showAs", "sensitivity", "recurrence",
                   "attendees", "isReminderOn", "reminderMinutesBeforeStart", "categories",
                   "singleValueExtendedProperties", "importance", "isOnlineMeeting", "onlineMeetingProvider",
                   "responseRequested", "allowNewTimeProposals", "hideAttendees")  # fmt: skip
        event = {k: body[k] for k in allowed if k in body}
        if "showAs" in event and event["showAs"] not in SHOW_AS:
            raise GraphError(400, "RequestBodyRead", f"The value '{event['showAs']}' is not valid for showAs.")
        for prop in event.get("singleValueExtendedProperties") or []:
            if not isinstance(prop, dict) or not prop.get("id") or not isinstance(prop.get("value"), str):
                raise GraphError(400, "ErrorInvalidProperty", "An extended property needs an id and a string value.")
        for when in ("start", "end"):
            if when in event:
                # A bad time zone or time is refused here; the time comes back as Graph writes it (7 decimals).
                event[when] = format_when(parse_when(event[when]), event[when].get("timeZone") or "UTC")
        if (event.get("body") or {}).get("contentType") == "text":
            event["body"] = {"contentType": "html", "content": text_as_html(event["body"].get("content") or "")}
        return event

    def _out(self, event: dict[str, Any], zone_name: str = "", expand: str = "") -> dict[str, Any]:
        """An event as Graph returns it: the extended properties $expand names by id; start and end in the zone
        `Prefer: outlook.timezone` names, in UTC without one. An all-day event stays at midnight whatever the
        zone (it is a date, not an instant).
        https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get
        https://learn.microsoft.com/graph/api/event-get#request-headers
        https://learn.microsoft.com/graph/api/resources/datetimetimezone"""
        out = {k: v for k, v in event.items() if not k.startswith("_") and k != "singleValueExtendedProperties"}
        wanted = expanded_ids(expand)
        found = [p for p in event.get("singleValueExtendedProperties") or [] if p["id"].lower() in wanted]
        if found:
            out["singleValueExtendedProperties"] = found
        out.setdefault("recurrence", None)
        zone_name = zone_name or "UTC"
        for when in ("start", "end"):
            if event.get("isAllDay"):
                out[when] = {"dateTime": event[when]["dateTime"][:10] + "T00:00:00.0000000", "timeZone": zone_name}
            else:
                out[when] = format_when(parse_when(event[when]), zone_name)
        return out

    def _instance(self, master: dict[str, Any], start: datetime) -> dict[str, Any]:
        length = parse_when(master["end"]) - parse_when(master["start"])
        zone_name = master["start"].get("timeZone", "UTC")
        instance = {k: v for k, v in master.items() if k not in ("recurrence", "id", "createdDateTime")}
        instance.update(id=_occurrence_id(master["id"], start), type="occurrence", seriesMasterId=master["id"],
                        originalStart=start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        start=format_when(start, zone_name), end=format_when(start + length, zone_name))  # fmt: skip
        return instance

    def _virtual(self, calendar: Calendar, event_id: str) -> dict[str, Any] | None:
        decoded = _decode_occurrence(event_id)
        if decoded is None:
            return None
        master_id, start = decoded
        master = calendar.events.get(master_id)
        if master is None or master.get("type") != "seriesMaster":
            return None
        window = (start - timedelta(seconds=1), start + timedelta(seconds=1))
        if start not in occurrences(master, *window):
            return None
        cancelled = master.setdefault("_cancelled", [])
        return None if start.isoformat() in cancelled else self._instance(master, start)

    def instances_of(self, calendar: Calendar, master: dict[str, Any], start: datetime, end: datetime
                     ) -> list[dict[str, Any]]:  # fmt: skip
        found = []
        for moment in occurrences(master, start - timedelta(days=400), end):
            instance_id = _occurrence_id(master["id"], moment)
            exception = calendar.events.get(instance_id)
            if moment.isoformat() in master.get("_cancelled", []):
                continue
            candidate = exception or self._instance(master, moment)
            if parse_when(candidate["end"]) > start and parse_when(candidate["start"]) < end:
                found.append(candidate)
        return found

    def get(self, upn: str, event_id: str, zone_name: str = "", expand: str = "",
            calendar_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        with self.lock:
            calendar, event = self.event_for(upn, event_id)
            if calendar_id and calendar.id != calendar_id:
                raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            return self._out(event, zone_name, expand)

    def events(self, upn: str, calendar_id: str | None, flt: str, expand: str, zone_name: str = ""
               ) -> list[dict[str, Any]]:  # fmt: skip
        """events?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '...' and ep/value eq '...')."""
        with self.lock:
            calendar = self.calendar_for(upn, calendar_id)
            wanted = re.findall(r"ep/(id|value) eq '((?:[^']|'')*)'", flt)
            conditions = {k: v.replace("''", "'") for k, v in wanted}
            found = []
            for event in calendar.events.values():
                if event.get("type") not in ("singleInstance", "seriesMaster"):
                    continue
                props = event.get("singleValueExtendedProperties") or []
                if conditions and not any(
                    p.get("id", "").lower() == conditions.get("id", p.get("id", "")).lower()
                    and p.get("value") == conditions.get("value", p.get("value"))
                    for p in props
                ):
                    continue
                found.append(self._out(event, zone_name, expand))
            return found

    def authorize(self, upn: str, client_id: str) -> dict[str, Any]:
        """Tokens as after a completed consent, without the browser: for tests and benchmarks."""
        box = self.mailbox(upn)
        grant = Grant(user=box.upn, client_id=client_id, scopes=["Calendars.ReadWrite", "User.Read", "offline_access"])
        with self.lock:
            return self._tokens(grant, with_id_token=True)

    def update(self, upn: str, event_id: str, body: dict[str, Any], if_match: str | None) -> dict[str, Any]:
        with self.lock:
            calendar, event = self.event_for(upn, event_id)
            if not calendar.can_edit:
                raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            if if_match and if_match != "*" and if_match != event["@odata.etag"]:
                raise GraphError(412, "ErrorIrresolvableConflict", "The change key passed in the request does not "
                                 "match the current change key for the item.")  # fmt: skip
            if event_id not in calendar.events:  # an occurrence becomes an exception
                event = {**event, "type": "exception", "createdDateTime": _now()}
                calendar.events[event_id] = event
            before = _addresses(event)
            changes = self._clean(body)
            if "singleValueExtendedProperties" in changes:  # each one given is created or replaced, the rest stay
                given = {p["id"].lower() for p in changes["singleValueExtendedProperties"]}
                kept = [p for p in event.get("singleValueExtendedProperties") or [] if p["id"].lower() not in given]
                changes["singleValueExtendedProperties"] = kept + changes["singleValueExtendedProperties"]
            event.update(changes)
            self._mail_update(calendar, event, set(body), before)
            for when, original in (("start", "originalStartTimeZone"), ("end", "originalEndTimeZone")):
                if when in body:
                    event[original] = body[when].get("timeZone") or "UTC"
            if event.get("type") == "singleInstance" and body.get("recurrence"):
                event["type"] = "seriesMaster"
            if event.get("type") == "seriesMaster" and "recurrence" in body and not body["recurrence"]:
                event["type"] = "singleInstance"
            self._touch(calendar, event)
            if event.get("type") == "seriesMaster":  # its occurrences change with it
                for other in calendar.events.values():
                    if other.get("seriesMasterId") == event_id:
                        self._touch(calendar, other)
            return self._out(event)

    def _mail_update(self, calendar: Calendar, event: dict[str, Any], fields: set[str], before: list[str]) -> None:
        """https://learn.microsoft.com/en-us/graph/api/event-update: an update of only `attendees` goes to the
        attendees that changed; a change of the meeting's details goes to all of them. Removed ones are cancelled."""
        after = _addresses(event)
        removed = [a for a in before if a not in after]
        if fields == {"attendees"}:
            self._mail("REQUEST", calendar, event, [a for a in after if a not in before])
        elif fields & _MEETING_FIELDS:
            self._mail("REQUEST", calendar, event, after)
        self._mail("CANCEL", calendar, event, removed)

    def cancel(self, upn: str, event_id: str) -> None:
        """The organiser cancels a meeting: attendees get a cancellation, the event goes.
        https://learn.microsoft.com/en-us/graph/api/event-cancel"""
        with self.lock:
            calendar, event = self.event_for(upn, event_id)
            organizer = ((event.get("organizer") or {}).get("emailAddress") or {}).get("address", "").lower()
            if organizer != calendar.owner:
                raise GraphError(400, "ErrorInvalidRequest", "Your request can't be completed. You need to be an "
                                 "organizer to cancel a meeting.")  # fmt: skip
            self.delete(upn, event_id, None)

    def delete(self, upn: str, event_id: str, if_match: str | None) -> None:
        with self.lock:
            calendar, event = self.event_for(upn, event_id)
            if not calendar.can_edit:
                raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            if if_match and if_match != "*" and if_match != event["@odata.etag"]:
                raise GraphError(412, "ErrorIrresolvableConflict", "The change key does not match.")
            # https://learn.microsoft.com/en-us/graph/api/event-delete: deleting a meeting in the organiser's
            # calendar sends its attendees a cancellation.
            self._mail("CANCEL", calendar, event, _addresses(event))
            calendar.seq += 1
            if event.get("seriesMasterId"):  # cancelling one occurrence
                master = calendar.events[event["seriesMasterId"]]
                original = datetime.fromisoformat(event["originalStart"].replace("Z", "+00:00"))
                master.setdefault("_cancelled", []).append(
                    original.astimezone(zone(master["start"].get("timeZone", "UTC"))).isoformat()
                )
                calendar.events.pop(event_id, None)
                calendar.removed[event_id] = calendar.seq
                self._touch(calendar, master)
                return
            calendar.events.pop(event_id)
            calendar.removed[event_id] = calendar.seq
            self.subscriptions.changed(calendar, event, "deleted")
            for other_id in [i for i, e in calendar.events.items() if e.get("seriesMasterId") == event_id]:
                calendar.events.pop(other_id)
                calendar.removed[other_id] = calendar.seq

    # --- calendarView and delta ---------------------------------------------------------------------------

    def view(self, calendar: Calendar, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Single events, occurrences and exceptions in [start, end): what calendarView lists (kept per version)."""
        key = (calendar.seq, start, end)
        if calendar.view_cache and calendar.view_cache[0] == key:
            return calendar.view_cache[1]
        found = self._view(calendar, start, end)
        calendar.view_cache = (key, found)
        return found

    def _view(self, calendar: Calendar, start: datetime, end: datetime) -> list[dict[str, Any]]:
        found = []
        for event in list(calendar.events.values()):
            kind = event.get("type")
            if kind == "singleInstance":
                if parse_when(event["end"]) > start and parse_when(event["start"]) < end:
                    found.append(event)
            elif kind == "seriesMaster":
                found.extend(self.instances_of(calendar, event, start, end))
        return found

    def calendar_view(self, upn: str, calendar_id: str | None, params: dict[str, str], zone_name: str = ""
                      ) -> list[dict[str, Any]]:  # fmt: skip
        """calendarView: the window's single events, occurrences and exceptions, by start.
        https://learn.microsoft.com/graph/api/calendar-list-calendarview"""
        start, end = window(params)
        with self.lock:
            calendar = self.calendar_for(upn, calendar_id)
            found = sorted(self.view(calendar, start, end), key=lambda e: parse_when(e["start"]))
            return [self._out(e, zone_name) for e in found]

    def delta(self, upn: str, calendar_id: str | None, params: dict[str, str], page_size: int, link: str,
              zone_name: str = "") -> dict[str, Any]:  # fmt: skip
        """calendarView/delta; `link` is the absolute URL of this delta (as the request named it), which the
        answer's @odata.nextLink and @odata.deltaLink continue. https://learn.microsoft.com/graph/api/event-delta"""
        with self.lock:
            calendar = self.calendar_for(upn, calendar_id)
            if params.get("$skiptoken"):
                state = _unpack(params["$skiptoken"])
            elif params.get("$deltatoken"):
                state = _unpack(params["$deltatoken"])
                if state is None or state.get("g") != calendar.generation or state.get("c") != calendar.id:
                    raise GraphError(410, "SyncStateNotFound", "The sync state generation is not valid any more.")
                state = {**state, "since": state["s"], "until": calendar.seq, "o": 0}
            else:
                window(params)  # both given and readable
                state = {"a": params["startDateTime"], "b": params["endDateTime"], "since": None,
                         "until": calendar.seq, "o": 0, "c": calendar.id, "g": calendar.generation}  # fmt: skip
            if state is None:
                raise GraphError(400, "ErrorInvalidParameter", "The skip token is not valid.")
            start, end = window({"startDateTime": state["a"], "endDateTime": state["b"]})
            items: list[dict[str, Any]] = []
            since = state["since"]
            for event in self.view(calendar, start, end):
                series = calendar.changed.get(event.get("seriesMasterId", ""), 0)
                changed = max(calendar.changed.get(event["id"], 0), series)
                if since is None or since < changed <= state["until"]:
                    items.append(event)
            if since is not None:
                items += [{"@odata.type": "#microsoft.graph.event", "id": i, "@removed": {"reason": "deleted"}}
                          for i, seq in calendar.removed.items() if since < seq <= state["until"]]  # fmt: skip
            # Only the page's events are written out: a round reads the whole window once per page.
            chunk = [
                e if "@removed" in e else self._out(e, zone_name) for e in items[state["o"] : state["o"] + page_size]
            ]
            answer: dict[str, Any] = {"value": chunk}
            if state["o"] + page_size < len(items):
                answer["@odata.nextLink"] = f"{link}?$skiptoken={_pack({**state, 'o': state['o'] + page_size})}"
            else:
                token = _pack({"a": state["a"], "b": state["b"], "s": state["until"], "c": calendar.id,
                               "g": calendar.generation})  # fmt: skip
                answer["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
            return answer


def window(params: dict[str, str]) -> tuple[datetime, datetime]:
    """startDateTime and endDateTime, both required (ISO 8601; without an offset, UTC).
    https://learn.microsoft.com/graph/api/calendar-list-calendarview#query-parameters"""
    if not params.get("startDateTime") or not params.get("endDateTime"):
        raise GraphError(400, "ErrorInvalidParameter", "This request requires a time window specified by the query "
                         "string parameters StartDateTime and EndDateTime.")  # fmt: skip
    try:
        start, end = (
            datetime.fromisoformat(params[k].replace("Z", "+00:00")) for k in ("startDateTime", "endDateTime")
        )
    except ValueError:
        raise GraphError(400, "ErrorInvalidParameter", "StartDateTime or EndDateTime is not a date and time.") from None
    return start if start.tzinfo else start.replace(tzinfo=UTC), end if end.tzinfo else end.replace(tzinfo=UTC)


def text_as_html(text: str) -> str:
    """A plain-text body as Exchange keeps it: HTML, which is what Graph returns unless the request has
    `Prefer: outlook.body-content-type="text"`.
    https://learn.microsoft.com/en-us/graph/api/event-get#request-headers"""
    lines = "<br>".join(html.escape(line, quote=False) for line in text.split("\n"))
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
        f"<body><div>{lines}</div></body></html>"
    )


def _addresses(event: dict[str, Any]) -> list[str]:
    """The attendees' addresses (lower case), the organiser's own left out."""
    organizer = ((event.get("organizer") or {}).get("emailAddress") or {}).get("address", "").lower()
    found = [((a.get("emailAddress") or {}).get("address") or "").lower() for a in event.get("attendees") or []]
    return [a for a in found if a and a != organizer]


def expanded_ids(expand: str) -> set[str]:
    """The extended property ids (lower case) an $expand=singleValueExtendedProperties($filter=id eq '...' or ...)
    asks for."""
    match = re.search(r"singleValueExtendedProperties\(\$filter=(.*)\)", expand or "", re.IGNORECASE)
    if not match:
        return set()
    return {v.replace("''", "'").lower() for v in re.findall(r"id eq '((?:[^']|'')*)'", match.group(1))}


def _graph_id(seed: str) -> str:
    raw = b"\x00\x00\x00\x00" + hashlib.sha256(seed.encode()).digest() + uuid.uuid4().bytes
    return "AAMkA" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _occurrence_id(master_id: str, start: datetime) -> str:
    """Opaque to clients, as Graph's occurrence ids are: the emulator alone reads them back."""
    payload = json.dumps([master_id, start.isoformat()]).encode()
    return "AAMkOcc" + base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode_occurrence(event_id: str) -> tuple[str, datetime] | None:
    if not event_id.startswith("AAMkOcc"):
        return None
    try:
        master_id, start = json.loads(base64.urlsafe_b64decode(event_id[7:] + "=" * (-len(event_id[7:]) % 4)))
        return master_id, datetime.fromisoformat(start)
    except (ValueError, TypeError):
        return None


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _pack(data: dict[str, Any]) -> str:
    return _b64(data)


def _unpack(token: str) -> dict[str, Any] | None:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))  # type: ignore[no-any-return]
    except (ValueError, TypeError):
        return None
