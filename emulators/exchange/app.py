"""The Exchange emulator's SOAP surface: the EWS operations calsync's exchangelib adapter uses.

GetFolder, FindFolder, SyncFolderItems, GetItem, FindItem, CreateItem, UpdateItem and DeleteItem, and the
notification operations (notifications.py: Subscribe, GetStreamingEvents, GetEvents, Unsubscribe). Requests
are read by element name in the EWS message and type namespaces; answers carry the shapes the EWS reference
documents. An unauthenticated request gets 401 with the schemes offered, which is how clients pick one.
"""

from __future__ import annotations

import base64
import threading
from typing import Any
from wsgiref.simple_server import make_server
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from emulators.http import Emulator, QuietHandler, Request, Response, ThreadingServer

from . import availability
from .items import (
    FIELD_FOR_URI,
    NS,
    VERSION,
    S,
    T,
    child_text,
    esc,
    extended_key,
    item_xml,
    m,
    read_fields,
    t,
)
from .state import CREATE_OR_DELETE_SENDING, UPDATE_SENDING, EwsError, Login, State

# --- the SOAP endpoint ----------------------------------------------------------------------------------


class ExchangeEmulator(Emulator):
    def __init__(self, state: State | None = None) -> None:
        self.state = state or State()

    def handle(self, request: Request) -> Response:
        if request.path == "/_emulator/faults" and request.method == "POST":
            data = request.json()
            with self.state.lock:
                self.state.faults.update({k: int(v) for k, v in data.items() if k in self.state.faults})
                if data.get("expire_sync_states"):
                    self.state.expire_sync_states()
            return Response.json(self.state.faults)
        if request.path == "/_emulator/notifications" and request.method == "POST":
            return Response.json(self.state.notifications.configure(request.json()))
        if request.path in ("/", "/sandbox") or request.path.startswith("/sandbox/"):
            from .sandbox import sandbox_page

            return sandbox_page(self.state, request)
        if request.path == "/_emulator/sent_invitations":
            # What Exchange would have emailed, for tests and the sandbox page; DELETE forgets it.
            with self.state.lock:
                if request.method == "DELETE":
                    self.state.sent_invitations.clear()
                return Response.json(list(self.state.sent_invitations))
        if request.path.rstrip("/").lower() != "/ews/exchange.asmx":
            return Response(404, "Not found", "text/plain")
        if request.method != "POST":
            return Response(405, "EWS takes SOAP requests over POST.", "text/plain", {"Allow": "POST"})
        login = self._login(request)
        if login is None:
            # Clients read the offered schemes from this answer; this emulator offers Basic over the loopback.
            return Response(401, "", "text/plain", {"WWW-Authenticate": 'Basic realm="calsync Exchange emulator"'})
        try:
            envelope = ElementTree.fromstring(request.body, forbid_dtd=True)
        except ElementTree.ParseError as exc:
            return _fault("ErrorSchemaValidation", f"The request failed schema validation: {exc}.")
        header, body = envelope.find(f"{{{S}}}Header"), envelope.find(f"{{{S}}}Body")
        if body is None or len(body) == 0:
            return _fault("ErrorSchemaValidation", "The request has no SOAP body.")
        operation = body[0]
        name = operation.tag.split("}")[1]
        try:
            self.state.check_faults()
            impersonate = None
            if header is not None:
                smtp = header.find(f"{t('ExchangeImpersonation')}/{t('ConnectingSID')}/{t('PrimarySmtpAddress')}")
                impersonate = smtp.text if smtp is not None else None
            principal = self.state.target(login, impersonate, None) if impersonate else login.address
            if name == "GetStreamingEvents":  # the one long-lived answer: streamed, one envelope per message
                return self._get_streaming_events(operation, login)
            if name == "GetUserAvailabilityRequest":  # the one operation named so; its answer has no ResponseMessages
                return _envelope(availability.answer(self.state, operation, login))
            handler = getattr(self, f"_op_{name}", None)
            if handler is None:
                raise EwsError("ErrorInvalidRequest", f"The operation {name} is not offered by this emulator.", True)
            messages = handler(operation, login, principal)
        except EwsError as exc:
            if exc.fault:
                return _fault(exc.code, exc.text, exc.back_off_ms)
            messages = [_error_message(name, exc)]
        return _envelope(
            f"<m:{name}Response><m:ResponseMessages>{''.join(messages)}</m:ResponseMessages></m:{name}Response>"
        )

    def _login(self, request: Request) -> Login | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(token).decode().partition(":")
        except ValueError:
            return None
        return self.state.authenticate(username, password)

    # --- folders ------------------------------------------------------------------------------------

    def _folder_ids(self, ids: Element | None, login: Login, principal: str) -> list[tuple[str, str]]:
        """(mailbox, folder id) for each FolderId / DistinguishedFolderId."""
        found = []
        for elem in ids if ids is not None else ():
            if elem.tag == t("FolderId"):
                owner = self.state.check_access(principal, login, elem.get("Id", ""))
                found.append((owner, elem.get("Id", "")))
            elif elem.tag == t("DistinguishedFolderId"):
                box = elem.find(f"{t('Mailbox')}/{t('EmailAddress')}")
                address = (
                    self.state.target(login, None, box.text) if box is not None and box.text != principal else principal
                )
                which = elem.get("Id", "")
                if which == "root":
                    found.append((address, "root"))
                else:
                    found.append((address, self.state.folder(address, distinguished=which).id))
        return found

    def _folder_xml(self, address: str, folder_id: str) -> str:
        if folder_id == "root":
            return (
                f'<t:Folder><t:FolderId Id="{esc(_root_id(address))}" ChangeKey="AQAAAA=="/>'
                "<t:DisplayName>Root</t:DisplayName><t:TotalCount>0</t:TotalCount>"
                "<t:ChildFolderCount>1</t:ChildFolderCount></t:Folder>"
            )
        folder = self.state.folder(address, folder_id)
        parent = self.state.folder(address, distinguished="calendar")
        rights = str(folder.writable).lower()
        return (
            f'<t:CalendarFolder><t:FolderId Id="{esc(folder.id)}" ChangeKey="AgAAAA=="/>'
            f'<t:ParentFolderId Id="{esc(parent.id if folder is not parent else _root_id(address))}"/>'
            f"<t:FolderClass>IPF.Appointment</t:FolderClass><t:DisplayName>{esc(folder.name)}</t:DisplayName>"
            f"<t:TotalCount>{len(folder.items)}</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount>"
            f"<t:EffectiveRights><t:CreateAssociated>{rights}</t:CreateAssociated><t:CreateContents>{rights}"
            f"</t:CreateContents><t:CreateHierarchy>{rights}</t:CreateHierarchy><t:Delete>{rights}</t:Delete>"
            f"<t:Modify>{rights}</t:Modify><t:Read>true</t:Read><t:ViewPrivateItems>true</t:ViewPrivateItems>"
            "</t:EffectiveRights></t:CalendarFolder>"
        )

    def _op_GetFolder(self, op: Element, login: Login, principal: str) -> list[str]:
        messages = []
        for elem in op.find(m("FolderIds")) or []:
            try:
                ((address, folder_id),) = self._folder_ids([elem], login, principal)  # type: ignore[arg-type]
                messages.append(_ok("GetFolder", f"<m:Folders>{self._folder_xml(address, folder_id)}</m:Folders>"))
            except EwsError as exc:
                if exc.fault:
                    raise
                messages.append(_error_message("GetFolder", exc))
        return messages

    def _op_FindFolder(self, op: Element, login: Login, principal: str) -> list[str]:
        messages = []
        for address, folder_id in self._folder_ids(op.find(m("ParentFolderIds")), login, principal):
            default = self.state.folder(address, distinguished="calendar")
            if folder_id == "root":
                children = list(self.state.mailboxes[address].folders.values())
                if op.get("Traversal") != "Deep":
                    children = [default]
            elif folder_id == default.id:
                children = [f for f in self.state.mailboxes[address].folders.values() if f is not default]
            else:
                children = []
            body = "".join(self._folder_xml(address, f.id) for f in children)
            messages.append(
                _ok(
                    "FindFolder",
                    f'<m:RootFolder TotalItemsInView="{len(children)}" '
                    f'IncludesLastItemInRange="true"><t:Folders>{body}</t:Folders></m:RootFolder>',
                )
            )
        return messages

    # --- notifications (emulators/exchange/notifications.py) ----------------------------------------------

    def _op_Subscribe(self, op: Element, login: Login, principal: str) -> list[str]:
        request = op[0] if len(op) else None
        if request is None:
            raise EwsError("ErrorSchemaValidation", "Subscribe needs a subscription request.", fault=True)
        folders = [folder_id for _, folder_id in self._folder_ids(request.find(t("FolderIds")), login, principal)]
        return [_ok("Subscribe", self.state.notifications.subscribe(request, login.username.lower(), folders))]

    def _op_Unsubscribe(self, op: Element, login: Login, principal: str) -> list[str]:
        self.state.notifications.unsubscribe(op.findtext(m("SubscriptionId")) or "", login.username.lower())
        return [_ok("Unsubscribe", "")]

    def _op_GetEvents(self, op: Element, login: Login, principal: str) -> list[str]:
        sub_id, watermark = op.findtext(m("SubscriptionId")) or "", op.findtext(m("Watermark")) or ""
        return [_ok("GetEvents", self.state.notifications.get_events(sub_id, watermark, login.username.lower()))]

    def _get_streaming_events(self, op: Element, login: Login) -> Response:
        sub_ids = [e.text or "" for e in op.iter(t("SubscriptionId"))]
        minutes_text = (op.findtext(m("ConnectionTimeout")) or "").strip()
        minutes = int(minutes_text) if minutes_text.isdigit() else 0
        parts = self.state.notifications.stream(sub_ids, minutes, login.username.lower())
        return Response.streamed(200, parts, "text/xml; charset=utf-8")

    # --- items ----------------------------------------------------------------------------------------

    @staticmethod
    def _shape(op: Element) -> tuple[bool, list[Element]]:
        shape = op.find(m("ItemShape"))
        base = child_text(shape, "BaseShape", "IdOnly")
        extra = shape.find(t("AdditionalProperties")) if shape is not None else None
        extended = list(extra.iter(t("ExtendedFieldURI"))) if extra is not None else []
        return base == "IdOnly" and (extra is None or len(extra) == 0), extended

    def _op_SyncFolderItems(self, op: Element, login: Login, principal: str) -> list[str]:
        ((address, folder_id),) = self._folder_ids(op.find(m("SyncFolderId")), login, principal)
        state_elem = op.find(m("SyncState"))
        # Required, an integer from 1 to 512 in Types.xsd: anything else fails schema validation.
        # https://learn.microsoft.com/exchange/client-developer/web-service-reference/maxchangesreturned
        limit_text = (op.findtext(m("MaxChangesReturned")) or "").strip()
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 512:
            raise EwsError("ErrorSchemaValidation", "MaxChangesReturned must be between 1 and 512.", fault=True)
        limit = int(limit_text)
        ids_only, extended = self._shape(op)
        answer = self.state.sync(address, folder_id, state_elem.text if state_elem is not None else None, limit)
        changes = []
        for kind, item_id, item in answer["changes"]:
            if kind == "Delete":
                changes.append(f'<t:Delete><t:ItemId Id="{esc(item_id)}"/></t:Delete>')
            else:
                changes.append(f"<t:{kind}>{item_xml(item, extended, ids_only)}</t:{kind}>")
        return [
            _ok(
                "SyncFolderItems",
                f"<m:SyncState>{answer['state']}</m:SyncState><m:IncludesLastItemInRange>"
                f"{str(answer['last']).lower()}</m:IncludesLastItemInRange><m:Changes>{''.join(changes)}"
                "</m:Changes>",
            )
        ]

    def _target(self, elem: Element, login: Login, principal: str) -> dict[str, Any]:
        if elem.tag == t("OccurrenceItemId"):
            return self.state.occurrence(
                principal, login, elem.get("RecurringMasterId", ""), int(elem.get("InstanceIndex", "0"))
            )
        if elem.tag == t("ItemId"):
            return self.state.get(principal, login, elem.get("Id", ""))
        raise EwsError("ErrorInvalidRequest", f"{elem.tag.split('}')[1]} is not offered by this emulator.")

    def _op_GetItem(self, op: Element, login: Login, principal: str) -> list[str]:
        ids_only, extended = self._shape(op)
        messages = []
        for elem in op.find(m("ItemIds")) or []:
            try:
                item = self._target(elem, login, principal)
                messages.append(_ok("GetItem", f"<m:Items>{item_xml(item, extended, ids_only)}</m:Items>"))
            except EwsError as exc:
                messages.append(_error_message("GetItem", exc))
        return messages

    def _op_FindItem(self, op: Element, login: Login, principal: str) -> list[str]:
        ids_only, extended = self._shape(op)
        equal = op.find(f"{m('Restriction')}/{t('IsEqualTo')}")
        uri = equal.find(t("ExtendedFieldURI")) if equal is not None else None
        constant = equal.find(f"{t('FieldURIOrConstant')}/{t('Constant')}") if equal is not None else None
        if uri is None or constant is None:
            raise EwsError("ErrorUnsupportedQueryFilter", "This emulator filters on one extended property only.")
        messages = []
        for address, folder_id in self._folder_ids(op.find(m("ParentFolderIds")), login, principal):
            found = self.state.find(address, folder_id, extended_key(uri), constant.get("Value", ""))
            body = "".join(item_xml(i, extended, ids_only) for i in found)
            messages.append(
                _ok(
                    "FindItem",
                    f'<m:RootFolder TotalItemsInView="{len(found)}" '
                    f'IncludesLastItemInRange="true"><t:Items>{body}</t:Items></m:RootFolder>',
                )
            )
        return messages

    def _op_CreateItem(self, op: Element, login: Login, principal: str) -> list[str]:
        target = op.find(m("SavedItemFolderId"))
        address, folder_id = (self._folder_ids(target, login, principal) or [(principal, "")])[0]
        sending = _sending(op, "SendMeetingInvitations", CREATE_OR_DELETE_SENDING)
        if sending is None:  # required for calendar items (the createitem page)
            raise EwsError(
                "ErrorSendMeetingInvitationsRequired", "SendMeetingInvitations is required for calendar items."
            )
        messages = []
        for elem in op.find(m("Items")) or []:
            if elem.tag != t("CalendarItem"):
                messages.append(
                    _error_message(
                        "CreateItem", EwsError("ErrorInvalidItemForOperation", "Only calendar items are offered here.")
                    )
                )
                continue
            try:
                item = self.state.create(address, folder_id or None, read_fields(elem), sending)
                messages.append(_ok("CreateItem", f"<m:Items>{item_xml(item, [], True)}</m:Items>"))
            except EwsError as exc:
                messages.append(_error_message("CreateItem", exc))
        return messages

    def _op_UpdateItem(self, op: Element, login: Login, principal: str) -> list[str]:
        check = op.get("ConflictResolution", "AutoResolve") == "NeverOverwrite"
        sending = _sending(op, "SendMeetingInvitationsOrCancellations", UPDATE_SENDING)
        messages = []
        for change in op.find(m("ItemChanges")) or []:
            try:
                if sending is None:  # every item here is a calendar item: required (the updateitem page)
                    raise EwsError("ErrorSendMeetingInvitationsOrCancellationsRequired",
                                   "SendMeetingInvitationsOrCancellations is required for calendar items.")  # fmt: skip
                id_elem = change[0]
                target = self._target(id_elem, login, principal)
                changes: dict[str, Any] = {}
                deletions: set[str] = set()
                for update in change.find(t("Updates")) or []:
                    kind = update.tag.split("}")[1]
                    field_uri = update.find(t("FieldURI"))
                    name = FIELD_FOR_URI.get(field_uri.get("FieldURI", "")) if field_uri is not None else None
                    extended_uri = update.find(t("ExtendedFieldURI"))
                    if extended_uri is not None:  # one extended property: deleting it leaves the others
                        name = "extended"
                        if kind == "DeleteItemField":
                            name = "extended:" + extended_key(extended_uri)
                    if name is None:
                        continue  # a property the emulator does not keep
                    if kind == "DeleteItemField":
                        deletions.add(name)
                        continue
                    values = read_fields(update.find(t("CalendarItem")))  # type: ignore[arg-type]
                    if name in values:
                        changes[name] = values[name]
                    if name == "body":  # the body comes with its type (Text or HTML)
                        changes["body_type"] = values.get("body_type", "Text")
                sent_key = id_elem.get("ChangeKey") if check and id_elem.tag == t("ItemId") else None
                updated = self.state.update(principal, login, target, changes, deletions, sent_key, sending)
                messages.append(
                    _ok(
                        "UpdateItem",
                        f"<m:Items>{item_xml(updated, [], True)}</m:Items>"
                        "<m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>",
                    )
                )
            except EwsError as exc:
                messages.append(_error_message("UpdateItem", exc))
        return messages

    def _op_DeleteItem(self, op: Element, login: Login, principal: str) -> list[str]:
        messages = []
        how = op.get("DeleteType", "")
        sending = _sending(op, "SendMeetingCancellations", CREATE_OR_DELETE_SENDING)
        for elem in op.find(m("ItemIds")) or []:
            try:
                if sending is None:  # every item here is a calendar item: required (the deleteitem page)
                    raise EwsError("ErrorSendMeetingCancellationsRequired",
                                   "SendMeetingCancellations is required for calendar items.")  # fmt: skip
                if elem.tag == t("OccurrenceItemId"):
                    master, index = elem.get("RecurringMasterId", ""), int(elem.get("InstanceIndex", "0"))
                    self.state.delete(principal, login, master, index, how, sending)
                else:
                    self.state.delete(principal, login, elem.get("Id", ""), how=how, sending=sending)
                messages.append(_ok("DeleteItem", ""))
            except EwsError as exc:
                messages.append(_error_message("DeleteItem", exc))
        return messages


