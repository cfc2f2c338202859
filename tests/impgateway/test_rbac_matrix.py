"""Table-driven: every role at every scope it can be granted at, every model, every action (view,
add, change, delete, publish), allowed and denied, through the admin and through the API base
class (ScopedModelViewSet, with test-only viewsets over a few models).

The expected table below is written out by hand, apart from impgateway/rbac.py: it is the
specification the code is held to."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import include, path, reverse
from rest_framework import routers, serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.test import APIClient

from catalog.models import APIService, Route, Subscription
from clusters.models import Cluster
from impgateway.api import ScopedModelViewSet
from impgateway.models import ROLE_SCOPES
from publishing.models import ProductPublish, PublishRevision

from .test_rbac_world import build_world, grant_role

# --- the specification ------------------------------------------------------------------------

#                             system  org     gateway developer business customer consumer
ROLES = (
    "system-admin",
    "org-admin",
    "gateway-owner",
    "api-developer",
    "business-manager",
    "customer-admin",
    "api-consumer",
)
_ACTIONS_BY_MODEL = {
    "catalog.tenant": ("vacd", "vc", "v", "v", "v", "v", "v"),
    "catalog.apiservice": ("vacd", "vacd", "", "vacd", "v", "", ""),
    "catalog.route": ("vacd", "vacd", "", "vacd", "v", "", ""),
    "catalog.backend": ("vacd", "vacd", "", "vacd", "v", "", ""),
    "catalog.policy": ("vacd", "vacd", "", "vacd", "v", "", ""),
    "catalog.product": ("vacd", "vacd", "v", "v", "vacd", "v", "v"),
    "catalog.gateway": ("vacd", "vacd", "vacd", "v", "", "", ""),
    "catalog.listener": ("vacd", "vacd", "vacd", "v", "", "", ""),
    "catalog.customer": ("vacd", "vacd", "", "", "vacd", "vc", "v"),
    "catalog.subscription": ("vacd", "vacd", "", "", "vacd", "vacd", "v"),
    "catalog.apikey": ("vacd", "vc", "", "", "vc", "vacd", "vacd"),
    "publishing.productpublish": ("vacdp", "vacdp", "v", "vacdp", "v", "", ""),
    "publishing.publishrevision": ("v", "v", "v", "v", "v", "", ""),
    "publishing.deploymentstatus": ("v", "v", "v", "v", "v", "", ""),
    "publishing.hostnameclaim": ("v", "v", "v", "v", "v", "", ""),
    "clusters.cluster": ("vacd", "v", "v", "v", "v", "", ""),
    "clusters.agent": ("vacd", "", "", "", "", "", ""),
    "clusters.registrationtoken": ("vacd", "", "", "", "", "", ""),
    "impgateway.rolegrant": ("vacd", "v", "", "", "", "", ""),
    "impgateway.auditevent": ("v", "v", "v", "v", "v", "v", "v"),
}
LETTERS = {"view": "v", "add": "a", "change": "c", "delete": "d", "publish": "p"}


def role_may(role: str, label: str, act: str) -> bool:
    return LETTERS[act] in _ACTIONS_BY_MODEL[label][ROLES.index(role)]


_A = {
    "A.tenant",
    "A.service",
    "A.route",
    "A.backend",
    "A.policy",
    "A.p1",
    "A.p2",
    "A.g1",
    "A.g1.http",
    "A.g2",
    "A.g2.http",
    "A.c1",
    "A.c2",
    "A.s1",
    "A.s2",
    "A.pp1",
    "A.pp2",
    "A.rev1",
    "A.rev2",
    "A.dep1",
    "A.dep2",
    "A.grant",
}
# What each scope reaches (of the scope granted in tests.impgateway.test_rbac_world).
REACH = {
    "system": None,  # everything
    "org": _A | {"own", "k1", "k2"},
    "gateway": {"A.tenant", "A.g1", "A.g1.http", "A.pp1", "A.rev1", "A.dep1", "k1"},
    "product": {"A.tenant", "A.p1", "A.pp1", "A.rev1", "A.dep1", "k1", "A.c1", "A.s1"},
    "customer": {"A.tenant", "A.c1", "A.s1", "A.p1", "A.p2"},
    "subscription": {"A.tenant", "A.s1", "A.c1", "A.p1"},
}
# Whoever may create publishes chooses among every cluster.
SEES_EVERY_CLUSTER = {("org-admin", "org"), ("api-developer", "org")}
# Below org, a new object lands in the scope only through one of its own foreign keys.
ADDABLE_BELOW_ORG = {
    "gateway": {"catalog.listener"},
    "product": {"catalog.subscription", "catalog.apikey", "publishing.productpublish"},
    "customer": {"catalog.subscription", "catalog.apikey"},
    "subscription": {"catalog.apikey"},
}

CASES = [(role, scope) for role in ROLES for scope in ROLE_SCOPES[role]]


def visible(world, role: str, scope: str, label: str) -> set[str]:
    model = _model(label)
    keys = world.keys_of(model)
    if not role_may(role, label, "view"):
        return set()
    if REACH[scope] is None:
        return keys
    if label == "clusters.cluster" and (role, scope) in SEES_EVERY_CLUSTER:
        return keys
    return keys & REACH[scope]


def may_add(role: str, scope: str, label: str) -> bool:
    if not role_may(role, label, "add"):
        return False
    return scope in {"system", "org"} or label in ADDABLE_BELOW_ORG[scope]


def _model(label: str):
    from django.apps import apps

    return apps.get_model(label)


def test_the_specification_covers_every_scoped_model():
    from impgateway import rbac

    assert set(_ACTIONS_BY_MODEL) == set(rbac.MATRIX_BY_MODEL) - {"auth.user", "auth.group"}
    assert set(CASES) == {(r, s) for r, scopes in ROLE_SCOPES.items() for s in scopes}


# --- through the admin ------------------------------------------------------------------------


def _superuser_request():
    request = RequestFactory().get("/")
    request.user = get_user_model()(username="root", is_superuser=True, is_staff=True)
    return request


def _admin_url(obj_or_model, view: str, *args) -> str:
    opts = obj_or_model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "scope"), CASES, ids=[f"{r}@{s}" for r, s in CASES])
def test_admin_follows_the_matrix(role, scope, client):
    world = build_world()
    user = grant_role(world, role, scope)
    client.force_login(user)
    root = _superuser_request()
    wrong: list[str] = []

    def check(what: str, got, expected) -> None:
        if got != expected:
            wrong.append(f"{what}: got {got!r}, expected {expected!r}")

    for label in _ACTIONS_BY_MODEL:
        model = _model(label)
        model_admin = admin.site._registry[model]
        seen = visible(world, role, scope, label)
        response = client.get(_admin_url(model, "changelist"))
        # Every role has the audit trail; its rows are the events of objects the user sees.
        listable = bool(seen) or label == "impgateway.auditevent"
        # The world holds no API keys (they need the services): roles that view keys list none.
        listable = listable or (not world.keys_of(model) and role_may(role, label, "view"))
        check(f"{label} changelist", response.status_code, 200 if listable else 403)
        if response.status_code == 200:
            listed = {obj.pk for obj in response.context["cl"].result_list}
            check(f"{label} changelist rows", world.keys_for_pks(model, listed), seen)
        add_expected = may_add(role, scope, label) and model_admin.has_add_permission(root)
        response = client.get(_admin_url(model, "add"))
        check(f"{label} add page", response.status_code, 200 if add_expected else 403)

        for key in sorted(world.keys_of(model)):
            obj = world[key]
            response = client.get(_admin_url(obj, "change", obj.pk))
            if key not in seen:
                # Outside the user's scopes an object reads as missing, exactly like a
                # primary key that does not exist: refused without the right at all.
                check(f"{key} change page", response.status_code, 302 if seen else 403)
                # Models that nobody deletes by hand in the console (subscriptions are
                # cancelled, keys revoked) refuse the page before looking the object up.
                deletes = (
                    role_may(role, label, "delete")
                    and bool(seen)
                    and model_admin.has_delete_permission(root)
                )
                response = client.get(_admin_url(obj, "delete", obj.pk))
                check(f"{key} delete page", response.status_code, 302 if deletes else 403)
                continue
            check(f"{key} change page", response.status_code, 200)
            context = response.context
            for act, flag in (
                ("change", "has_change_permission"),
                ("delete", "has_delete_permission"),
            ):
                expected = role_may(role, label, act) and getattr(model_admin, flag)(root, obj)
                check(f"{key} {act}", context[flag], expected)
            delete_status = client.get(_admin_url(obj, "delete", obj.pk)).status_code
            expected = role_may(role, label, "delete") and model_admin.has_delete_permission(
                root, obj
            )
            check(f"{key} delete page", delete_status, 200 if expected else 403)
            if label == "publishing.productpublish":
                request = RequestFactory().get("/")
                request.user = get_user_model().objects.get(pk=user.pk)
                check(
                    f"{key} publish",
                    model_admin.has_publish_permission(request, obj),
                    role_may(role, label, "publish"),
                )
    assert wrong == [], "\n".join(wrong)


# --- through the API base class -----------------------------------------------------------------


class APIServiceSerializer(serializers.ModelSerializer):
    class Meta:
        model = APIService
        fields = ("id", "tenant", "name", "version", "description")


class RouteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Route
        fields = ("id", "service", "name", "path", "backend")


class SubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Subscription
        fields = ("id", "customer", "product", "environment", "status")


class ProductPublishSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProductPublish
        fields = ("id", "tenant", "product", "api_services", "gateway", "cluster", "environment")


class ClusterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Cluster
        fields = ("id", "name", "region", "cloud_provider")


class PublishRevisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PublishRevision
        fields = ("id", "publish", "number")
        read_only_fields = fields


class APIServiceViewSet(ScopedModelViewSet):
    queryset = APIService.objects.all()
    serializer_class = APIServiceSerializer


class RouteViewSet(ScopedModelViewSet):
    queryset = Route.objects.all()
    serializer_class = RouteSerializer


class SubscriptionViewSet(ScopedModelViewSet):
    queryset = Subscription.objects.all()
    serializer_class = SubscriptionSerializer


class ProductPublishViewSet(ScopedModelViewSet):
    queryset = ProductPublish.objects.all()
    serializer_class = ProductPublishSerializer
    rbac_actions = {"publish": "publish"}

    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        return Response({"id": self.get_object().pk, "accepted": True})


class ClusterViewSet(ScopedModelViewSet):
    queryset = Cluster.objects.all()
    serializer_class = ClusterSerializer


class PublishRevisionViewSet(ScopedModelViewSet):
    queryset = PublishRevision.objects.all()
    serializer_class = PublishRevisionSerializer


router = routers.SimpleRouter()
router.register("services", APIServiceViewSet)
router.register("routes", RouteViewSet)
router.register("subscriptions", SubscriptionViewSet)
router.register("publishes", ProductPublishViewSet)
router.register("clusters", ClusterViewSet)
router.register("revisions", PublishRevisionViewSet)

urlpatterns = [
    path("test-api/", include(router.urls)),
    path("", include("impgateway.urls")),
]

API_MODELS = {
    "catalog.apiservice": "services",
    "catalog.route": "routes",
    "catalog.subscription": "subscriptions",
    "publishing.productpublish": "publishes",
    "clusters.cluster": "clusters",
    "publishing.publishrevision": "revisions",
}
# Deleting in this order leaves nothing protected behind the next model.
DELETE_ORDER = (
    "catalog.route",
    "catalog.subscription",
    "publishing.publishrevision",
    "publishing.productpublish",
    "catalog.apiservice",
    "clusters.cluster",
)


def _payloads(world) -> dict[str, tuple[dict, dict]]:
    """A new object in Acme for each API model, and a harmless change of an existing one."""
    return {
        "catalog.apiservice": (
            {"tenant": world["A.tenant"].pk, "name": "new-service"},
            {"description": "changed"},
        ),
        "catalog.route": (
            {"service": world["A.service"].pk, "name": "new-route", "path": "/v1/new"},
            {"path": "/v1/changed"},
        ),
        "catalog.subscription": (
            {"customer": world["A.c1"].pk, "product": world["A.p1"].pk, "environment": "staging"},
            {"status": "active"},
        ),
        "publishing.productpublish": (
            {
                "tenant": world["A.tenant"].pk,
                "product": world["A.p1"].pk,
                "gateway": world["A.g1"].pk,
                "cluster": world["k3"].pk,
                "environment": "prod",
                "api_services": [world["A.service"].pk],
            },
            {"environment": "dev"},
        ),
        "clusters.cluster": (
            {"name": "cluster-new", "region": "new", "cloud_provider": "aws"},
            {"region": "changed"},
        ),
        "publishing.publishrevision": ({"publish": world["A.pp1"].pk, "number": 9}, {"number": 1}),
    }


def _expected(role: str, label: str, key: str, seen: set[str], act: str) -> int:
    """The status a request for `act` on one object must get: refused outright without the
    right anywhere, not found outside the user's scopes, done inside them."""
    if not (role_may(role, label, act) and seen):
        return 403
    if key not in seen:
        return 404
    return 204 if act == "delete" else 200


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("role", "scope"), CASES, ids=[f"{r}@{s}" for r, s in CASES])
def test_api_follows_the_matrix(role, scope):
    world = build_world()
    user = grant_role(world, role, scope)
    api = APIClient()
    api.force_login(user)
    payloads = _payloads(world)
    wrong: list[str] = []

    def check(what: str, got, expected) -> None:
        if got != expected:
            wrong.append(f"{what}: got {got!r}, expected {expected!r}")

    seen_by_label = {label: visible(world, role, scope, label) for label in API_MODELS}
    for label, prefix in API_MODELS.items():
        model = _model(label)
        seen = seen_by_label[label]
        response = api.get(f"/test-api/{prefix}/")
        check(f"{label} list", response.status_code, 200 if seen else 403)
        if response.status_code == 200:
            listed = {item["id"] for item in response.json()["results"]}
            check(f"{label} list rows", world.keys_for_pks(model, listed), seen)
        for key in sorted(world.keys_of(model)):
            obj = world[key]
            response = api.get(f"/test-api/{prefix}/{obj.pk}/")
            check(
                f"{key} retrieve", response.status_code, _expected(role, label, key, seen, "view")
            )
            before = model.objects.filter(pk=obj.pk).values().first()
            response = api.patch(f"/test-api/{prefix}/{obj.pk}/", payloads[label][1], format="json")
            check(
                f"{key} change", response.status_code, _expected(role, label, key, seen, "change")
            )
            if response.status_code != 200:
                check(f"{key} unchanged", model.objects.filter(pk=obj.pk).values().first(), before)
            if label == "publishing.productpublish":
                response = api.post(f"/test-api/{prefix}/{obj.pk}/publish/")
                expected = _expected(role, label, key, seen, "publish")
                check(f"{key} publish", response.status_code, expected)

        add = may_add(role, scope, label)
        response = api.post(f"/test-api/{prefix}/", payloads[label][0], format="json")
        check(f"{label} add", response.status_code, 201 if add else 403)
        if response.status_code == 201:
            # An object created in the scope is the creator's to see and change at once.
            created = response.json()["id"]
            check(
                f"{label} new object readable",
                api.get(f"/test-api/{prefix}/{created}/").status_code,
                200,
            )
            model.objects.filter(pk=created).delete()

    for label in DELETE_ORDER:
        model = _model(label)
        prefix = API_MODELS[label]
        seen = seen_by_label[label]
        for key in sorted(world.keys_of(model)):
            obj = world[key]
            response = api.delete(f"/test-api/{prefix}/{obj.pk}/")
            check(
                f"{key} delete", response.status_code, _expected(role, label, key, seen, "delete")
            )
            exists = model.objects.filter(pk=obj.pk).exists()
            check(f"{key} exists after delete", exists, response.status_code != 204)
    assert wrong == [], "\n".join(wrong)
