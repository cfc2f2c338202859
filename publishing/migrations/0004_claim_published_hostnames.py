from django.db import migrations


def claim_published_hostnames(apps, schema_editor):
    """Give every published hostname its owner: the publish that serves it, and where two
    publishes on one cluster served the same hostname (possible before claims existed), the
    older one. The other can no longer publish that hostname (docs/upgrading.md)."""
    ProductPublish = apps.get_model("publishing", "ProductPublish")
    HostnameClaim = apps.get_model("publishing", "HostnameClaim")
    claimed = set()
    claims = []
    published = ProductPublish.objects.filter(
        status="PUBLISHED", current_revision__isnull=False
    ).select_related("current_revision")
    for publish in published.order_by("pk"):
        for hostname in publish.current_revision.spec["publish"]["hostnames"]:
            if (publish.cluster_id, hostname) in claimed:
                continue
            claimed.add((publish.cluster_id, hostname))
            claims.append(
                HostnameClaim(cluster_id=publish.cluster_id, hostname=hostname, publish=publish)
            )
    HostnameClaim.objects.bulk_create(claims)


class Migration(migrations.Migration):
    dependencies = [
        ("publishing", "0003_hostname_claims"),
    ]

    operations = [
        migrations.RunPython(claim_published_hostnames, migrations.RunPython.noop),
    ]
