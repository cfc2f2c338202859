"""`manage.py rotate_api_key_encryption`: encrypt every stored API key again with the first of
API_KEY_ENCRYPTION_KEYS, so older keys can be dropped from the list afterwards."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog.key_encryption import UndecryptableSecret
from catalog.services import reencrypt_api_keys


class Command(BaseCommand):
    help = "Re-encrypt every stored API key with the first key of API_KEY_ENCRYPTION_KEYS."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Keys per transaction (default 500)."
        )

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size: must be at least 1")
        try:
            count = reencrypt_api_keys(batch_size=batch_size)
        except UndecryptableSecret as exc:
            raise CommandError(
                f"{exc}; keep every key that encrypted stored secrets in the list"
            ) from None
        self.stdout.write(f"Re-encrypted {count} API keys with the first encryption key.")
