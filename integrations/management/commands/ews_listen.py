from __future__ import annotations

import os
import secrets
import signal
import socket
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from accounts.management.base import OperatorCommand
from integrations.exchange.listener import Listener


class Command(OperatorCommand):
    help = (
        "Hold EWS streaming (or pull) subscriptions for Exchange integrations and sync each one as soon as its "
        "calendar changes. Run as many as needed: each leases up to --capacity integrations (another process takes "
        "them over when it stops renewing). SIGTERM or Ctrl-C gives the leases back and exits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--capacity", type=int, default=settings.EXCHANGE_LISTEN_CAPACITY,
                            help="Most integrations this process listens for.")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if options["capacity"] < 1:
            raise CommandError("--capacity must be at least 1.")
        holder = f"{socket.gethostname()[:30]}-{os.getpid()}-{secrets.token_hex(4)}"
        listener = Listener(holder=holder, capacity=options["capacity"])
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: listener.stop.set())
        self.stdout.write(f"Listening as {holder} for up to {options['capacity']} Exchange integrations.")
        self.stdout.flush()
        listener.run()
        self.emit(options, {"holder": holder, "held": len(listener.held)}, f"Stopped {holder}.")
