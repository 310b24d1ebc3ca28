"""Server addresses people type into connection forms ('caldav.icloud.com', 'https://mail.example.com/EWS')."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit


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
