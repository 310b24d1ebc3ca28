"""Graph change notifications for the emulator's calendars: subscriptions, the validation handshake, change and
lifecycle notifications, as Microsoft documents them.

- POST /subscriptions validates notificationUrl (and lifecycleNotificationUrl) first: Graph POSTs
  `?validationToken=...` and needs a 200 text/plain echo of the token within 10 seconds, else the creation
  fails with 400 (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks#notificationurl-validation);
- an Outlook event subscription lasts at most 10,080 minutes
  (https://learn.microsoft.com/graph/api/resources/subscription#subscription-lifetime), and an
  expirationDateTime under 45 minutes after the request is set to 45 minutes after it (the resource's
  expirationDateTime property); PATCH renews it, an expired one is gone;
- a change in a subscribed calendar is POSTed to notificationUrl as a changeNotificationCollection, retried
  with backoff while the endpoint does not answer 2xx within 3 seconds (briefly here; Graph goes on for hours);
- lifecycle notifications (reauthorizationRequired, subscriptionRemoved, missed) go to lifecycleNotificationUrl
  (https://learn.microsoft.com/graph/change-notifications-lifecycle-events); after a reauthorizationRequired,
  change notifications stop until POST /subscriptions/{id}/reauthorize or a PATCH succeeds ("the change
  notification flow resumes"); a change notification Graph could not deliver is followed by `missed`.

One concession: Graph accepts only https notification URLs; the emulator also takes http on loopback, where
tests and the sandbox run calsync.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests

from emulators.http import Request, Response

from .state import Calendar, GraphError

MAX_MINUTES = 10080  # Outlook event
MIN_MINUTES = 45
VALIDATION_TIMEOUT = 10.0
DELIVERY_TIMEOUT = 3.0
RETRIES = (0.5, 1.0, 2.0)  # waits between delivery attempts
CHANGE_TYPES = {"created", "updated", "deleted"}
LIFECYCLE_EVENTS = {"reauthorizationRequired", "subscriptionRemoved", "missed"}


@dataclass
class Subscription:
    id: str
    client_id: str
    creator: str  # the principal that created it: an address, or "app:<tenant>"
    tenant: str
    upn: str
    calendar_id: str
    body: dict[str, Any]
    expires: datetime
    needs_reauthorization: bool = False
    delivered: list[dict[str, Any]] = field(default_factory=list)

    def out(self) -> dict[str, Any]:
        b = self.body
        return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
                "id": self.id, "resource": b["resource"], "applicationId": self.client_id,
                "changeType": b["changeType"], "clientState": b.get("clientState"),
                "notificationUrl": b["notificationUrl"], "lifecycleNotificationUrl": b.get("lifecycleNotificationUrl"),
                "expirationDateTime": _iso(self.expires), "creatorId": self.creator,
                "latestSupportedTlsVersion": "v1_2"}  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _parse(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise GraphError(400, "InvalidRequest", "expirationDateTime is not a date and time.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_url(url: Any, name: str) -> str:
    parts = urlsplit(str(url or ""))
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise GraphError(400, "InvalidRequest", f"{name} must be an https URL.")
    return str(url)


class Subscriptions:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.items: dict[str, Subscription] = {}
        self.drop = 0  # the next n change notifications are lost (then a `missed` lifecycle event tells)
        self.session = requests.Session()
        self.session.trust_env = False

    # --- the API ----------------------------------------------------------------------------------

    def create(self, body: dict[str, Any], *, client_id: str, creator: str, tenant: str, upn: str,
               calendar_id: str) -> dict[str, Any]:  # fmt: skip
        kinds = {k.strip() for k in str(body.get("changeType", "")).split(",") if k.strip()}
        if not kinds or not kinds <= CHANGE_TYPES:
            raise GraphError(400, "InvalidRequest", "changeType must be created, updated and/or deleted.")
        if len(str(body.get("clientState") or "")) > 128:
            raise GraphError(400, "InvalidRequest", "clientState may be at most 128 characters.")
        expires = self._expiry(body.get("expirationDateTime"))
        self.validate(_check_url(body.get("notificationUrl"), "notificationUrl"))
        if body.get("lifecycleNotificationUrl"):
            self.validate(_check_url(body["lifecycleNotificationUrl"], "lifecycleNotificationUrl"))
        found = Subscription(str(uuid.uuid4()), client_id, creator, tenant, upn, calendar_id, dict(body), expires)
        with self.lock:
            self.items[found.id] = found
        return found.out()

    def get(self, sub_id: str, client_id: str) -> Subscription:
        with self.lock:
            found = self.items.get(sub_id)
            if found is not None and found.expires <= datetime.now(UTC):
                del self.items[sub_id]  # Graph deletes a subscription that expired
                found = None
            if found is None or found.client_id != client_id:
                raise GraphError(404, "ResourceNotFound", f"The object was not found: subscription {sub_id}.")
            return found

    def renew(self, sub_id: str, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH: a new expirationDateTime (which also reauthorizes) and/or notificationUrl."""
        found = self.get(sub_id, client_id)
        expires = self._expiry(body["expirationDateTime"]) if "expirationDateTime" in body else found.expires
        if body.get("notificationUrl"):
            self.validate(_check_url(body["notificationUrl"], "notificationUrl"))
        with self.lock:
            found.expires, found.needs_reauthorization = expires, False
            if body.get("notificationUrl"):
                found.body["notificationUrl"] = body["notificationUrl"]
        return found.out()

    def reauthorize(self, sub_id: str, client_id: str) -> None:
        found = self.get(sub_id, client_id)
        with self.lock:
            found.needs_reauthorization = False

    def delete(self, sub_id: str, client_id: str) -> None:
        self.get(sub_id, client_id)
        with self.lock:
            self.items.pop(sub_id, None)

    def _expiry(self, value: Any) -> datetime:
        if not value:
            raise GraphError(400, "InvalidRequest", "expirationDateTime is required.")
        expires, now = _parse(value), datetime.now(UTC)
        if expires <= now:
            raise GraphError(400, "InvalidRequest", "Subscription expiration must be in the future.")
        if expires > now + timedelta(minutes=MAX_MINUTES):
            raise GraphError(400, "InvalidRequest", f"Subscription expiration can only be {MAX_MINUTES} minutes "
                             "in the future.")  # fmt: skip
        return max(expires, now + timedelta(minutes=MIN_MINUTES))

    def validate(self, url: str) -> None:
        """The handshake: the endpoint echoes the token, as text/plain, with 200, within 10 s."""
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        separator = "&" if "?" in url else "?"
        try:
            answer = self.session.post(f"{url}{separator}validationToken={quote(token)}", data=b"",
                                       headers={"Content-Type": "text/plain; charset=utf-8"},
                                       timeout=VALIDATION_TIMEOUT)  # fmt: skip
            ok = (answer.status_code == 200 and answer.text == token
                  and answer.headers.get("Content-Type", "").startswith("text/plain"))  # fmt: skip
        except requests.RequestException:
            ok = False
        if not ok:
            raise GraphError(400, "ValidationError", "Subscription validation request failed. Notification "
                             "endpoint must respond with 200 OK to validation request.")  # fmt: skip

    # --- notifications ---------------------------------------------------------------------------

    def changed(self, calendar: Calendar, event: dict[str, Any], kind: str) -> None:
        """A change in a calendar: a notification to each live subscription on it that asked for this kind."""
        now = datetime.now(UTC)
        with self.lock:
            targets = [s for s in self.items.values() if s.calendar_id == calendar.id and s.expires > now
                       and kind in str(s.body["changeType"]) and not s.needs_reauthorization]  # fmt: skip
            if targets and self.drop > 0:
                self.drop -= 1
                for sub in targets:  # lost, and Graph says so where it can
                    if sub.body.get("lifecycleNotificationUrl"):
                        self._send(sub, sub.body["lifecycleNotificationUrl"], self._lifecycle_item(sub, "missed"))
                return
        for sub in targets:
            resource = f"Users/{sub.upn}/Events/{event['id']}"
            item = {"subscriptionId": sub.id, "subscriptionExpirationDateTime": _iso(sub.expires),
                    "changeType": kind, "resource": resource, "clientState": sub.body.get("clientState"),
                    "tenantId": sub.tenant,
                    "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource,
                                     "@odata.etag": event.get("@odata.etag", ""), "id": event["id"]}}  # fmt: skip
            self._send(sub, sub.body["notificationUrl"], item)

    def lifecycle(self, sub_id: str, event: str) -> None:
        """Send a lifecycle notification (the emulator's control); subscriptionRemoved also removes it."""
        if event not in LIFECYCLE_EVENTS:
            raise GraphError(400, "InvalidRequest", f"Unknown lifecycle event {event}.")
        with self.lock:
            sub = self.items.get(sub_id)
            if sub is None or not sub.body.get("lifecycleNotificationUrl"):
                raise GraphError(404, "ResourceNotFound", "No such subscription with a lifecycleNotificationUrl.")
            if event == "subscriptionRemoved":
                del self.items[sub_id]
            if event == "reauthorizationRequired":
                sub.needs_reauthorization = True
        self._send(sub, sub.body["lifecycleNotificationUrl"], self._lifecycle_item(sub, event))

    @staticmethod
    def _lifecycle_item(sub: Subscription, event: str) -> dict[str, Any]:
        return {"subscriptionId": sub.id, "subscriptionExpirationDateTime": _iso(sub.expires), "tenantId": sub.tenant,
                "clientState": sub.body.get("clientState"), "lifecycleEvent": event}  # fmt: skip

    def expire(self, sub_id: str) -> None:
        with self.lock:
            if sub_id in self.items:
                self.items[sub_id].expires = datetime.now(UTC) - timedelta(seconds=1)

    def _send(self, sub: Subscription, url: str, item: dict[str, Any]) -> None:
        threading.Thread(target=self._deliver, args=(sub, url, {"value": [item]}), daemon=True).start()

    def _deliver(self, sub: Subscription, url: str, document: dict[str, Any]) -> None:
        for wait in (*RETRIES, None):
            try:
                answer = self.session.post(url, json=document, timeout=DELIVERY_TIMEOUT)
                if answer.status_code < 300:
                    with self.lock:
                        sub.delivered.append(document)
                    return
            except requests.RequestException:
                pass
            if wait is not None:
                time.sleep(wait)


