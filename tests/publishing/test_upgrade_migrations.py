"""Databases made before hostnames had owners upgrade in place: product slugs shared by
several tenants are renamed (the oldest keeps its slug) and every published hostname gets its
owner, the older publish where two served one hostname on one cluster."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("catalog", "0003_api_keys"), ("publishing", "0002_revisions_and_deployments"),
          ("clusters", "0003_agent_protocol")]
AFTER = [("catalog", "0005_product_slug_unique_across_tenants"),
         ("publishing", "0004_claim_published_hostnames"),
         ("clusters", "0004_cluster_certificate_namespaces")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    """Going back unapplies what depends on these apps too: leave every app at its leaf."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def spec(hostname: str) -> dict:
    return {"spec_version": 1, "publish": {"hostnames": [hostname]}}


def test_shared_slugs_are_renamed_and_published_hostnames_get_one_owner():
    old = migrate(BEFORE)
    Tenant, Product = old.get_model("catalog", "Tenant"), old.get_model("catalog", "Product")
    Gateway = old.get_model("catalog", "Gateway")
    Cluster = old.get_model("clusters", "Cluster")
    Publish = old.get_model("publishing", "ProductPublish")
    Revision = old.get_model("publishing", "PublishRevision")
    cluster = Cluster.objects.create(name="shared", region="kr-seoul", cloud_provider="aws")
    hostname = "payment-api.prod.kr-seoul.api.imprun.dev"
    publishes = []
    for slug in ("acme", "globex", "initech"):
        tenant = Tenant.objects.create(name=slug, slug=slug)
        product = Product.objects.create(tenant=tenant, name="Payment API", slug="payment-api")
        gateway = Gateway.objects.create(tenant=tenant, name="edge")
        publish = Publish.objects.create(tenant=tenant, product=product, gateway=gateway,
                                         cluster=cluster, environment="prod",
                                         status="PUBLISHED")
        revision = Revision.objects.create(publish=publish, number=1, spec=spec(hostname),
                                           content_hash="0" * 64, action="publish")
        publish.current_revision = revision
        publish.save()
        publishes.append(publish)
    Product.objects.create(tenant=Tenant.objects.get(slug="globex"), name="Other",
                           slug="payment-api-globex")  # the rename's first choice is taken

    new = migrate(AFTER)
    Product = new.get_model("catalog", "Product")
    slugs = dict(Product.objects.filter(name="Payment API").values_list("tenant__slug", "slug"))
    assert slugs == {"acme": "payment-api", "globex": "payment-api-globex-2",
                     "initech": "payment-api-initech"}
    Claim = new.get_model("publishing", "HostnameClaim")
    assert list(Claim.objects.values_list("cluster__name", "hostname", "publish_id")) == [
        ("shared", hostname, publishes[0].pk)]
    assert new.get_model("clusters", "Cluster").objects.get().certificate_namespaces == []
