"""What the emulators share: a small WSGI request/response pair, a threaded quiet server, HTML pages."""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

log = logging.getLogger(__name__)

_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 302: "Found", 400: "Bad Request",
            401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 410: "Gone",
            412: "Precondition Failed", 429: "Too Many Requests", 503: "Service Unavailable"}  # fmt: skip


class Request:
    def __init__(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method.upper(), path, headers, body
        self.lists = parse_qs(query, keep_blank_values=True)  # every value of a repeated parameter
        self.query = {k: v[-1] for k, v in self.lists.items()}

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8")
        return cls(environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""), headers, body)

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            raise ValueError("not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data

    def form(self) -> dict[str, str]:
        fields = {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}
        return {**self.query, **fields}


class Response:
    def __init__(self, status: int, body: bytes | str = b"", content_type: str = "application/json; charset=UTF-8",
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.status, self.content_type = status, content_type
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = headers or {}
        self.stream: Iterable[bytes] | None = None  # a body written piece by piece as it is produced

    @classmethod
    def streamed(cls, status: int, parts: Iterable[bytes], content_type: str) -> Response:
        """A long-lived answer (EWS GetStreamingEvents): each part is sent and flushed as the iterator yields it;
        without a Content-Length the end of the body is the end of the connection."""
        response = cls(status, b"", content_type)
        response.stream = parts
        return response

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(data), headers=headers)

    def status_line(self) -> str:
        return f"{self.status} {_REASONS.get(self.status, 'Unknown')}"


def redirect(url: str, params: dict[str, str]) -> Response:
    separator = "&" if "?" in url else "?"
    return Response(302, b"", "text/plain", {"Location": f"{url}{separator}{urlencode(params)}"})


class Emulator:
    """A WSGI app around `handle(Request) -> Response`, which each emulator writes."""

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = self.handle(Request.from_environ(environ))
        start_response(response.status_line(), [("Content-Type", response.content_type), *response.headers.items()])
        return response.stream if response.stream is not None else [response.body]


def page(title: str, body: str, provider: str = "Google") -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}}
.sandbox{{background:#fff4ce;border:2px solid #e0a800;padding:.6rem 1rem;border-radius:.4rem}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}}</style>
</head><body><p class="sandbox" role="note"><strong>SANDBOX.</strong> This is calsync's local {provider} emulator, not
{provider}. Nothing here reaches a real {provider} account.</p><h1>{html.escape(title)}</h1>{body}</body></html>"""


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("emulator: " + format, *args)
