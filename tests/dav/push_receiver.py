"""A Web Push user agent for tests: a local push resource that records what is POSTed to it, and the key pair and
auth secret a client registers with, to decrypt the messages (RFC 8291) the way a real client would."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dav.webpush import b64url


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushReceiver:
    status: int = 201
    received: list[Received] = field(default_factory=list)
    private: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    secret: bytes = field(default_factory=lambda: os.urandom(16))
    server: ThreadingHTTPServer | None = None

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/push/abc"

    def register_body(self, url: str | None = None, *, key: str | None = None, auth: str | None = None,
                      trigger: bool = True, expires: str = "") -> str:  # fmt: skip
        key = key if key is not None else b64url(self.public)
        auth = auth if auth is not None else b64url(self.secret)
        content = "<P:trigger><P:content-update><D:sync-level>1</D:sync-level></P:content-update></P:trigger>"
        return (
            '<?xml version="1.0" encoding="utf-8"?><P:push-register xmlns:D="DAV:" '
            'xmlns:P="https://bitfire.at/webdav-push"><P:subscription><P:web-push-subscription>'
            f"<P:push-resource>{url or self.url}</P:push-resource>"
            f'<P:client-public-key type="p256dh">{key}</P:client-public-key>'
            f"<P:auth-secret>{auth}</P:auth-secret>"
            f"</P:web-push-subscription></P:subscription>{content if trigger else ''}"
            f"{f'<P:expires>{expires}</P:expires>' if expires else ''}</P:push-register>"
        )

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8291 3.4 / RFC 8188 2.1, from the user agent's side."""
        salt, record_size, key_length = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        server_public = body[21 : 21 + key_length]
        ciphertext = body[21 + key_length :]
        assert record_size >= len(ciphertext)
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_public)
        shared = self.private.exchange(ec.ECDH(), peer)
        ikm = _hkdf(self.secret, b"WebPush: info\x00" + self.public + server_public, 32, shared)
        cek = _hkdf(salt, b"Content-Encoding: aes128gcm\x00", 16, ikm)
        nonce = _hkdf(salt, b"Content-Encoding: nonce\x00", 12, ikm)
        plain = AESGCM(cek).decrypt(nonce, ciphertext, None)
        assert plain.endswith(b"\x02"), "the last record ends with its padding delimiter"
        return plain[:-1]

    def __enter__(self) -> PushReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


def _hkdf(salt: bytes, info: bytes, length: int, secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


class EndlessAnswer:
    """A push service that accepts (201), sends a little of a body a gigabyte long and stalls: calsync must not
    read it (a reader would wait for the rest until its timeout and count the message lost).
    `with EndlessAnswer() as url:`."""

    def __enter__(self) -> str:
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/push/endless"

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            connection, _ = self.listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 1000000000\r\n\r\n")
                connection.sendall(b"x" * 1024)
                self.stop.wait(30)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.listener.close()
