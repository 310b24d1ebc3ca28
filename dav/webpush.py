"""Web Push message encryption (RFC 8291, over the aes128gcm content coding of RFC 8188).

WebDAV-Push requires it for the Web Push transport: the push service between calsync and the client only sees
ciphertext. Each message gets a fresh server key pair and salt; the client's public key and auth secret come
from its registration.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RECORD_SIZE = 4096  # one record holds any push message calsync sends (they are a few hundred bytes)
_TAG = 16  # AES-GCM tag
_LAST_RECORD = b"\x02"  # RFC 8188 2: the padding delimiter of the last record
# RFC 8291 4: the whole body (86-byte header, one record) fits in 4,096 bytes, so at most 3,993 bytes of message.
MAX_PLAINTEXT = 3993
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class InvalidKey(ValueError):
    """A client key or auth secret that is not what RFC 8291 requires; the message says which."""


def b64url_decode(text: str, *, limit: int = 200) -> bytes:
    """Strict base64url (RFC 4648 5), padding optional: any other character, or more than `limit` characters,
    is refused rather than skipped."""
    text = text.strip()
    if len(text) > limit or not _B64URL.fullmatch(text):
        raise InvalidKey("not base64url")
    text = text.rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidKey("not base64url") from exc


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def client_key(text: str) -> bytes:
    """The client's P-256 public key (uncompressed point, 65 bytes), checked to be on the curve."""
    raw = b64url_decode(text)
    if len(raw) != 65 or raw[0] != 4:
        raise InvalidKey("The client public key must be an uncompressed P-256 point (65 bytes), base64url.")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError as exc:
        raise InvalidKey("The client public key is not a point on P-256.") from exc
    return raw


def auth_secret(text: str) -> bytes:
    raw = b64url_decode(text)
    if len(raw) != 16:
        raise InvalidKey("The auth secret must be 16 bytes, base64url.")
    return raw


def _hkdf(salt: bytes, info: bytes, length: int, secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def encrypt(plaintext: bytes, *, client_public: bytes, secret: bytes) -> bytes:
    """The aes128gcm body of a push message to the client with this public key and auth secret (RFC 8291 3.4)."""
    server_private = ec.generate_private_key(ec.SECP256R1())
    server_public = server_private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    shared = server_private.exchange(
        ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), client_public)
    )
    ikm = _hkdf(secret, b"WebPush: info\x00" + client_public + server_public, 32, shared)
    salt = os.urandom(16)
    cek = _hkdf(salt, b"Content-Encoding: aes128gcm\x00", 16, ikm)
    nonce = _hkdf(salt, b"Content-Encoding: nonce\x00", 12, ikm)
    if len(plaintext) > MAX_PLAINTEXT:
        raise ValueError(f"A push message must be at most {MAX_PLAINTEXT} bytes (RFC 8291 4).")
    ciphertext = AESGCM(cek).encrypt(nonce, plaintext + _LAST_RECORD, None)
    header = salt + RECORD_SIZE.to_bytes(4, "big") + bytes([len(server_public)]) + server_public
    return header + ciphertext
