"""Publishing as immutable revisions: snapshot, validation, publish, withdraw, roll back, diff."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from catalog.models import Backend, Policy, Route
from clusters.models import Cluster
from impgateway.demo import create_demo_data
from publishing import services
from publishing.choices import PublishStatus
from publishing.models import HostnameClaim, ProductPublish, PublishRevision
from tests.factories import (
    APIServiceFactory,
    BackendFactory,
    ClusterFactory,
    GatewayFactory,
    ListenerFactory,
    ProductFactory,
    ProductPublishFactory,
    RouteFactory,
    TenantFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return create_demo_data()


def kr(environment: str) -> ProductPublish:
    return ProductPublish.objects.get(cluster__name="cluster-kr-seoul", environment=environment)


def make_publish(tenant=None, services_count=1, routes_per_service=1, **kwargs) -> ProductPublish:
    tenant = tenant or TenantFactory()
    gateway = GatewayFactory(tenant=tenant)
    ListenerFactory(gateway=gateway)
    publish = ProductPublishFactory(tenant=tenant, gateway=gateway, **kwargs)
    for _ in range(services_count):
        backend = BackendFactory(service__tenant=tenant)
        for _ in range(routes_per_service):
            RouteFactory(service=backend.service, backend=backend)
        publish.api_services.add(backend.service)
    return publish


def test_demo_publishes_are_published_with_one_revision_each(demo):
    assert ProductPublish.objects.filter(status=PublishStatus.PUBLISHED).count() == 3
    assert PublishRevision.objects.count() == 3
    create_demo_data()
    assert PublishRevision.objects.count() == 3, "re-publishing without change made a revision"


def test_snapshot_takes_environment_policies(demo):
    prod_spec = kr("prod").current_revision.spec
    dev_spec = kr("dev").current_revision.spec
    prod_payment = next(s for s in prod_spec["services"] if s["name"] == "payment-service")
    dev_payment = next(s for s in dev_spec["services"] if s["name"] == "payment-service")
    prod_limits = [p["config"] for p in prod_payment["policies"] if p["kind"] == "rate_limit"]
    dev_limits = [p["config"] for p in dev_payment["policies"] if p["kind"] == "rate_limit"]
    assert prod_limits == [{"requests": 100, "unit": "Minute"}]
    assert dev_limits == [{"requests": 1000, "unit": "Minute"}]
    assert {s["name"] for s in dev_spec["services"]} == {
        "payment-service",
        "refund-service",
        "debug-service",
    }
    assert prod_spec["publish"]["hostnames"] == ["payment-api.prod.kr-seoul.api.imprun.dev"]


def test_editing_a_service_shows_unpublished_changes_until_republished(demo):
    publish = services.publish_queryset().get(pk=kr("prod").pk)
    assert not services.has_unpublished_changes(publish)
    route = Route.objects.get(service__name="refund-service", name="refunds")
    route.path = "/v2/refunds"
    route.save()
    publish = services.publish_queryset().get(pk=publish.pk)
    assert services.has_unpublished_changes(publish)
    diff = services.live_diff(publish)
    assert "-    path: /v1/refunds" in diff
    assert "+    path: /v2/refunds" in diff
    before = publish.current_revision.number
    revision, created = services.publish_revision(publish)
    assert created and revision.number == before + 1
    assert revision.spec != PublishRevision.objects.get(publish=publish, number=before).spec
    assert not services.has_unpublished_changes(services.publish_queryset().get(pk=publish.pk))


def test_revisions_are_immutable_snapshots(demo):
    publish = kr("prod")
    first = publish.current_revision
    Route.objects.filter(service__name="payment-service").update(path="/v9/changed")
    first.refresh_from_db()
    paths = [r["path"] for s in first.spec["services"] for r in s["routes"]]
    assert "/v9/changed" not in paths


@pytest.mark.django_db(transaction=True)
def test_withdraw_and_publish_again_reuses_the_revision(demo):
    publish = kr("dev")
    cluster = publish.cluster
    revision_before = Cluster.objects.get(pk=cluster.pk).desired_state_revision
    services.withdraw(publish)
    publish.refresh_from_db()
    assert publish.status == PublishStatus.WITHDRAWN
    assert Cluster.objects.get(pk=cluster.pk).desired_state_revision == revision_before + 1
    with pytest.raises(ValidationError, match="only a published publish can be withdrawn"):
        services.withdraw(publish)
    revision, created = services.publish_revision(publish)
    assert not created and revision.number == 1
    assert ProductPublish.objects.get(pk=publish.pk).status == PublishStatus.PUBLISHED


def test_rollback_publishes_an_earlier_spec_as_a_new_revision(demo):
    publish = kr("prod")
    Route.objects.filter(name="refunds").update(path="/v2/refunds")
    services.publish_revision(publish)
    revision = services.rollback(publish, 1)
    assert revision.number == 3
    assert revision.rolled_back_from == 1
    assert revision.spec == PublishRevision.objects.get(publish=publish, number=1).spec
    with pytest.raises(ValidationError, match="has no revision 9"):
        services.rollback(publish, 9)


def test_overlapping_routes_within_a_publish_are_refused():
    publish = make_publish()
    service = publish.api_services.get()
    backend = service.backends.get()
    RouteFactory(service=service, backend=backend, name="one", path="/same", methods=["GET"])
    RouteFactory(service=service, backend=backend, name="two", path="/same", methods=["GET", "PUT"])
    with pytest.raises(ValidationError) as excinfo:
        services.publish_revision(publish)
    message = " ".join(excinfo.value.messages)
    assert "route 'one'" in message and "route 'two'" in message
    assert "PathPrefix /same (GET)" in message
    assert not PublishRevision.objects.filter(publish=publish).exists()
    assert ProductPublish.objects.get(pk=publish.pk).status == PublishStatus.DRAFT


def test_a_hostname_has_one_owner_on_a_cluster_whatever_the_tenant():
    """Tenant A published shop-api, then renamed its product; tenant B takes the free slug.
    A's live revision still serves the old hostname, so B may not publish it there, and the
    refusal names nothing of A's."""
    cluster = ClusterFactory(name="shared", region="kr-seoul")
    owner = make_publish(cluster=cluster, product__slug="shop-api", environment="prod")
    services.publish_revision(owner)
    owner.product.slug = "shop-v2"
    owner.product.save()
    intruder_tenant = TenantFactory()
    intruder = make_publish(
        tenant=intruder_tenant,
        cluster=cluster,
        environment="prod",
        product=ProductFactory(tenant=intruder_tenant, slug="shop-api"),
    )
    with pytest.raises(ValidationError) as excinfo:
        services.publish_revision(intruder)
    assert excinfo.value.messages == [
        "hostname 'shop-api.prod.kr-seoul.api.imprun.dev' is taken on cluster 'shared': "
        "another publish serves it"
    ]
    assert not PublishRevision.objects.filter(publish=intruder).exists()
    assert not HostnameClaim.objects.filter(publish=intruder).exists()
    # Rolling back to a revision with a taken hostname is refused the same way.
    # Once the owner publishes its new hostname, the old one is free.
    services.publish_revision(owner)
    assert list(HostnameClaim.objects.filter(publish=owner).values_list("hostname", flat=True)
                ) == ["shop-v2.prod.kr-seoul.api.imprun.dev"]
    services.publish_revision(intruder)
    with pytest.raises(ValidationError, match="another publish serves it"):
        services.rollback(owner, 1)


