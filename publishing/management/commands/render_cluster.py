"""`manage.py render_cluster <cluster-name> [-o yaml|json]`: everything published for a cluster."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from clusters.models import Cluster
from publishing import services
from publishing.translation import TranslationError


class Command(BaseCommand):
    help = "Print the Kubernetes manifests of every publish PUBLISHED to a cluster."

    def add_arguments(self, parser) -> None:
        parser.add_argument("cluster_name")
        parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")

    def handle(self, *args, cluster_name: str, output: str, **options) -> None:
        cluster = Cluster.objects.filter(name=cluster_name).first()
        if cluster is None:
            raise CommandError(f"cluster '{cluster_name}': no such cluster")
        try:
            manifests = services.cluster_manifests(cluster)
        except TranslationError as exc:
            raise CommandError("; ".join(exc.errors)) from exc
        self.stdout.write(services.dump_manifests(manifests, output), ending="")
