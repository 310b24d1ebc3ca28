from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.management.base import OperatorCommand
from calsync import crypto
from integrations.models import Integration


class Command(OperatorCommand):
    help = (
        "Re-encrypt every stored secret with the first key in ENCRYPTION_KEYS. "
        "Put the new key first, run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            for integration in Integration.objects.select_for_update().exclude(credentials_encrypted=""):
                integration.credentials_encrypted = crypto.rotate(integration.credentials_encrypted)
                integration.save(update_fields=["credentials_encrypted"])
                count += 1
        self.emit(options, {"reencrypted": count}, f"Re-encrypted the credentials of {count} integrations.")
