"""manage.py receive_imip [--to ADDRESS] < message.eml: apply an iMIP REPLY an MTA pipes in."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meetings import services


class Command(BaseCommand):
    help = "Read an RFC 822 message carrying an iMIP REPLY from standard input and record the attendee's answer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", default="", help="The envelope recipient (the meeting's signed reply address).")

    def handle(self, *args: Any, **options: Any) -> None:
        raw = sys.stdin.buffer.read()
        try:
            meeting = services.reply_receive(raw=raw, recipient=options["to"])
        except services.MeetingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Recorded the answer to {meeting.uid}.")
