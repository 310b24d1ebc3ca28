"""WebDAV XML: safe parsing of request bodies and a streaming multistatus writer.

Bodies are parsed with defusedxml with DTDs forbidden outright, so entity
expansion ("billion laughs") and external entities never get a chance.
Responses are written as text with fixed prefixes for the namespaces CalDAV
clients expect; one <response> at a time, so a 10,000-item listing streams.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from xml.etree.ElementTree import Element, ParseError, SubElement
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.http import HttpResponse, StreamingHttpResponse

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
ICAL = "http://apple.com/ns/ical/"
CALSYNC = "urn:calsync:dav"
PUSH = "https://bitfire.at/webdav-push"  # draft-bitfire-webdav-push

PREFIXES = {DAV: "D", CALDAV: "C", CS: "CS", ICAL: "ICAL", CALSYNC: "CALSYNC", PUSH: "P"}
_QUOTE = {'"': "&quot;"}
_DECLARATIONS = " ".join(f'xmlns:{prefix}="{uri}"' for uri, prefix in PREFIXES.items())


def tag(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def split(qualified: str) -> tuple[str, str]:
    if qualified.startswith("{"):
        namespace, _, name = qualified[1:].partition("}")
        return namespace, name
    return "", qualified


# No WebDAV or CalDAV request nests deeper than a dozen levels (a calendar-query filter is the deepest);
# everything that walks a tree recursively (rendering a dead property, matching a filter) relies on this.
MAX_DEPTH = 64


class BadRequest(Exception):
    """A body that is not acceptable XML; the message says why, for the client's log."""


def parse(body: bytes) -> Element | None:
    """The body's root element, or None for an empty body."""
    if not body.strip():
        return None
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BadRequest("XML with a DTD or entity declarations is not accepted.") from exc
    except ParseError as exc:
        raise BadRequest(f"The request body is not well-formed XML ({exc}).") from exc
    _check_depth(root)
    return root


def _check_depth(root: Element) -> None:
    """Refuse elements nested deeper than MAX_DEPTH; walked with a stack, so the check itself cannot recurse."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"The request body nests elements more than {MAX_DEPTH} levels deep.")
        stack.extend((child, depth + 1) for child in node)


def element(qualified: str, text: str | None = None, children: Iterable[Element] = ()) -> Element:
    node = Element(qualified)
    if text is not None:
        node.text = text
    node.extend(children)
    return node


def sub(parent: Element, qualified: str, text: str | None = None) -> Element:
    node = SubElement(parent, qualified)
    if text is not None:
        node.text = text
    return node


def render(node: Element, declared: dict[str, str] | None = None, *, root: bool = False) -> str:
    """Serialise with the fixed prefixes; namespaces outside them are declared where used."""
    declared = declared if declared is not None else {}
    namespace, name = split(node.tag)
    attrs = f" {_DECLARATIONS}" if root else ""
    if namespace in PREFIXES:
        qualified = f"{PREFIXES[namespace]}:{name}"
        inner = declared
    elif namespace == "":
        qualified, inner = name, declared
    elif namespace in declared:
        qualified, inner = f"{declared[namespace]}:{name}", declared
    else:
        prefix = f"x{len(declared)}"
        inner = {**declared, namespace: prefix}
        qualified = f"{prefix}:{name}"
        attrs += f' xmlns:{prefix}="{escape(namespace, _QUOTE)}"'
    for key, value in node.attrib.items():
        attrs += f' {split(key)[1]}="{escape(value, _QUOTE)}"'
    body = escape(node.text) if node.text else ""
    body += "".join(render(child, inner) for child in node)
    if not body:
        return f"<{qualified}{attrs}/>"
    return f"<{qualified}{attrs}>{body}</{qualified}>"


def document(node: Element) -> str:
    """A whole XML document whose root declares the fixed prefixes."""
    return f'<?xml version="1.0" encoding="utf-8"?>\n{render(node, root=True)}'


_STATUS_TEXT = {200: "OK", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 424: "Failed Dependency",
                507: "Insufficient Storage"}  # fmt: skip


def status_line(code: int) -> str:
    return f"HTTP/1.1 {code} {_STATUS_TEXT.get(code, '')}".rstrip()


def response(
    href: str, propstats: Iterable[tuple[int, list[Element]]] = (), status: int | None = None, error: str = ""
) -> str:
    """One <D:response>: either per-property statuses, or one status (and the condition it breaks) for the resource."""
    parts = [f"<D:response><D:href>{escape(href)}</D:href>"]
    if status is not None:
        parts.append(f"<D:status>{status_line(status)}</D:status>")
    if error:
        parts.append(f"<D:error>{render(element(error))}</D:error>")
    for code, props in propstats:
        if props:
            inner = "".join(render(p) for p in props)
            parts.append(f"<D:propstat><D:prop>{inner}</D:prop><D:status>{status_line(code)}</D:status></D:propstat>")
    parts.append("</D:response>")
    return "".join(parts)


def multistatus(responses: Iterable[str], extra: Iterable[str] = ()) -> StreamingHttpResponse:
    """207 Multi-Status, streamed; `extra` is written after the responses (a sync-token)."""

    def chunks() -> Iterator[bytes]:
        yield f'<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus {_DECLARATIONS}>'.encode()
        batch: list[str] = []
        for part in responses:
            batch.append(part)
            if len(batch) >= 200:
                yield "".join(batch).encode()
                batch = []
        batch.extend(extra)
        batch.append("</D:multistatus>")
        yield "".join(batch).encode()

    return StreamingHttpResponse(chunks(), status=207, content_type="application/xml; charset=utf-8")


def error(status: int, condition: str | None, message: str) -> HttpResponse:
    """An error response with a WebDAV precondition element (RFC 4918 16) and a human-readable message."""
    root = Element(tag(DAV, "error"))
    if condition is not None:
        SubElement(root, condition)
    sub(root, tag(CALSYNC, "message"), message)
    return HttpResponse(document(root), status=status, content_type="application/xml; charset=utf-8")