# --- HTTP -----------------------------------------------------------------------------------------------


def api(emulator: Any, request: Request, rest: list[str]) -> Response:
    """Change notification subscriptions on a calendar's events, kept by the app that created them.
    https://learn.microsoft.com/graph/api/subscription-post-subscriptions"""
    subs, method = emulator.state.subscriptions, request.method
    auth = request.headers.get("authorization", "")
    principal, client_id = emulator.state.principal(auth[7:].strip() if auth.lower().startswith("bearer ") else "")
    if not rest and method == "POST":
        body = request.json()
        upn, calendar_id = _watched(emulator, request, str(body.get("resource", "")))
        box = emulator.state.mailboxes[upn]
        made = subs.create(body, client_id=client_id, creator=principal, tenant=box.tenant, upn=upn,
                           calendar_id=calendar_id)  # fmt: skip
        return Response.json(made, 201)
    if len(rest) == 1 and method == "GET":
        return Response.json(subs.get(rest[0], client_id).out())
    if len(rest) == 1 and method == "PATCH":
        return Response.json(subs.renew(rest[0], client_id, request.json()))
    if len(rest) == 1 and method == "DELETE":
        subs.delete(rest[0], client_id)
        return Response(204)
    if len(rest) == 2 and rest[1] == "reauthorize" and method == "POST":
        subs.reauthorize(rest[0], client_id)
        return Response(200)
    raise GraphError(400, "BadRequest", f"Resource not found for the segment '{'/'.join(rest)}'.")


