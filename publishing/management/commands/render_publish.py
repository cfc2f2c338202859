"""`manage.py render_publish <publish-id> [--revision N] [-o yaml|json]`: a revision's manifests."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from publishing import services
from publishing.models import ProductPublish
from publishing.translation import TranslationError


class Command(BaseCommand):
    help = "Print the Kubernetes manifests of a publish's revision (default: the current one)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("publish_id", type=int)
        parser.add_argument("--revision", type=int, help="revision number (default: current)")
        parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")

    def handle(self, *args, publish_id: int, revision: int | None, output: str, **options):
        publish = (
            ProductPublish.objects.select_related("cluster", "current_revision")
            .filter(pk=publish_id)
            .first()
        )
        if publish is None:
            raise CommandError(f"publish {publish_id}: no such publish")
        if revision is None:
            chosen = publish.current_revision
            if chosen is None:
                raise CommandError(f"publish {publish_id}: nothing published yet (no revision)")
        else:
            chosen = publish.revisions.filter(number=revision).first()
            if chosen is None:
                raise CommandError(f"publish {publish_id}: no revision {revision}")
        try:
            manifests = services.revision_manifests(chosen, publish.cluster)
        except TranslationError as exc:
            raise CommandError("; ".join(exc.errors)) from exc
        self.stdout.write(services.dump_manifests(manifests, output), ending="")
