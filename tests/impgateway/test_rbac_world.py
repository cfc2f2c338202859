"""The two-tenant world the RBAC tests share: Acme (A) and Globex (B) hold objects with the very
same names, so only scoping tells them apart; clusters are shared by both."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.contrib.auth import get_user_model
from django.db import models

from catalog.models import Customer, Subscription
from clusters.services import create_registration_token
from impgateway import rbac
from impgateway.models import RoleGrant
from publishing.models import DeploymentStatus, PublishRevision
from tests.factories import (
    AgentFactory,
    APIServiceFactory,
    BackendFactory,
    ClusterFactory,
    GatewayFactory,
    ListenerFactory,
    PolicyFactory,
    ProductFactory,
    ProductPublishFactory,
    RouteFactory,
    TenantFactory,
)

TENANTS = (("A", "acme", "Acme"), ("B", "globex", "Globex"))


@dataclass
class World:
    objects: dict[str, models.Model] = field(default_factory=dict)

    def __getitem__(self, key: str) -> models.Model:
        return self.objects[key]

    def add(self, key: str, obj: models.Model) -> models.Model:
        self.objects[key] = obj
        return obj

    def keys_of(self, model: type[models.Model]) -> set[str]:
        return {key for key, obj in self.objects.items() if type(obj) is model}

    def key_of(self, obj: models.Model) -> str | None:
        return next(
            (
                key
                for key, item in self.objects.items()
                if type(item) is type(obj) and item.pk == obj.pk
            ),
            None,
        )

    def keys_for_pks(self, model: type[models.Model], pks: set) -> set[str]:
        return {key for key in self.keys_of(model) if self.objects[key].pk in pks}


def build_world() -> World:
    world = World()
    clusters = {
        "k1": ClusterFactory(name="cluster-kr-seoul", region="kr-seoul"),
        "k2": ClusterFactory(name="cluster-us-east", region="us-east"),
        "k3": ClusterFactory(name="cluster-eu-west", region="eu-west"),
    }
    for key, cluster in clusters.items():
        world.add(key, cluster)
    world.add("k1.agent", AgentFactory(cluster=clusters["k1"], name="agent-0"))
    world.add("k1.token", create_registration_token(clusters["k1"])[0])
    member = get_user_model().objects.create_user("member")
    for prefix, slug, name in TENANTS:
        tenant = world.add(f"{prefix}.tenant", TenantFactory(slug=slug, name=name))
        service = world.add(f"{prefix}.service", APIServiceFactory(tenant=tenant, name="payments"))
        backend = world.add(f"{prefix}.backend", BackendFactory(service=service, name="main"))
        world.add(
            f"{prefix}.route",
            RouteFactory(service=service, name="list", path="/v1/payments", backend=backend),
        )
        world.add(f"{prefix}.policy", PolicyFactory(service=service, name="limit"))
        products = {
            # Same names in both tenants; slugs name public hostnames, unique across tenants.
            "p1": ProductFactory(tenant=tenant, slug=f"{slug}-payment-api", name="Payment API"),
            "p2": ProductFactory(tenant=tenant, slug=f"{slug}-refund-api", name="Refund API"),
        }
        gateways = {
            "g1": GatewayFactory(tenant=tenant, name="edge"),
            "g2": GatewayFactory(tenant=tenant, name="internal"),
        }
        for key, gateway in gateways.items():
            world.add(f"{prefix}.{key}", gateway)
            world.add(f"{prefix}.{key}.http", ListenerFactory(gateway=gateway))
        customers = {
            "c1": Customer.objects.create(tenant=tenant, name="Shop", slug="shop"),
            "c2": Customer.objects.create(tenant=tenant, name="Bank", slug="bank"),
        }
        for number in ("1", "2"):
            product = world.add(f"{prefix}.p{number}", products[f"p{number}"])
            customer = world.add(f"{prefix}.c{number}", customers[f"c{number}"])
            world.add(
                f"{prefix}.s{number}",
                Subscription.objects.create(customer=customer, product=product, environment="dev"),
            )
            publish = world.add(
                f"{prefix}.pp{number}",
                ProductPublishFactory(
                    tenant=tenant,
                    product=product,
                    gateway=gateways[f"g{number}"],
                    cluster=clusters[f"k{number}"],
                ),
            )
            publish.api_services.set([service])
            world.add(
                f"{prefix}.rev{number}",
                PublishRevision.objects.create(
                    publish=publish, number=1, spec={}, content_hash="0" * 64, action="publish"
                ),
            )
            world.add(
                f"{prefix}.dep{number}",
                DeploymentStatus.objects.create(
                    publish=publish, publish_ref=publish.pk, cluster=clusters[f"k{number}"]
                ),
            )
        world.add(
            f"{prefix}.grant",
            RoleGrant.objects.create(user=member, role="api-developer", scope="org", tenant=tenant),
        )
    return world


SCOPE_OBJECTS = {
    "org": "A.tenant",
    "gateway": "A.g1",
    "product": "A.p1",
    "customer": "A.c1",
    "subscription": "A.s1",
}


def grant_role(world: World, role: str, scope: str, username: str = "persona"):
    """A staff user holding one grant, saved the way the console saves it."""
    user = get_user_model().objects.create_user(username, is_staff=True)
    grant = RoleGrant(user=user, role=role, scope=scope)
    if scope != "system":
        setattr(grant, rbac.SCOPE_FIELDS[scope], world[SCOPE_OBJECTS[scope]])
    grant.full_clean()
    rbac.save_object(grant)
    world.add("own", grant)
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.django_db
def test_both_tenants_hold_the_same_names():
    world = build_world()
    for key in world.objects:
        if key.startswith("A."):
            twin = world["B." + key[2:]]
            assert type(twin) is type(world[key]) and twin.pk != world[key].pk
            # Publishes (and their revisions) are shown by product slug, which no two tenants
            # share: slugs name public hostnames.
            if key not in {"A.tenant", "A.grant", "A.dep1", "A.dep2", "A.pp1", "A.pp2",
                           "A.rev1", "A.rev2"}:
                assert str(twin) == str(world[key])