def _watched(emulator: Any, request: Request, resource: str) -> tuple[str, str]:
    """The mailbox and calendar a subscription's resource names (me/events, me/calendar/events,
    me/calendars/{id}/events, or users/{id}/...), which the caller must be allowed to read."""
    parts = [unquote(p) for p in resource.strip("/").split("/")]
    upn, rest, _roles = emulator._who(request, parts)
    box = emulator.state.mailboxes[upn]
    if rest in (["events"], ["calendar", "events"]):
        return upn, box.calendars[0]
    if len(rest) == 3 and rest[0] == "calendars" and rest[2] == "events":
        return upn, emulator.state.calendar_for(upn, rest[1]).id
    raise GraphError(400, "InvalidRequest", f"Subscriptions on '{resource}' are not supported.")


def control(subs: Subscriptions, request: Request, rest: list[str]) -> Response:
    """For tests and the sandbox: list subscriptions, lose the next change notifications, send a lifecycle
    notification, or let one expire."""
    if not rest and request.method == "GET":
        with subs.lock:
            return Response.json([{**s.out(), "delivered": len(s.delivered)} for s in subs.items.values()])
    if rest == ["drop"] and request.method == "POST":
        with subs.lock:
            subs.drop = int(request.json().get("count", 1))
        return Response(204)
    if len(rest) == 2 and rest[1] == "lifecycle" and request.method == "POST":
        subs.lifecycle(rest[0], str(request.json().get("event", "")))
        return Response(202)
    if len(rest) == 2 and rest[1] == "expire" and request.method == "POST":
        subs.expire(rest[0])
        return Response(204)
    raise GraphError(404, "NotFound", "Resource not found.")
