"""Run the Exchange emulator: python -m emulators.exchange --port 8095 (a sandbox mailbox included)."""

from __future__ import annotations

import argparse
import time

from .app import serve
from .sandbox import sandbox_state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8095)
    parser.add_argument("--domain", default="SANDBOX")
    parser.add_argument("--user", default="ann")
    parser.add_argument("--password", default="calsync-sandbox")
    parser.add_argument("--address", default="ann@sandbox.calsync.invalid")
    args = parser.parse_args()
    state = sandbox_state(args.domain, args.user, args.password, args.address)
    _app, _server, url = serve(args.host, args.port, state)
    print(
        f"Exchange emulator (sandbox) at {url} - user {args.domain}\\{args.user}, not an Exchange server.", flush=True
    )
    print(f"Its page, to change events on the Exchange side: {url.rsplit('/EWS', 1)[0]}/sandbox", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
