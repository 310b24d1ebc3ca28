"""Server addresses people type into connection forms ('caldav.icloud.com', 'https://mail.example.com/EWS'), and
the one outbound guard every request to such a server goes through.

The guard works where the HTTP library turns a name into a socket: `GuardedResolver` resolves the name once,
refuses unless every address is public (or in `OUTBOUND_ALLOWED_NETWORKS`), and hands the library exactly the
addresses it checked, so the connection goes there and nowhere else (a name that points elsewhere by the next
lookup, DNS rebinding, gains nothing); TLS is still verified against the name. The adapters below put it under
the sessions of the caldav library (niquests) and exchangelib (requests), so every request and every redirect
hop passes it. The CalDAV adapter also keeps each request on the site of the server the user entered.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import Any
from urllib.parse import SplitResult, urlsplit

import niquests.adapters
from django.conf import settings
from urllib3.contrib.resolver import BaseResolver, ProtocolResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits


def server_address(
    text: str, *, allow_http: bool, example: str, what: str = "server", userinfo: bool = False
) -> SplitResult:
    """The address as a URL (no scheme means HTTPS); ValueError with a message for the form otherwise. A username
    and password in it are refused unless `userinfo` (a feed's address may carry them)."""
    text = text.strip()
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != -1
    except ValueError:  # an unclosed [IPv6 literal, a port that is no number or out of range
        usable = False
    if not usable or any(c.isspace() for c in parts.netloc):
        raise ValueError(f"Enter the {what} address, e.g. {example}")
    if (parts.username or parts.password) and not userinfo:
        raise ValueError("Leave the username and password out of the address; enter them in their own fields.")
    if parts.scheme == "http" and not allow_http:
        raise ValueError("Use an https:// address: over http the password would travel unencrypted.")
    return parts


class Unresolvable(ValueError):
    """The server's name does not resolve."""


class AddressRefused(ValueError):
    """calsync will not connect there; the message says why, for the user. Not an OSError, so that the HTTP
    libraries pass it up as it is instead of retrying it or hiding it in a connection error."""


# --- which addresses ------------------------------------------------------------------------------------------


def lookup(host: str, port: int | str | None, family: int = 0, kind: int = socket.SOCK_STREAM) -> list[Any]:
    """The guard's one name lookup (tests stub it here)."""
    return socket.getaddrinfo(host, port, family, kind)


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries to the same host: mapped, 6to4, Teredo, NAT64."""
    if isinstance(ip, ipaddress.IPv4Address):
        return []
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found += list(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def address_allowed(ip: IPAddress, *, allow_private: bool | None = None) -> bool:
    """Public (globally routable, not multicast), or in a network the operator allowed on purpose. Private addresses
    pass when `allow_private` says so (by default CALDAV_ALLOW_PRIVATE_ADDRESSES; WebDAV-Push has its own)."""
    if settings.CALDAV_ALLOW_PRIVATE_ADDRESSES if allow_private is None else allow_private:
        return True
    if any(ip in ipaddress.ip_network(net) for net in settings.OUTBOUND_ALLOWED_NETWORKS):
        return True
    return all(a.is_global and not a.is_multicast for a in (ip, *_embedded_ipv4(ip)))


def checked_addresses(
    host: str,
    port: int | str | None,
    family: int = 0,
    kind: int = socket.SOCK_STREAM,
    *,
    allow_private: bool | None = None,
) -> list[Any]:
    """`getaddrinfo` for `host`, refused as a whole unless every address it gives is allowed."""
    try:
        records = lookup(host, port, family, kind)
    except OSError as exc:
        raise Unresolvable(f"The server name {host} does not resolve. Check the address.") from exc
    for record in records:
        if not address_allowed(ipaddress.ip_address(str(record[4][0]).split("%")[0]), allow_private=allow_private):
            raise AddressRefused(f"calsync cannot connect to {host}: the address is inside its own network.")
    return records


def check_public_address(url: str, *, allow_private: bool | None = None) -> None:
    """The early check of a server someone entered, so the form can say so at once (the guard under every
    request says it again, at connect time). AddressRefused or Unresolvable (both ValueErrors) say why."""
    checked_addresses(urlsplit(url).hostname or "", None, allow_private=allow_private)


class GuardedResolver(BaseResolver):
    """urllib3's resolver seam: the connection is made to exactly the addresses `checked_addresses` returns."""

    protocol = ProtocolResolver.CUSTOM
    implementation = "calsync-guard"

    def __init__(self, *patterns: str, allow_private: bool | None = None, **kwargs: Any) -> None:
        super().__init__(None, None, *patterns, **kwargs)
        self.allow_private = allow_private

    def getaddrinfo(self, host: Any, port: Any, family: Any, type: Any, proto: int = 0, flags: int = 0,
                    *, quic_upgrade_via_dns_rr: bool = False) -> list[Any]:  # fmt: skip
        name = host.decode("ascii") if isinstance(host, bytes) else str(host or "localhost")
        try:
            return checked_addresses(name, port, family, type, allow_private=self.allow_private)
        except Unresolvable as exc:  # as the system resolver says it: the libraries report it as before
            raise socket.gaierror(socket.EAI_NONAME, str(exc)) from exc

    def recycle(self) -> BaseResolver:
        return self

    def close(self) -> None:
        pass  # holds nothing

    def is_available(self) -> bool:
        return True


# --- which site ------------------------------------------------------------------------------------------------


@functools.cache
def _suffixes() -> Any:
    """The Public Suffix List, parsed on first use: it ships with the package (no download at run time), but
    parsing it costs a process about 0.15 s, and a sync that stays on the host entered never needs it."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def _site(url: str) -> tuple[str, str]:
    """A URL's site: its registrable domain by the Public Suffix List (caldav.icloud.com and p52-caldav.icloud.com
    are both icloud.com; a.github.io and b.github.io are two sites), or the exact host and port for an IP
    address or a name that has none (localhost). https and http are different sites."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        registrable = _suffixes().privatesuffix(host)
        if registrable:
            return parts.scheme, registrable
    return parts.scheme, f"{host}:{parts.port or ''}"