def test_a_hostname_taken_within_the_tenant_names_the_publish():
    tenant = TenantFactory()
    cluster = ClusterFactory(name="shared", region="kr-seoul")
    first = make_publish(tenant=tenant, cluster=cluster, product__slug="shop-api",
                         environment="prod")
    services.publish_revision(first)
    first.product.slug = "shop-v2"
    first.product.save()
    second = make_publish(tenant=tenant, cluster=cluster, environment="prod",
                          product=ProductFactory(tenant=tenant, slug="shop-api"))
    with pytest.raises(ValidationError, match=rf"publish #{first.pk} \(shop-v2, prod\) serves"):
        services.publish_revision(second)


def test_withdrawing_and_moving_release_hostnames():
    publish = make_publish(cluster=ClusterFactory(region="kr-seoul"), product__slug="shop-api")
    services.publish_revision(publish)
    assert HostnameClaim.objects.filter(publish=publish, cluster=publish.cluster).count() == 1
    services.withdraw(publish)
    assert not HostnameClaim.objects.filter(publish=publish).exists()
    services.publish_revision(publish)
    target = ClusterFactory(region="us-east")
    services.move_publish(publish, target)
    assert list(HostnameClaim.objects.filter(publish=publish).values_list(
        "cluster_id", "hostname")) == [(target.pk, f"shop-api.{publish.environment}.us-east.api"
                                        ".imprun.dev")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_of_one_hostname_leave_one_owner():
    """Two publishes racing for one hostname on PostgreSQL, in real threads: the unique
    constraint leaves exactly one owner, the other is refused with nothing written."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent transactions need PostgreSQL (set DATABASE_URL)")
    cluster = ClusterFactory(name="shared", region="kr-seoul")
    first = make_publish(cluster=cluster, product__slug="shop-api", environment="prod")
    second = make_publish(cluster=cluster, product__slug="shop-api-2", environment="prod")
    # Both would serve one hostname: the second product's slug becomes the first's after its
    # snapshot is taken, so validation cannot see the race; only the claim can.
    barrier = threading.Barrier(2)
    outcomes: dict[int, str] = {}
    real_claim = services._claim_hostnames

    def claim_after_both_validated(publish, hostnames):
        barrier.wait(timeout=10)
        return real_claim(publish, ["shop-api.prod.kr-seoul.api.imprun.dev"])

    def run(publish):
        try:
            services.publish_revision(publish)
            outcomes[publish.pk] = "published"
        except ValidationError as exc:
            outcomes[publish.pk] = " ".join(exc.messages)
        finally:
            connection.close()

    original = services._claim_hostnames
    services._claim_hostnames = claim_after_both_validated
    try:
        threads = [threading.Thread(target=run, args=(p,)) for p in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        services._claim_hostnames = original
    assert sorted(outcomes.values())[1] == "published", outcomes
    refused = sorted(outcomes.values())[0]
    assert "is taken on cluster 'shared'" in refused, outcomes
    assert HostnameClaim.objects.count() == 1
    assert PublishRevision.objects.count() == 1


def test_publish_refuses_what_the_cluster_would_refuse_in_definitions_saved_earlier():
    """Definitions saved before a rule existed (written here past the model checks) are
    refused at publish, each message naming the object and the rule."""
    publish = make_publish(cluster=ClusterFactory(region="kr-seoul"))
    backend = Backend.objects.get(service__publishes=publish)
    Backend.objects.filter(pk=backend.pk).update(endpoints=["127.0.0.1:8080"])
    Route.objects.filter(service__publishes=publish).update(
        path="/v1/(?=x)", match_type="RegularExpression",
        header_matches=[{"name": "x-v", "value": "a\r\nX-Injected: 1", "type": "Exact"}],
    )
    with pytest.raises(ValidationError) as excinfo:
        services.publish_revision(publish)
    messages = " | ".join(excinfo.value.messages)
    service = backend.service.name
    assert (f"backend '{backend.name}' of service '{service}': endpoint '127.0.0.1:8080': "
            "127.0.0.1 is a loopback address") in messages
    assert "path '/v1/(?=x)': RE2 refuses it: invalid perl operator" in messages
    assert "header 'x-v': control characters" in messages
    assert not PublishRevision.objects.filter(publish=publish).exists()


def test_certificates_in_other_namespaces_only_where_the_cluster_opens_them():
    """A listener may name a TLS Secret in another namespace (the agent then writes a
    ReferenceGrant there) only if the cluster's operators opened that namespace: otherwise a
    tenant could have its gateway use any certificate of the cluster."""
    cluster = ClusterFactory(name="shared", namespace="imp-gateway")
    publish = make_publish(cluster=cluster)
    https = ListenerFactory(gateway=publish.gateway, name="https", port=443, protocol="HTTPS",
                            tls_mode="Terminate", certificate_ref="kube-system/admin-tls")
    with pytest.raises(ValidationError) as excinfo:
        services.publish_revision(publish)
    assert excinfo.value.messages == [
        "listener 'https': certificate 'kube-system/admin-tls' is in namespace 'kube-system', "
        "which cluster 'shared' does not open to gateways (its certificate namespaces: "
        "imp-gateway)"
    ]
    cluster.certificate_namespaces = ["cert-manager"]
    cluster.save()
    https.certificate_ref = "cert-manager/wildcard-tls"
    https.save()
    revision, _created = services.publish_revision(publish)
    assert revision.spec["gateway"]["listeners"][-1]["certificate_ref"] == {
        "namespace": "cert-manager", "name": "wildcard-tls"}
    https.certificate_ref = "imp-gateway/own-tls"
    https.save()
    services.publish_revision(publish)


def test_invalid_hostname_is_refused():
    publish = make_publish(cluster=ClusterFactory(region="r" * 63), product__slug="p" * 40)
    # Labels are valid on their own; a label over 63 characters can only come from the domain.
    from django.test import override_settings

    with override_settings(IMPGATEWAY_DOMAIN="x" * 70 + ".dev"):
        with pytest.raises(ValidationError, match="is not a valid RFC 1123 DNS label"):
            services.publish_revision(publish)


def test_unsupported_feature_for_the_class_is_refused():
    publish = make_publish()
    publish.gateway.gateway_class = "nginx"
    publish.gateway.save()
    service = publish.api_services.get()
    Policy.objects.create(
        service=service, name="office", kind="ip_allowlist", config={"cidrs": ["10.0.0.0/8"]}
    )
    with pytest.raises(ValidationError) as excinfo:
        services.publish_revision(publish)
    message = " ".join(excinfo.value.messages)
    assert "nginx" in message and "ip_allowlist" in message


def test_cluster_capabilities_must_include_the_gateway_class():
    publish = make_publish()
    publish.cluster.capabilities = {"gateway_classes": ["kong"]}
    publish.cluster.save()
    with pytest.raises(ValidationError, match="does not run gateway class 'envoy-gateway'"):
        services.publish_revision(publish)
    publish.cluster.capabilities = {"gateway_classes": ["kong", "envoy-gateway"]}
    publish.cluster.save()
    services.publish_revision(publish)


def test_service_without_routes_or_backend_is_refused():
    publish = make_publish()
    publish.api_services.add(APIServiceFactory(tenant=publish.tenant, name="empty"))
    with pytest.raises(ValidationError, match="service 'empty' has no routes"):
        services.publish_revision(publish)


@pytest.mark.django_db(transaction=True)
def test_move_publishes_on_the_new_cluster_and_bumps_both(demo):
    publish = kr("dev")
    old = Cluster.objects.get(pk=publish.cluster_id)
    new = ClusterFactory(name="cluster-jp-tokyo", region="jp-tokyo")
    old_revision = old.desired_state_revision
    services.move_publish(publish, new)
    publish.refresh_from_db()
    assert publish.cluster == new
    assert publish.current_revision.spec["publish"]["hostnames"] == [
        "payment-api.dev.jp-tokyo.api.imprun.dev"
    ]
    assert Cluster.objects.get(pk=old.pk).desired_state_revision == old_revision + 1
    assert Cluster.objects.get(pk=new.pk).desired_state_revision == 1


@pytest.mark.django_db(transaction=True)
def test_bumps_happen_after_commit_once_and_not_on_rollback():
    from django.db import transaction

    from clusters.services import bump_desired_state_on_commit

    cluster = ClusterFactory()
    with transaction.atomic():
        bump_desired_state_on_commit([cluster.pk])
        bump_desired_state_on_commit([cluster.pk])
        with transaction.atomic():
            bump_desired_state_on_commit([cluster.pk])
        assert Cluster.objects.get(pk=cluster.pk).desired_state_revision == 0
    assert Cluster.objects.get(pk=cluster.pk).desired_state_revision == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        bump_desired_state_on_commit([cluster.pk])
        raise RuntimeError
    assert Cluster.objects.get(pk=cluster.pk).desired_state_revision == 1
    with transaction.atomic():
        bump_desired_state_on_commit([cluster.pk])
    assert Cluster.objects.get(pk=cluster.pk).desired_state_revision == 2


@pytest.mark.parametrize("services_count", [1, 8])
def test_snapshot_costs_constant_queries(django_assert_num_queries, services_count):
    publish = make_publish(services_count=services_count, routes_per_service=services_count)
    with django_assert_num_queries(6):
        spec = services.build_spec(services.publish_queryset().get(pk=publish.pk))
    assert sum(len(s["routes"]) for s in spec["services"]) == services_count**2


def test_nothing_half_published_when_validation_fails(demo):
    publish = kr("prod")
    service = publish.api_services.get(name="refund-service")
    RouteFactory(service=service, name="dup", path="/v1/refunds", methods=["POST"])
    revisions_before = PublishRevision.objects.count()
    cluster_revision = Cluster.objects.get(pk=publish.cluster_id).desired_state_revision
    with pytest.raises(ValidationError):
        services.publish_revision(publish)
    assert PublishRevision.objects.count() == revisions_before
    assert Cluster.objects.get(pk=publish.cluster_id).desired_state_revision == cluster_revision
    assert connection.vendor in {"sqlite", "postgresql"}
