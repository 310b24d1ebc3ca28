"""Run the Google emulator: python -m emulators.google --port 8091 --client-id ID --client-secret SECRET."""

from __future__ import annotations

import argparse
import time

from .app import serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--client-id", default="calsync-sandbox")
    parser.add_argument("--client-secret", default="calsync-sandbox-secret")
    args = parser.parse_args()
    app, _server = serve(host=args.host, port=args.port, clients={args.client_id: args.client_secret})
    print(f"Google emulator (sandbox) at {app.base_url}/ - not Google.", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
