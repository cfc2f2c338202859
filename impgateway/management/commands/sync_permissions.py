"""`manage.py sync_permissions`: rebuild every object permission from the role grants."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from impgateway import rbac


class Command(BaseCommand):
    help = (
        "Rebuild the object permissions of every scoped model from the role grants (after "
        "imports, restores, or objects created outside the console and the API)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--write-docs",
            action="store_true",
            help="Also write docs/rbac.md from impgateway/rbac.py.",
        )

    def handle(self, *args, **options) -> None:
        written = rbac.sync_all()
        self.stdout.write(self.style.SUCCESS(f"Object permissions rebuilt: {written} rows."))
        if options["write_docs"]:
            path = Path(settings.BASE_DIR) / "docs" / "rbac.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rbac.render_markdown())
            self.stdout.write(f"Wrote {path}.")
