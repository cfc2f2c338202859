"""`manage.py seed_demo`: demo data and a local superuser, safe to run again."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from impgateway.demo import create_demo_data


class Command(BaseCommand):
    help = "Create the demo tenant, catalog, clusters and publishes, and a local superuser."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--password",
            default=os.environ.get("DEMO_ADMIN_PASSWORD", ""),
            help="Password of a new superuser (default: $DEMO_ADMIN_PASSWORD, else generated).",
        )

    def handle(self, *args, **options) -> None:
        demo = create_demo_data()
        self.stdout.write(
            f"Demo data ready: tenant {demo.tenant.slug}, product {demo.product.slug}, "
            f"{len(demo.publishes)} publishes."
        )
        for publish in demo.publishes:
            self.stdout.write(f"  {publish}: {', '.join(publish.hostnames)}")
        user_model = get_user_model()
        username = options["username"]
        if user_model.objects.filter(username=username).exists():
            self.stdout.write(f"Superuser '{username}' exists already; its password is unchanged.")
            return
        password = options["password"] or secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Superuser created: {username} / {password}"))
