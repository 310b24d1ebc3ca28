"""Server addresses people type into connection forms ('caldav.icloud.com', 'https://mail.example.com/EWS')."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from django.conf import settings


def server_address(text: str, *, allow_http: bool, example: str) -> SplitResult:
    """The address as a URL (no scheme means HTTPS); ValueError with a message for the form otherwise."""
    text = text.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Enter the server address, e.g. {example}")
    if parts.username or parts.password:
        raise ValueError("Leave the username and password out of the address; enter them in their own fields.")
    if parts.scheme == "http" and not allow_http:
        raise ValueError("Use an https:// address: over http the password would travel unencrypted.")
    return parts


class Unresolvable(ValueError):
    """The server's name does not resolve."""


def check_public_address(url: str) -> None:
    """Refuse servers inside calsync's own network, so connection forms cannot probe it (SSRF); ValueError says
    why. Checked when a server is entered and again before each sync, since a name can change where it points.
    `CALDAV_ALLOW_PRIVATE_ADDRESSES` lifts it (development, and servers on the same network on purpose)."""
    if settings.CALDAV_ALLOW_PRIVATE_ADDRESSES:
        return
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise Unresolvable(f"The server name {host} does not resolve. Check the address.") from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            raise ValueError("calsync cannot connect to addresses inside its own network.")
