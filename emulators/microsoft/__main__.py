"""Run the Microsoft emulator: python -m emulators.microsoft --port 8093 --browser-port 8094 --cert-dir var/..."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .app import serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8093, help="HTTPS: identity platform and Graph")
    parser.add_argument("--browser-port", type=int, default=8094, help="plain http: the consent pages browsers see")
    parser.add_argument("--cert-dir", type=Path, default=Path("var/microsoft-emulator"))
    parser.add_argument("--client-id", default="calsync-sandbox")
    parser.add_argument("--client-secret", default="calsync-sandbox-secret")
    args = parser.parse_args()
    app, _server, cert = serve(host=args.host, port=args.port, apps={args.client_id: args.client_secret},
                               cert_folder=args.cert_dir, browser_port=args.browser_port)  # fmt: skip
    app.state.open_directory = True  # the sandbox: every address at a tenant's domain has a mailbox
    print(f"Microsoft emulator (sandbox) at {app.base_url}/ (certificate {cert}) - not Microsoft.", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
