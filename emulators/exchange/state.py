"""What the Exchange emulator remembers: logins, mailboxes, calendar folders, calendar items and their history.

It follows Exchange Web Services' documented behaviour where calsync depends on it:
- a recurring series is one item (the recurring master); a changed occurrence becomes an exception that
  belongs to the master, and changing or deleting an occurrence changes the master's ChangeKey;
- SyncFolderItems reports masters and single items as Create / Update / Delete since a sync state, pages with
  MaxChangesReturned, and refuses a sync state it no longer knows (ErrorInvalidSyncStateData);
- UpdateItem with ConflictResolution NeverOverwrite refuses a stale ChangeKey (ErrorIrresolvableConflict);
- impersonation needs the ApplicationImpersonation role, delegate access needs the mailbox owner's grant.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from emulators.microsoft.state import occurrences


class EwsError(Exception):
    """An EWS error: `code` is the ResponseCode; `fault` errors come back as a SOAP fault, the rest per message."""

    def __init__(self, code: str, text: str, fault: bool = False, back_off_ms: int = 0) -> None:
        super().__init__(text)
        self.code, self.text, self.fault, self.back_off_ms = code, text, fault, back_off_ms


@dataclass
class Login:
    username: str  # "DOMAIN\\user" or a UPN; compared case-insensitively
    password: str
    address: str  # the login's own mailbox
    impersonation: bool = False  # holds the ApplicationImpersonation role


@dataclass
class Folder:
    id: str
    name: str
    owner: str
    distinguished: str = ""  # "calendar" for the mailbox's default calendar
    writable: bool = True
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Item id -> (sequence of its creation, sequence of its last change); deleted ids keep theirs in `removed`.
    history: dict[str, tuple[int, int]] = field(default_factory=dict)
    removed: dict[str, tuple[int, int]] = field(default_factory=dict)
    seq: int = 0
    generation: str = field(default_factory=lambda: secrets.token_hex(4))


@dataclass
class Mailbox:
    address: str
    name: str
    folders: dict[str, Folder] = field(default_factory=dict)
    delegates: set[str] = field(default_factory=set)  # logins the owner gave access to the calendar
    # Where DeleteItem puts what it deletes (not calendar folders, so never listed as one):
    # MoveToDeletedItems -> the Deleted Items folder, SoftDelete -> the dumpster (Recoverable Items).
    deleted_items: dict[str, dict[str, Any]] = field(default_factory=dict)
    dumpster: dict[str, dict[str, Any]] = field(default_factory=dict)


DELETE_TYPES = ("HardDelete", "SoftDelete", "MoveToDeletedItems")
# SendMeetingInvitations (CreateItem) and SendMeetingCancellations (DeleteItem) take one set of values,
# SendMeetingInvitationsOrCancellations (UpdateItem) another.
# https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem
# https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem
CREATE_OR_DELETE_SENDING = ("SendToNone", "SendOnlyToAll", "SendToAllAndSaveCopy")
UPDATE_SENDING = (
    "SendToNone",
    "SendOnlyToAll",
    "SendOnlyToChanged",
    "SendToAllAndSaveCopy",
    "SendToChangedAndSaveCopy",
)


def _id(kind: str, owner: str) -> str:
    raw = f"{kind}:{owner}:{secrets.token_hex(8)}".encode()
    return "AAMk" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def owner_of(item_or_folder_id: str) -> str:
    try:
        raw = item_or_folder_id[4:]
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split(":")[1]
    except (ValueError, IndexError, UnicodeDecodeError):
        raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.") from None


def change_key() -> str:
    return "DwAAABYAAA" + secrets.token_urlsafe(12)


class State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.logins: dict[str, Login] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        # Faults that can be switched on: the next `busy` requests get ErrorServerBusy with this back-off.
        self.faults: dict[str, int] = {"busy": 0, "back_off_ms": 1000}
        self.requests = 0
        # Every meeting request and cancellation Exchange would have emailed, in the shape all emulators share:
        # {"method", "to", "organizer", "subject", "event_id", "ical_uid"}.
        self.sent_invitations: list[dict[str, str]] = []
        # The sandbox: every address in the organisation has a mailbox, made the first time someone reaches it.
        self.auto_mailboxes = False
        from .notifications import Notifications

        self.notifications = Notifications(self.lock)  # EWS subscriptions, told of every change below

    def _mail(self, method: str, item: dict[str, Any], people: list[str]) -> None:
        """Exchange sends meeting mail for the organiser only: an attendee's copy sends nothing."""
        organizer = item["organizer"][0]
        if organizer != owner_of(item["id"]):
            return
        for address in people:
            self.sent_invitations.append({"method": method, "to": address, "organizer": organizer,
                                          "subject": item["subject"], "event_id": item["id"],
                                          "ical_uid": item["uid"]})  # fmt: skip
        if method == "REQUEST" and people:
            item["request_sent"] = True

    # --- people -----------------------------------------------------------------------------------------

    def mailbox(self, address: str, name: str = "", password: str = "", username: str = "") -> Mailbox:
        """A mailbox with its default calendar; with a password, also a login for its owner."""
        address = address.lower()
        with self.lock:
            box = self.mailboxes.get(address)
            if box is None:
                box = self.mailboxes[address] = Mailbox(address, name or address.split("@")[0].title())
                self.add_folder(address, "Calendar", distinguished="calendar")
            if password:
                self.add_login(username or address, password, address)
            return box

    def add_login(self, username: str, password: str, address: str, impersonation: bool = False) -> Login:
        login = Login(username, password, address.lower(), impersonation)
        with self.lock:
            self.logins[username.lower()] = login
            if "@" in username:
                return login
            # Exchange also accepts the user principal name for a DOMAIN\user login.
            self.logins.setdefault(address.lower(), login)
        return login

    def add_folder(self, address: str, name: str, distinguished: str = "", writable: bool = True) -> Folder:
        with self.lock:
            box = self.mailboxes[address.lower()]
            folder = Folder(_id("folder", box.address), name, box.address, distinguished, writable)
            box.folders[folder.id] = folder
            return folder

    def authenticate(self, username: str, password: str) -> Login | None:
        login = self.logins.get(username.lower())
        if login is None or not secrets.compare_digest(login.password, password):
            return None
        return login

    def target(self, login: Login, impersonate: str | None, mailbox: str | None) -> str:
        """The mailbox a request acts on, after the access checks Exchange makes."""
        if impersonate:
            if not login.impersonation:
                raise EwsError(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                    fault=True,
                )
            if self.auto_mailboxes:
                self.mailbox(impersonate)
            if impersonate.lower() not in self.mailboxes:
                raise EwsError(
                    "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.", fault=True
                )
            return impersonate.lower()
        address = (mailbox or login.address).lower()
        if address not in self.mailboxes:
            raise EwsError("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
        if address != login.address and login.username.lower() not in self.mailboxes[address].delegates:
            raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return address

    def check_access(self, principal: str, login: Login, some_id: str) -> str:
        owner = owner_of(some_id)
        if owner != principal and login.username.lower() not in self.mailboxes.get(owner, Mailbox("", "")).delegates:
            raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return owner

    def check_faults(self) -> None:
        with self.lock:
            self.requests += 1
            if self.faults["busy"] > 0:
                self.faults["busy"] -= 1
                raise EwsError(
                    "ErrorServerBusy",
                    "The server cannot service this request right now. Try again later.",
                    fault=True,
                    back_off_ms=self.faults["back_off_ms"],
                )

    # --- folders and items ------------------------------------------------------------------------------

    def folder(self, address: str, folder_id: str | None = None, distinguished: str | None = None) -> Folder:
        box = self.mailboxes[address]
        for folder in box.folders.values():
            if folder.id == folder_id or (distinguished and folder.distinguished == distinguished):
                return folder
        raise EwsError("ErrorFolderNotFound", "The specified folder could not be found in the store.")

    def _folder_of(self, item_id: str) -> tuple[Folder, dict[str, Any]]:
        box = self.mailboxes.get(owner_of(item_id))
        for folder in box.folders.values() if box else ():
            if item_id in folder.items:
                return folder, folder.items[item_id]
            for master in folder.items.values():
                for exception in master["exceptions"].values():
                    if exception["id"] == item_id:
                        return folder, exception
        raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")

    def _touch(self, folder: Folder, item: dict[str, Any], created: bool = False) -> None:
        folder.seq += 1
        item["changekey"] = change_key()
        item["modified"] = datetime.now(UTC)
        first = folder.seq if created else folder.history[item["id"]][0]
        folder.history[item["id"]] = (first, folder.seq)
        self.notifications.record(folder.id, "CreatedEvent" if created else "ModifiedEvent", item["id"])

    def create(
        self, address: str, folder_id: str | None, fields: dict[str, Any], sending: str = "SendToNone"
    ) -> dict[str, Any]:
        """CreateItem of a calendar item: with attendees it is a meeting the mailbox organises, and unless
        `sending` is SendToNone each attendee gets a meeting request.
        https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-calendar-item"""
        with self.lock:
            folder = self.folder(address, folder_id, None if folder_id else "calendar")
            if not folder.writable:
                raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            if "start" not in fields or "end" not in fields:
                raise EwsError("ErrorSchemaValidation", "A calendar item needs a Start and an End.")
            item = {
                "subject": "",
                "body": "",
                "body_type": "Text",
                "categories": [],
                "location": "",
                "sensitivity": "Normal",
                "free_busy": "Busy",
                "is_all_day": False,
                "reminder_is_set": False,
                "reminder_minutes": 15,
                "required": [],
                "optional": [],
                "recurrence": None,
                "extended": {},
                "uid": "",
                "start_tz": "UTC",
                "end_tz": "",
                "organizer": (address, self.mailboxes[address].name),
                **fields,
                "id": _id("item", address),
                "exceptions": {},
                "deleted": [],
                "created": datetime.now(UTC),
                "request_sent": False,
            }
            item["uid"] = item["uid"] or secrets.token_hex(16)
            item["end_tz"] = item["end_tz"] or item["start_tz"]
            if item["end"] < item["start"]:
                raise EwsError("ErrorCalendarEndDateIsEarlierThanStartDate", "The end date is earlier than the start.")
            folder.items[item["id"]] = item
            self._touch(folder, item, created=True)
            if sending != "SendToNone":
                self._mail("REQUEST", item, _people(item))
            return item

    def get(self, principal: str, login: Login, item_id: str) -> dict[str, Any]:
        with self.lock:
            self.check_access(principal, login, item_id)
            return self._folder_of(item_id)[1]

    def occurrence(self, principal: str, login: Login, master_id: str, index: int) -> dict[str, Any]:
        """The index-th (1-based) occurrence of a series: its exception, or a generated occurrence."""
        with self.lock:
            master = self.get(principal, login, master_id)
            if not master.get("recurrence"):
                raise EwsError(
                    "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "This item is not a recurring master."
                )
            starts = self.starts(master, index)
            if index < 1 or len(starts) < index:
                raise EwsError(
                    "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                    "The occurrence index is out of the recurrence range.",
                )
            original = starts[index - 1].astimezone(UTC)  # keys of exceptions and deletions are in UTC
            key = original.isoformat()
            if key in master["deleted"]:
                raise EwsError(
                    "ErrorCalendarOccurrenceIsDeletedFromRecurrence", "The occurrence was deleted from the recurrence."
                )
            if key in master["exceptions"]:
                return master["exceptions"][key]
            length = master["end"] - master["start"]
            return {
                **master,
                "id": master["id"],
                "kind": "Occurrence",
                "original_start": original,
                "start": original,
                "end": original + length,
                "recurrence": None,
                "exceptions": {},
                "deleted": [],
                "master": master["id"],
                "index": index,
            }

    @staticmethod
    def starts(master: dict[str, Any], count: int) -> list[datetime]:
        """The first `count` occurrence starts of a series, per its pattern (deleted ones included)."""
        graph_like = {
            "recurrence": master["recurrence"],
            "start": _when(master["start"], master["start_tz"]),
            "end": _when(master["end"], master["start_tz"]),
        }
        return occurrences(graph_like, master["start"], master["start"] + timedelta(days=366 * 30), limit=count)

    def update(
        self,
        principal: str,
        login: Login,
        target: dict[str, Any],
        changes: dict[str, Any],
        deletions: set[str],
        change_key_sent: str | None,
        sending: str = "SendToNone",
    ) -> dict[str, Any]:
        """UpdateItem. For a meeting the mailbox organises, `sending` decides who hears of it: SendOnlyToAll and
        SendToAllAndSaveCopy send the update to every attendee, the *Changed values only to attendees the change
        affects (everyone when the meeting itself changed, else those added); removed attendees get a
        cancellation. https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem"""
        with self.lock:
            if change_key_sent is not None and change_key_sent != target.get("changekey"):
                raise EwsError(
                    "ErrorIrresolvableConflict",
                    "The send or update operation could not be performed because the change key passed in "
                    "the request does not match the current change key for the item.",
                )
            if target.get("kind") in ("Occurrence", "Exception") and "start" in changes:
                self._check_crossing(principal, login, target, changes["start"])
            if target.get("kind") == "Occurrence":  # the first change to an occurrence makes it an exception
                master = self.get(principal, login, target["master"])
                exception = {k: v for k, v in target.items() if k not in ("master", "index")}
                exception.update(kind="Exception", id=_id("item", owner_of(master["id"])), master_id=master["id"])
                master["exceptions"][target["original_start"].isoformat()] = exception
                target = exception
            before = _people(target)
            for name in deletions:
                if name.startswith("extended:"):
                    target["extended"].pop(name.removeprefix("extended:"), None)
                else:
                    target[name] = {"required": [], "optional": [], "categories": [], "extended": {}}.get(name, "")
            for name, value in changes.items():
                if name == "extended":
                    target["extended"] = {**target["extended"], **value}
                else:
                    target[name] = value
            if target["end"] < target["start"]:
                raise EwsError("ErrorCalendarEndDateIsEarlierThanStartDate", "The end date is earlier than the start.")
            folder, _ = self._folder_of(target.get("master_id") or target["id"])
            master = folder.items[target.get("master_id") or target["id"]]
            if target is not master:
                target["changekey"] = change_key()
            elif "recurrence" in changes or "start" in changes:
                master["exceptions"], master["deleted"] = {}, []  # a new pattern drops exceptions, as in Outlook
            self._touch(folder, master)
            if sending != "SendToNone":
                after = _people(target)
                meeting_changed = bool((set(changes) | deletions) - {"required", "optional"})
                everyone = "All" in sending or meeting_changed
                self._mail("REQUEST", target, [p for p in after if everyone or p not in before])
                self._mail("CANCEL", target, [p for p in before if p not in after])
            return target

    def _check_crossing(self, principal: str, login: Login, target: dict[str, Any], start: datetime) -> None:
        """Exchange keeps occurrences in order: one cannot move onto or past the day of its neighbours."""
        master = self.get(principal, login, target.get("master") or target["master_id"])
        starts = self.starts(master, 5000)
        position = starts.index(target["original_start"])
        zone = ZoneInfo(WINDOWS_TO_OLSON.get(master["start_tz"], master["start_tz"]) or "UTC")
        day = start.astimezone(zone).date()
        before = starts[position - 1].astimezone(zone).date() if position > 0 else None
        after = starts[position + 1].astimezone(zone).date() if position + 1 < len(starts) else None
        if (before is not None and day <= before) or (after is not None and day >= after):
            raise EwsError("ErrorOccurrenceCrossingBoundary", "An occurrence cannot be moved onto or past the day "
                           "of an adjacent occurrence.")  # fmt: skip

    def delete(
        self,
        principal: str,
        login: Login,
        item_id: str,
        index: int | None = None,
        how: str = "HardDelete",
        sending: str = "SendToNone",
    ) -> None:
        """DeleteItem. `how` is its DeleteType: HardDelete removes the item for good, MoveToDeletedItems moves it
        (under a new id) into Deleted Items, SoftDelete into the dumpster. An occurrence is removed from its series.
        https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/deleteitem-operation"""
        if how not in DELETE_TYPES:
            raise EwsError("ErrorSchemaValidation", f"The DeleteType attribute is invalid: {how!r}.")
        with self.lock:
            doomed = (
                self.get(principal, login, item_id)
                if index is None
                else self.occurrence(principal, login, item_id, index)
            )
            if how == "MoveToDeletedItems" and owner_of(item_id) != principal:
                # A delegate cannot move the principal's item to Deleted Items with DeleteItem (MoveItem does).
                raise EwsError("ErrorCannotDeleteObject", "The object cannot be deleted.")
            if sending != "SendToNone":
                self._mail("CANCEL", doomed, _people(doomed))
            if index is not None:
                occurrence = doomed
                master = self.get(principal, login, item_id)
                master["exceptions"].pop(occurrence["original_start"].isoformat(), None)
                master["deleted"].append(occurrence["original_start"].isoformat())
                folder, _ = self._folder_of(item_id)
                self._touch(folder, master)
                return
            self.check_access(principal, login, item_id)
            folder, item = self._folder_of(item_id)
            if item.get("kind") == "Exception":  # deleting an exception deletes that occurrence
                master = folder.items[item["master_id"]]
                key = item["original_start"].isoformat()
                del master["exceptions"][key]
                master["deleted"].append(key)
                self._touch(folder, master)
                return
            removed = folder.items.pop(item_id)
            folder.seq += 1
            folder.removed[item_id] = (folder.history.pop(item_id)[0], folder.seq)
            box = self.mailboxes[folder.owner]
            if how == "MoveToDeletedItems":
                moved = {**removed, "id": _id("item", folder.owner), "changekey": change_key()}
                box.deleted_items[moved["id"]] = moved
                self.notifications.record(_deleted_items_id(box.address), "MovedEvent", moved["id"], folder.id)
                return
            if how == "SoftDelete":
                box.dumpster[item_id] = removed
            self.notifications.record(folder.id, "DeletedEvent", item_id)

    def find(self, address: str, folder_id: str, key: str, value: str) -> list[dict[str, Any]]:
        with self.lock:
            folder = self.folder(address, folder_id)
            return [i for i in folder.items.values() if i["extended"].get(key) == value]

    # --- sync -------------------------------------------------------------------------------------------

    def sync(self, address: str, folder_id: str, state: str | None, limit: int) -> dict[str, Any]:
        """Changes to a folder's items since `state`: (kind, item id, item), the new state, and whether that is all."""
        with self.lock:
            folder = self.folder(address, folder_id)
            since = 0
            if state:
                data = _unpack(state)
                if data is None or data.get("f") != folder.id or data.get("g") != folder.generation:
                    raise EwsError(
                        "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."
                    )
                since = int(data["s"])
            changes: list[tuple[int, str, str]] = []
            for item_id, (first, last) in folder.history.items():
                if last > since:
                    changes.append((last, "Create" if first > since else "Update", item_id))
            for item_id, (first, last) in folder.removed.items():
                if last > since and first <= since:
                    changes.append((last, "Delete", item_id))
            changes.sort()
            page, rest = changes[:limit], changes[limit:]
            upto = page[-1][0] if rest else folder.seq
            return {
                "changes": [(kind, item_id, folder.items.get(item_id)) for _, kind, item_id in page],
                "state": _pack({"f": folder.id, "g": folder.generation, "s": upto}),
                "last": not rest,
            }

    def expire_sync_states(self) -> None:
        with self.lock:
            for box in self.mailboxes.values():
                for folder in box.folders.values():
                    folder.generation = secrets.token_hex(4)


def _deleted_items_id(address: str) -> str:
    return "AAMk" + base64.urlsafe_b64encode(f"deleteditems:{address}:0".encode()).decode().rstrip("=")


def _people(item: dict[str, Any]) -> list[str]:
    return [address for address, _name, _response in item["required"] + item["optional"]]


def _when(moment: datetime, zone_name: str) -> dict[str, str]:
    from emulators.microsoft.state import format_when

    return format_when(moment, zone_name)


def _pack(data: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


def _unpack(state: str) -> dict[str, Any] | None:
    try:
        data = json.loads(base64.b64decode(state, validate=True))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