def _sending(op: Element, attribute: str, allowed: tuple[str, ...]) -> str | None:
    """The operation's SendMeeting* attribute; a value outside the schema's enumeration fails validation."""
    value = op.get(attribute)
    if value is not None and value not in allowed:
        raise EwsError("ErrorSchemaValidation", f"The {attribute} attribute is invalid: {value!r}.", fault=True)
    return value


def _root_id(address: str) -> str:
    return "AAMk" + base64.urlsafe_b64encode(f"root:{address}:0".encode()).decode().rstrip("=")


def _ok(name: str, content: str) -> str:
    return (
        f'<m:{name}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>{content}'
        f"</m:{name}ResponseMessage>"
    )


def _error_message(name: str, exc: EwsError) -> str:
    # A SyncFolderItems answer carries its (empty) sync state even when it fails, as the schema has it.
    extra = (
        "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>" if name.startswith("Sync") else ""
    )
    return (
        f'<m:{name}ResponseMessage ResponseClass="Error"><m:MessageText>{esc(exc.text)}</m:MessageText>'
        f"<m:ResponseCode>{exc.code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{extra}"
        f"</m:{name}ResponseMessage>"
    )


def _envelope(body: str) -> Response:
    text = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {NS}><s:Header>{VERSION}</s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )
    return Response(200, text, "text/xml; charset=utf-8")


def _fault(code: str, text: str, back_off_ms: int = 0) -> Response:
    extra = ""
    if back_off_ms:
        extra = f'<t:MessageXml><t:Value Name="BackOffMilliseconds">{back_off_ms}</t:Value></t:MessageXml>'
    body = (
        f'<s:Fault><faultcode xmlns:a="{T}">a:{code}</faultcode><faultstring xml:lang="en-US">{esc(text)}'
        f'</faultstring><detail><e:ResponseCode xmlns:e="{T[:-5]}errors">{code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{T[:-5]}errors">{esc(text)}</e:Message>{extra}</detail></s:Fault>'
    )
    text_out = f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {NS}><s:Body>{body}</s:Body></s:Envelope>'
    return Response(500, text_out, "text/xml; charset=utf-8")


def serve(
    host: str = "127.0.0.1", port: int = 0, state: State | None = None
) -> tuple[ExchangeEmulator, ThreadingServer, str]:
    """Start the emulator in a thread; returns it, its server and its EWS URL."""
    app = ExchangeEmulator(state)
    server = make_server(host, port, app, server_class=ThreadingServer, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, server, f"http://{host}:{server.server_port}/EWS/Exchange.asmx"  # type: ignore[return-value]