def _host(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").rstrip(".").lower(), parts.port


def require_same_site(origin: str, url: str) -> None:
    """A server may send calsync elsewhere on its own site, never to another: the request carries the password."""
    if _host(url) == _host(origin):
        return  # the same scheme, host and port: the same site whatever the list says
    if _site(url) != _site(origin):
        raise AddressRefused(
            f"The server at {urlsplit(origin).hostname} sent calsync on to {urlsplit(url).hostname or url}, which "
            "is not part of the same site; calsync does not send the password there."
        )


# --- the adapters the HTTP libraries use -----------------------------------------------------------------------


class CalDAVAdapter(niquests.adapters.HTTPAdapter):
    """For the caldav library's niquests session: the guard under every connection, and every request (the
    library's discovery, calsync's own, each redirect hop) kept on the site of the server the user entered."""

    def __init__(self, origin: str, resolver: GuardedResolver, **kwargs: Any) -> None:
        self.origin = origin
        super().__init__(resolver=resolver, **kwargs)

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        require_same_site(self.origin, str(request.url))
        return super().send(request, *args, **kwargs)


def guard_caldav_session(session: niquests.Session, origin: str) -> None:
    session.trust_env = False  # no proxy and no CA bundle from the environment: the guard sees the real server
    # The session's own resolver too: niquests mounts fresh adapters with it if the one it holds is closed.
    session.resolver = resolver = GuardedResolver()
    for prefix in ("https://", "http://"):
        session.mount(prefix, CalDAVAdapter(origin, resolver))


def guarded_session(*, allow_private: bool | None = None) -> niquests.Session:
    """A session for requests to addresses others gave calsync (WebDAV-Push resources): every connection and every
    redirect hop through the guard, no proxy or CA bundle from the environment."""
    session = niquests.Session()
    session.trust_env = False
    session.resolver = resolver = GuardedResolver(allow_private=allow_private)
    for prefix in ("https://", "http://"):
        session.mount(prefix, niquests.adapters.HTTPAdapter(resolver=resolver))
    return session


def __getattr__(name: str) -> Any:
    """`GuardedAdapter` is built on first use: it needs requests, which only exchangelib and ICS subscriptions use;
    a CalDAV sync process would otherwise import it (~0.1 s CPU) for nothing (PEP 562)."""
    if name == "GuardedAdapter":
        return _guarded_adapter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _guarded_adapter() -> type:
    import requests.adapters

    class GuardedAdapter(requests.adapters.HTTPAdapter):
        """The guard under every connection of a requests session: exchangelib's (`BaseProtocol.HTTP_ADAPTER_CLS`;
        EWS requests go only to the server entered and exchangelib follows no redirects outside autodiscover,
        which calsync leaves off), and whatever else fetches from an address a user gave (ICS subscriptions)."""

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, resolver=GuardedResolver(), **kwargs)

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            # Through a proxy from the environment the guard checks the proxy's address (fails closed if private).
            return super().proxy_manager_for(proxy, resolver=GuardedResolver(), **kwargs)

    GuardedAdapter.__module__ = __name__
    return GuardedAdapter
