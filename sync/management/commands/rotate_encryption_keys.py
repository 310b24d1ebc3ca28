from __future__ import annotations

from typing import Any

from django.db import models, transaction

from accounts.management.base import OperatorCommand
from calsync import crypto
from integrations.models import ExchangeServer, GoogleWorkspace, Integration, MicrosoftOrganisation

# Every column that holds a secret encrypted with ENCRYPTION_KEYS.
ENCRYPTED: list[tuple[type[models.Model], list[str]]] = [
    (Integration, ["credentials_encrypted"]),
    (GoogleWorkspace, ["key_encrypted"]),
    (MicrosoftOrganisation, ["secret_encrypted", "certificate_encrypted"]),
    (ExchangeServer, ["password_encrypted"]),
]


class Command(OperatorCommand):
    help = (
        "Re-encrypt every stored secret with the first key in ENCRYPTION_KEYS. "
        "Put the new key first, run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            for model, fields in ENCRYPTED:
                for row in model.objects.select_for_update().only("pk", *fields):  # type: ignore[attr-defined]
                    for field in fields:
                        setattr(row, field, crypto.rotate(getattr(row, field)))
                    row.save(update_fields=fields)
                    count += 1
        self.emit(options, {"reencrypted": count}, f"Re-encrypted the secrets of {count} rows.")
