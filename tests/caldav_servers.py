"""Real CalDAV servers nobody here wrote, started in this process on free loopback ports.

Radicale runs with htpasswd authentication (so wrong passwords can be tested);
Xandikos runs as caldav.testing starts it (single user, no authentication).
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import niquests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    base_url: str  # what a user types: the bare server address
    username: str
    password: str
    home: str  # where new calendars are made

    def new_calendar(self, name: str = "Test", components: tuple[str, ...] = ("VEVENT", "VTODO")) -> str:
        """MKCALENDAR a fresh calendar; returns its URL."""
        url = f"{self.home}{uuid.uuid4().hex[:10]}/"
        comps = "".join(f'<C:comp name="{c}"/>' for c in components)
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:set><D:prop><D:displayname>{name}</D:displayname>"
            f"<C:supported-calendar-component-set>{comps}</C:supported-calendar-component-set></D:prop></D:set>"
            "</C:mkcalendar>"
        )
        with niquests.Session() as session:
            session.trust_env = False
            response = session.request("MKCALENDAR", url, data=body, auth=(self.username, self.password), timeout=10)
        assert response.status_code in (200, 201), f"MKCALENDAR on {self.name} answered {response.status_code}"
        return url


def start_radicale() -> tuple[Server, object]:
    import radicale.config
    import radicale.server

    folder = Path(tempfile.mkdtemp(prefix="radicale-"))
    users = folder / "users"
    users.write_text("alice:app-password-1\nbob:bobs-password\n")
    port = free_port()
    configuration = radicale.config.load("")
    configuration.update(
        {
            "server": {"hosts": f"127.0.0.1:{port}"},
            "storage": {"filesystem_folder": str(folder / "collections")},
            "auth": {"type": "htpasswd", "htpasswd_filename": str(users), "htpasswd_encryption": "plain", "delay": "0"},
            "logging": {"level": "warning", "mask_passwords": "True"},
        }
    )
    shutdown, shutdown_out = socket.socketpair()
    thread = threading.Thread(target=radicale.server.serve, args=(configuration, shutdown_out), daemon=True)
    thread.start()
    _wait(f"http://127.0.0.1:{port}/")
    server = Server(
        "radicale", f"http://127.0.0.1:{port}/", "alice", "app-password-1", f"http://127.0.0.1:{port}/alice/"
    )
    with niquests.Session() as session:  # Radicale makes the principal's collection on first authenticated use
        session.trust_env = False
        session.request("PROPFIND", server.home, auth=("alice", "app-password-1"), headers={"Depth": "0"}, timeout=10)
    return server, shutdown


def start_xandikos() -> tuple[Server, object]:
    from caldav.testing import XandikosServer

    port = free_port()
    embedded = XandikosServer({"host": "127.0.0.1", "port": port, "username": "carol"})
    embedded.start()
    server = Server(
        "xandikos", f"http://127.0.0.1:{port}/", "carol", "unused", f"http://127.0.0.1:{port}/carol/calendars/"
    )
    return server, embedded


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with niquests.Session() as session:
                session.trust_env = False
                session.get(url, timeout=1)
            return
        except niquests.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")
