"""One path for every state change: the console and the API change state only through the same
service functions, so for every persona (each role at each scope it is granted at, and two
outsiders) and every state-changing operation, a change the API refuses the console refuses
and the other way round, and both record the same audit event (action, object, user; source
api or console) and bump the same clusters' desired-state revisions. Then: the console offers
no state field as editable, and a forged POST with one changes nothing (nor does the API).

Each path runs in a transaction that is rolled back once measured, so the API and the console
start from the same state; the bumps the services queue for the commit are run inside it
(`django_capture_on_commit_callbacks`), so the revisions measured are the real ones.
The expected table below is written out by hand from the role matrix (docs/rbac.md) and the
decision rule (only the product's provider approves or rejects)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import services as catalog
from catalog.models import APIKey, Backend, Customer, Subscription
from clusters.models import Agent, Cluster, RegistrationToken
from clusters.services import create_registration_token
from impgateway import rbac
from impgateway.models import ROLE_SCOPES, AuditEvent, RoleGrant
from publishing import services as publishing
from publishing.models import ProductPublish
from tests.factories import (
    AgentFactory,
    APIServiceFactory,
    BackendFactory,
    ClusterFactory,
    CustomerFactory,
    GatewayFactory,
    ListenerFactory,
    ProductFactory,
    ProductPublishFactory,
    RouteFactory,
    TenantFactory,
)

# Bumps are queued for the commit: these tests commit, then measure inside a rolled-back block.
pytestmark = pytest.mark.django_db(transaction=True)

# --- the world ------------------------------------------------------------------------------


def build_world() -> dict[str, models.Model]:
    """Acme publishes product P (approval needed) with API keys on k1 in prod (PP, revisions
    r1 and r2) and staging; product Q (no approval) waits as a draft (PD) for k2; k3 is free.
    Customer C1 holds an active subscription to P in prod with key K and a pending one in
    staging; C2 is another customer; C3 (to be deleted) holds an active subscription with a
    key. Agents on k1: one enabled, one disabled; one registration token."""
    w: dict[str, models.Model] = {}
    w["k1"] = ClusterFactory(name="cluster-one", region="one")
    w["k2"] = ClusterFactory(name="cluster-two", region="two")
    w["k3"] = ClusterFactory(name="cluster-three", region="three")
    w["acme"] = acme = TenantFactory(slug="acme", name="Acme")
    w["globex"] = TenantFactory(slug="globex", name="Globex")
    w["service"] = service = APIServiceFactory(tenant=acme, name="payments")
    backend = BackendFactory(service=service, name="main")
    RouteFactory(service=service, backend=backend, name="list", path="/v1/payments")
    w["G1"], w["G2"] = GatewayFactory(tenant=acme, name="edge"), GatewayFactory(tenant=acme)
    for gateway in (w["G1"], w["G2"]):
        ListenerFactory(gateway=gateway)
    w["P"] = ProductFactory(tenant=acme, slug="payment-api", requires_approval=True)
    w["Q"] = ProductFactory(tenant=acme, slug="refund-api", requires_approval=False)

    def publish(key: str, product, gateway, cluster, environment: str) -> ProductPublish:
        w[key] = item = ProductPublishFactory(
            tenant=acme,
            product=product,
            gateway=gateway,
            cluster=cluster,
            environment=environment,
            auth_mode="apikey",
        )
        item.api_services.set([service])
        return item

    publishing.publish_revision(publish("PP", w["P"], w["G1"], w["k1"], "prod"))
    Backend.objects.filter(pk=backend.pk).update(timeout_seconds=30)
    publishing.publish_revision(w["PP"])  # r2, so that there is a revision to roll back to
    publishing.publish_revision(publish("PP_staging", w["P"], w["G1"], w["k1"], "staging"))
    publish("PD", w["Q"], w["G2"], w["k2"], "prod")
    for key, slug in (("C1", "shop"), ("C2", "bank"), ("C3", "gone")):
        w[key] = CustomerFactory(tenant=acme, slug=slug, name=slug.title())
    w["S_active"] = catalog.approve_subscription(
        catalog.request_subscription(w["C1"], w["P"], "prod")
    )
    w["K"] = catalog.create_api_key(w["S_active"], "ci").key
    w["S_pending"] = catalog.request_subscription(w["C1"], w["P"], "staging")
    w["S3"] = catalog.approve_subscription(catalog.request_subscription(w["C3"], w["P"], "prod"))
    catalog.create_api_key(w["S3"], "ci")
    w["A_on"] = AgentFactory(cluster=w["k1"], name="agent-0")
    w["A_off"] = AgentFactory(cluster=w["k1"], name="agent-1", enabled=False)
    w["T"] = create_registration_token(w["k1"])[0]
    for obj in w.values():
        obj.refresh_from_db()
    return w


# Every role at every scope it can be granted at, on Acme's objects, and two outsiders.
SCOPE_OBJECTS = {
    "org": "acme",
    "gateway": "G1",
    "product": "P",
    "customer": "C1",
    "subscription": "S_active",
}
PERSONAS = {
    f"{role}@{scope}": (role, scope, SCOPE_OBJECTS.get(scope))
    for role, scopes in ROLE_SCOPES.items()
    for scope in scopes
}
PERSONAS["org-admin@globex"] = ("org-admin", "org", "globex")
PERSONAS["customer-admin@bank"] = ("customer-admin", "customer", "C2")


def persona_user(world: dict, name: str):
    role, scope, target = PERSONAS[name]
    user = get_user_model().objects.create_user(name.replace("@", "."), is_staff=True)
    grant = RoleGrant(user=user, role=role, scope=scope)
    if target is not None:
        scope_object = world[target]
        setattr(grant, rbac.SCOPE_FIELDS[scope], scope_object)
        if scope == "org":
            grant.tenant = scope_object
        elif scope == "subscription":
            grant.tenant = scope_object.customer.tenant
        else:
            grant.tenant = scope_object.tenant
    grant.full_clean()
    rbac.save_object(grant)
    return get_user_model().objects.get(pk=user.pk)


# --- the operations -------------------------------------------------------------------------

SYSTEM = {"system-admin@system"}
PROVIDERS = {"org-admin@org", "business-manager@org", "business-manager@product"}
CUSTOMER_ADMINS = {"customer-admin@org", "customer-admin@customer"}
CONSUMERS = {"api-consumer@customer", "api-consumer@subscription"}
PUBLISHERS = {"org-admin@org", "api-developer@org"}


def api_post(url: str, data: dict | None = None):
    return lambda api, w: api.post(url.format(**{k: v.pk for k, v in w.items()}), data or {},
                                   format="json")


def api_delete(url: str):
    return lambda api, w: api.delete(url.format(**{k: v.pk for k, v in w.items()}))


def console_post(name: str, key: str | None = None, *extra, data: dict | None = None):
    """POST to the admin URL `name` (of object `key`), with data built from the world."""

    def run(client: Client, w: dict):
        args = ([w[key].pk] if key else []) + list(extra)
        body = data(w) if callable(data) else (data or {})
        return client.post(reverse(f"admin:{name}", args=args), body)

    return run


def console_action(model: str, action: str, key: str):
    """An admin action on the changelist, with one object selected."""
    return lambda client, w: client.post(
        reverse(f"admin:{model}_changelist"), {"action": action, "_selected_action": [w[key].pk]}
    )


def console_button(model: str, action: str, key: str):
    """The same action as the button on the object's page."""
    return lambda client, w: client.post(
        reverse(f"admin:{model}_object_action", args=[w[key].pk, action])
    )


def console_delete(model: str, key: str):
    return lambda client, w: client.post(
        reverse(f"admin:{model}_delete", args=[w[key].pk]), {"post": "yes"}
    )


NO_INLINES = {
    f"{prefix}-{name}": value
    for prefix in ("deployments", "revisions")
    for name, value in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0), ("MAX_NUM_FORMS", 1000))
}


def _subscriptions(w, customer: str, product: str, environment: str):
    return tuple(
        Subscription.objects.filter(
            customer=w[customer], product=w[product], environment=environment
        ).values_list("status", "requested_by__username")
    )


def _subscription(w, key: str):
    row = Subscription.objects.filter(pk=w[key].pk).values_list(
        "status", "decided_by__username", "decided_at"
    )
    return tuple((status, decider, at is not None) for status, decider, at in row) or None


def _keys(w, subscription: str, name: str):
    now = timezone.now()
    return tuple(
        (key.name, key.status_at(now))
        for key in APIKey.objects.filter(subscription=w[subscription], name=name)
    )


def _key(w, key: str):
    item = APIKey.objects.filter(pk=w[key].pk).first()
    if item is None:
        return None
    return (
        item.prefix != w[key].prefix,
        item.previous_valid_until is not None,
        item.revoked_at is not None,
    )


def _publish(w, key: str):
    row = ProductPublish.objects.filter(pk=w[key].pk).values_list(
        "status", "cluster__name", "current_revision__number", "current_revision__rolled_back_from"
    )
    return tuple(row) or None


@dataclass(frozen=True)
class Operation:
    """One state change: how the API and the console ask for it, who may, what it records
    (action, model, world key or "new") and which clusters it bumps."""

    name: str
    api: Callable
    console: tuple[Callable, ...]
    state: Callable[[dict], object]
    allowed: frozenset[str]
    events: tuple[tuple[str, str, str], ...] = ()
    bumps: frozenset[str] = field(default_factory=frozenset)


def op(name, api, console, state, allowed=(), events=(), bumps=()) -> Operation:
    return Operation(
        name, api, tuple(console), state, frozenset(allowed), tuple(events), frozenset(bumps)
    )


SUB = "catalog_subscription"
KEY = "catalog_apikey"
PUB = "publishing_productpublish"
AGENT = "clusters_agent"
TOKEN = "clusters_registrationtoken"

def _request_payload(w):
    return {
        "customer": w["C1"].pk,
        "product": w["Q"].pk,
        "environment": "prod",
        "status": "pending",
    }


def _publish_payload(w):
    return {
        "tenant": w["acme"].pk,
        "product": w["Q"].pk,
        "api_services": [w["service"].pk],
        "gateway": w["G2"].pk,
        "cluster": w["k3"].pk,
        "environment": "staging",
        "auth_mode": "none",
        "status": "PUBLISHED",
    }


def _publish_form(w):
    return {
        **_publish_payload(w),
        "oauth2_issuer": "",
        "oauth2_jwks_uri": "",
        "oauth2_audiences": "[]",
        **NO_INLINES,
    }


def _api_with(payload: Callable[[dict], dict], url: str):
    return lambda api, w: api.post(url, payload(w), format="json")


OPERATIONS = [
    op(
        "subscription.request",
        _api_with(_request_payload, "/api/v1/subscriptions/"),
        [console_post(f"{SUB}_add", data=_request_payload)],
        lambda w: _subscriptions(w, "C1", "Q", "prod"),
        SYSTEM | CUSTOMER_ADMINS | {"org-admin@org", "business-manager@org"},
        [("create", "catalog.subscription", "new")],
    ),
    op(
        "subscription.approve",
        api_post("/api/v1/subscriptions/{S_pending}/approve/"),
        [
            console_action(SUB, "approve_subscriptions", "S_pending"),
            console_button(SUB, "approve_subscriptions", "S_pending"),
        ],
        lambda w: _subscription(w, "S_pending"),
        SYSTEM | PROVIDERS,
        [("update", "catalog.subscription", "S_pending")],
        {"k1"},
    ),
    op(
        "subscription.reject",
        api_post("/api/v1/subscriptions/{S_pending}/reject/"),
        [
            console_action(SUB, "reject_subscriptions", "S_pending"),
            console_button(SUB, "reject_subscriptions", "S_pending"),
        ],
        lambda w: _subscription(w, "S_pending"),
        SYSTEM | PROVIDERS,
        [("update", "catalog.subscription", "S_pending")],
    ),
    op(
        "subscription.cancel",
        api_post("/api/v1/subscriptions/{S_active}/cancel/"),
        [
            console_action(SUB, "cancel_subscriptions", "S_active"),
            console_button(SUB, "cancel_subscriptions", "S_active"),
        ],
        lambda w: (_subscription(w, "S_active"), _key(w, "K")),
        SYSTEM | PROVIDERS | CUSTOMER_ADMINS,
        [("update", "catalog.subscription", "S_active")],
        {"k1"},
    ),
    op(
        "subscription.delete",
        api_delete("/api/v1/subscriptions/{S_active}/"),
        [console_delete(SUB, "S_active")],
        lambda w: _subscription(w, "S_active"),
    ),
    op(
        "apikey.create",
        _api_with(lambda w: {"subscription": w["S_active"].pk, "name": "new"}, "/api/v1/api-keys/"),
        [
            console_post(
                f"{KEY}_add",
                data=lambda w: {
                    "subscription": w["S_active"].pk,
                    "name": "new",
                    "expires_at_0": "",
                    "expires_at_1": "",
                    "revoked_at": "2001-01-01 00:00",
                },
            )
        ],
        lambda w: _keys(w, "S_active", "new"),
        SYSTEM | CUSTOMER_ADMINS | CONSUMERS,
        [("create", "catalog.apikey", "new")],
        {"k1"},
    ),
    # A key of a pending subscription waits for the approval: no cluster serves it yet, and
    # it reads "pending" wherever it is shown.
    op(
        "apikey.create-while-pending",
        _api_with(
            lambda w: {"subscription": w["S_pending"].pk, "name": "new"}, "/api/v1/api-keys/"
        ),
        [
            console_post(
                f"{KEY}_add",
                data=lambda w: {
                    "subscription": w["S_pending"].pk,
                    "name": "new",
                    "expires_at_0": "",
                    "expires_at_1": "",
                },
            )
        ],
        lambda w: _keys(w, "S_pending", "new"),
        SYSTEM | CUSTOMER_ADMINS | {"api-consumer@customer"},
        [("create", "catalog.apikey", "new")],
    ),
    op(
        "apikey.rotate",
        api_post("/api/v1/api-keys/{K}/rotate/"),
        [console_action(KEY, "rotate_keys", "K"), console_button(KEY, "rotate_keys", "K")],
        lambda w: _key(w, "K"),
        SYSTEM | CUSTOMER_ADMINS | CONSUMERS,
        [("update", "catalog.apikey", "K")],
        {"k1"},
    ),
    op(
        "apikey.revoke",
        api_post("/api/v1/api-keys/{K}/revoke/"),
        [console_action(KEY, "revoke_keys", "K"), console_button(KEY, "revoke_keys", "K")],
        lambda w: _key(w, "K"),
        SYSTEM | PROVIDERS | CUSTOMER_ADMINS | CONSUMERS,
        [("update", "catalog.apikey", "K")],
        {"k1"},
    ),
    op(
        "apikey.delete",
        api_delete("/api/v1/api-keys/{K}/"),
        [console_delete(KEY, "K")],
        lambda w: _key(w, "K"),
    ),
    op(
        "publish.create",
        _api_with(_publish_payload, "/api/v1/publishes/"),
        [console_post(f"{PUB}_add", data=_publish_form)],
        lambda w: tuple(
            ProductPublish.objects.filter(product=w["Q"], cluster=w["k3"]).values_list(
                "environment", "status", "current_revision", "api_services__name"
            )
        ),
        SYSTEM | PUBLISHERS,
        [("create", "publishing.productpublish", "new")],
    ),
    op(
        "publish.publish",
        api_post("/api/v1/publishes/{PD}/publish/"),
        [
            console_post(f"{PUB}_publish", "PD"),
            console_action(PUB, "publish_selected", "PD"),
        ],
        lambda w: _publish(w, "PD"),
        SYSTEM | PUBLISHERS,
        [("publish", "publishing.productpublish", "PD")],
        {"k2"},
    ),
    op(
        "publish.withdraw",
        api_post("/api/v1/publishes/{PP}/withdraw/"),
        [
            console_post(f"{PUB}_withdraw", "PP"),
            console_action(PUB, "withdraw_selected", "PP"),
        ],
        lambda w: _publish(w, "PP"),
        SYSTEM | PUBLISHERS,
        [("withdraw", "publishing.productpublish", "PP")],
        {"k1"},
    ),
    op(
        "publish.rollback",
        api_post("/api/v1/publishes/{PP}/rollback/", {"revision": 1}),
        [console_post(f"{PUB}_rollback", "PP", 1)],
        lambda w: _publish(w, "PP"),
        SYSTEM | PUBLISHERS,
        [("rollback", "publishing.productpublish", "PP")],
        {"k1"},
    ),
    op(
        "publish.move",
        lambda api, w: api.post(
            f"/api/v1/publishes/{w['PP'].pk}/move/", {"cluster": w["k3"].pk}, format="json"
        ),
        [console_post(f"{PUB}_move", "PP", data=lambda w: {"cluster": w["k3"].pk})],
        lambda w: _publish(w, "PP"),
        SYSTEM | PUBLISHERS,
        [
            ("move", "publishing.productpublish", "PP"),
            ("publish", "publishing.productpublish", "PP"),
        ],
        {"k1", "k3"},
    ),
    op(
        "publish.delete",
        api_delete("/api/v1/publishes/{PP}/"),
        [console_delete(PUB, "PP")],
        lambda w: _publish(w, "PP"),
        SYSTEM | PUBLISHERS,
        [("delete", "publishing.productpublish", "PP")],
        {"k1"},
    ),
    op(
        "agent.disable",
        api_post("/api/v1/agents/{A_on}/disable/"),
        [
            console_action(AGENT, "disable_agents", "A_on"),
            console_button(AGENT, "disable_agents", "A_on"),
        ],
        lambda w: tuple(
            Agent.objects.filter(pk=w["A_on"].pk).values_list(
                "enabled", "status", "token_generation"
            )
        ),
        SYSTEM,
        [("update", "clusters.agent", "A_on")],
        {"k1"},  # its cluster's long-polls wake, so its own wait ends with 401 at once
    ),
    op(
        "agent.enable",
        api_post("/api/v1/agents/{A_off}/enable/"),
        [
            console_action(AGENT, "enable_agents", "A_off"),
            console_button(AGENT, "enable_agents", "A_off"),
        ],
        lambda w: tuple(Agent.objects.filter(pk=w["A_off"].pk).values_list("enabled")),
        SYSTEM,
        [("update", "clusters.agent", "A_off")],
    ),
    op(
        "agent.delete",
        api_delete("/api/v1/agents/{A_on}/"),
        [console_delete(AGENT, "A_on")],
        lambda w: Agent.objects.filter(pk=w["A_on"].pk).exists(),
        SYSTEM,
        [("delete", "clusters.agent", "A_on")],
        {"k1"},  # as for disabling: its waits end at once
    ),
    op(
        "registrationtoken.create",
        _api_with(
            lambda w: {"cluster": w["k1"].pk, "description": "new", "ttl_seconds": 3600},
            "/api/v1/registration-tokens/",
        ),
        [
            console_post(
                f"{TOKEN}_add",
                data=lambda w: {"cluster": w["k1"].pk, "description": "new", "ttl": "3600"},
            )
        ],
        lambda w: tuple(
            RegistrationToken.objects.filter(cluster=w["k1"], description="new").values_list(
                "used_at", "agent"
            )
        ),
        SYSTEM,
        [("create", "clusters.registrationtoken", "new")],
    ),
    op(
        "registrationtoken.delete",
        api_delete("/api/v1/registration-tokens/{T}/"),
        [console_delete(TOKEN, "T")],
        lambda w: RegistrationToken.objects.filter(pk=w["T"].pk).exists(),
        SYSTEM,
        [("delete", "clusters.registrationtoken", "T")],
    ),
    # Its subscriptions and keys go with it: the clusters that served the keys are bumped.
    op(
        "customer.delete",
        api_delete("/api/v1/customers/{C3}/"),
        [console_delete("catalog_customer", "C3")],
        lambda w: (
            Customer.objects.filter(pk=w["C3"].pk).exists(),
            APIKey.objects.filter(subscription__customer=w["C3"]).count(),
        ),
        SYSTEM | {"org-admin@org", "business-manager@org", "business-manager@product"},
        [("delete", "catalog.customer", "C3")],
        {"k1"},
    ),
]


# --- measuring one path ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    state: object
    done: bool
    events: tuple[tuple[str, str, str], ...]
    usernames: frozenset[str]
    sources: frozenset[str]
    bumps: frozenset[str]


def _object_key(world: dict, event: AuditEvent) -> str:
    model = event.content_type.model_class()
    for key, obj in world.items():
        if type(obj) is model and obj.pk == event.object_id:
            return key
    return "new"


def measure(world: dict, operation: Operation, run: Callable, capture) -> Outcome:
    """Run one path in a transaction that is rolled back afterwards; what it did."""
    clusters = {key: obj for key, obj in world.items() if isinstance(obj, Cluster)}
    with transaction.atomic():
        before = operation.state(world)
        revisions = dict(Cluster.objects.values_list("pk", "desired_state_revision"))
        last_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        with capture(execute=True):
            run()
        after = operation.state(world)
        now = dict(Cluster.objects.values_list("pk", "desired_state_revision"))
        events = list(
            AuditEvent.objects.filter(pk__gt=last_event).select_related("content_type").order_by(
                "pk"
            )
        )
        outcome = Outcome(
            state=after,
            done=after != before,
            events=tuple(
                (e.action, e.content_type.app_label + "." + e.content_type.model,
                 _object_key(world, e))
                for e in events
            ),
            usernames=frozenset(e.username for e in events),
            sources=frozenset(e.source for e in events),
            bumps=frozenset(
                key for key, cluster in clusters.items() if now[cluster.pk] != revisions[cluster.pk]
            ),
        )
        transaction.set_rollback(True)
    return outcome


# --- the parity test ------------------------------------------------------------------------


def test_the_console_and_the_api_change_state_alike(django_capture_on_commit_callbacks):
    """Every persona, every operation: the API first, then each console path, from the same
    state. One world for all: every path is rolled back."""
    world = build_world()
    users = {persona: persona_user(world, persona) for persona in sorted(PERSONAS)}
    wrong: list[str] = []
    for persona, user in users.items():
        api, console = APIClient(), Client()
        api.force_login(user)
        console.force_login(user)
        for operation in OPERATIONS:
            wrong += compare(world, persona, user, operation, api, console,
                             django_capture_on_commit_callbacks)
    assert wrong == [], "\n".join(wrong)


def compare(world, persona, user, operation, api, console, capture) -> list[str]:
    wrong: list[str] = []

    def check(what: str, got, expected) -> None:
        if got != expected:
            wrong.append(f"{persona} {operation.name} {what}: got {got!r}, expected {expected!r}")

    through_api = measure(world, operation, lambda: operation.api(api, world), capture)
    allowed = persona in operation.allowed
    check("through the API: done", through_api.done, allowed)
    check("through the API: events", through_api.events, operation.events if allowed else ())
    check("through the API: bumps", through_api.bumps, operation.bumps if allowed else set())
    if through_api.events:
        check("through the API: source", through_api.sources, {"api"})
        check("through the API: user", through_api.usernames, {user.username})
    for index, path in enumerate(operation.console):
        through_console = measure(
            world, operation, lambda path=path: path(console, world), capture
        )
        name = f"through the console (path {index})"
        # The same change, or the same refusal, with the same trail and the same bumps.
        check(f"{name}: done", through_console.done, through_api.done)
        check(f"{name}: state", through_console.state, through_api.state)
        check(f"{name}: events", through_console.events, through_api.events)
        check(f"{name}: bumps", through_console.bumps, through_api.bumps)
        check(f"{name}: user", through_console.usernames, through_api.usernames)
        if through_console.events:
            check(f"{name}: source", through_console.sources, {"console"})
    return wrong


def test_every_role_and_operation_is_covered():
    assert {role for role, _scope, _target in PERSONAS.values()} == set(ROLE_SCOPES)
    assert {(role, scope) for role, scope, _target in PERSONAS.values()} == {
        (role, scope) for role, scopes in ROLE_SCOPES.items() for scope in scopes
    }
    for operation in OPERATIONS:
        assert operation.allowed <= set(PERSONAS), operation.name
        assert operation.console, operation.name


# --- state fields: never editable, never written by a form ------------------------------------

# Fields whose value says what state an object is in, and the values a forged POST tries.
# Subscriptions and keys are fixed once made (their pages are read-only), so all their fields
# are tried; the others keep their definition fields editable.
def _forged(w) -> dict[str, tuple[str, dict[str, object]]]:

    def when(name: str) -> dict[str, str]:
        """A date-time field as the admin's split widget posts it."""
        return {f"{name}_0": "2001-01-01", f"{name}_1": "00:00:00"}

    return {
        "catalog.subscription": (
            "S_pending",
            {
                "status": "active",
                "decided_by": w["root"].pk,
                **when("decided_at"),
                "requested_by": w["root"].pk,
                "customer": w["C2"].pk,
                "product": w["Q"].pk,
                "environment": "dev",
            },
        ),
        "catalog.apikey": (
            "K",
            {
                **when("revoked_at"),
                **when("expires_at"),
                **when("last_rotated"),
                **when("previous_valid_until"),
                "subscription": w["S_pending"].pk,
                "name": "renamed",
                "prefix": "forged",
            },
        ),
        "publishing.productpublish": (
            "PD",
            {
                "status": "PUBLISHED",
                "current_revision": w["PP"].current_revision_id,
                "cluster": w["k3"].pk,
            },
        ),
        "clusters.cluster": (
            "k1",
            {
                "desired_state_revision": "999",
                "capabilities": '{"gateway_classes": ["kong"]}',
                **when("capabilities_updated_at"),
            },
        ),
        "clusters.agent": (
            "A_on",
            {
                "status": "disconnected",
                "token_generation": "9",
                "cluster": w["k2"].pk,
                "name": "forged",
                "version": "forged",
                **when("last_seen_at"),
            },
        ),
        "clusters.registrationtoken": (
            "T",
            {
                **when("used_at"),
                "agent": w["A_on"].pk,
                **when("expires_at"),
                "cluster": w["k2"].pk,
                "description": "forged",
            },
        ),
    }


API_DETAIL = {
    "catalog.subscription": "/api/v1/subscriptions/{}/",
    "catalog.apikey": "/api/v1/api-keys/{}/",
    "publishing.productpublish": "/api/v1/publishes/{}/",
    "clusters.cluster": "/api/v1/clusters/{}/",
    "clusters.agent": "/api/v1/agents/{}/",
    "clusters.registrationtoken": "/api/v1/registration-tokens/{}/",
}

# Definitions, not states: they change nothing anywhere until the publishes that use them are
# published again, and the API edits them the same way.
DEFINITIONS = {("catalog.apiservice", "status"), ("catalog.policy", "enabled")}
STATE_NAMES = {
    "status",
    "state",
    "enabled",
    "current_revision",
    "desired_state_revision",
    "capabilities",
    "revoked_at",
    "used_at",
    "agent",
    "decided_by",
    "decided_at",
    "requested_by",
    "last_rotated",
    "previous_valid_until",
    "token_generation",
    "applied_revision",
    "last_seen_at",
}


def _field_name(posted: str) -> str:
    return posted[:-2] if posted[-2:] in ("_0", "_1") else posted


def form_data(response) -> dict:
    """What the admin page's browser would post back unchanged: the form's and its inline
    formsets' current values."""
    data: dict = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            key = form.add_prefix(name)
            if isinstance(value, list | tuple):
                data[key] = [str(item) for item in value]
            elif isinstance(value, bool):
                if value:
                    data[key] = "on"
            else:
                data[key] = "" if value is None else str(value)
    return data


def _stored(model, pk, names) -> dict:
    return model.objects.filter(pk=pk).values(*names).first()


def _attnames(model, posted) -> list[str]:
    names = []
    for name in {_field_name(key) for key in posted}:
        names.append(model._meta.get_field(name).attname)
    return sorted(names)


@pytest.fixture
def superuser_world():
    world = build_world()
    world["root"] = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    return world


def test_the_console_offers_no_state_field_and_a_forged_post_changes_nothing(superuser_world):
    world = superuser_world
    console, api = Client(), APIClient()
    console.force_login(world["root"])
    api.force_login(world["root"])
    wrong: list[str] = []
    for label, (key, forged) in _forged(world).items():
        obj = world[key]
        model = type(obj)
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        page = console.get(url)
        assert page.status_code == 200, label
        editable = set(page.context["adminform"].form.fields)
        offered = {_field_name(name) for name in forged} & editable
        if offered:
            wrong.append(f"{label}: the console offers {sorted(offered)} as editable")
        names = _attnames(model, forged)
        before = _stored(model, obj.pk, names)
        last_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
        response = console.post(url, {**form_data(page), **forged})
        if response.status_code not in (302, 403):
            errors = page.context["adminform"].form.errors if page.context else ""
            wrong.append(f"{label}: the forged POST answered {response.status_code} {errors}")
        if _stored(model, obj.pk, names) != before:
            wrong.append(f"{label}: the forged POST changed {_stored(model, obj.pk, names)}")
        for event in AuditEvent.objects.filter(pk__gt=last_event or 0):
            changed = {
                name
                for name in names
                if (event.before or {}).get(name) != (event.after or {}).get(name)
            }
            if changed:
                wrong.append(f"{label}: the console recorded a change of {sorted(changed)}")
        # The API's writes leave them alone too (or have no write at all).
        body = {
            _field_name(name): "2001-01-01T00:00:00Z" if name.endswith("_0") else value
            for name, value in forged.items()
            if not name.endswith("_1")
        }
        before = _stored(model, obj.pk, names)
        api.patch(API_DETAIL[label].format(obj.pk), body, format="json")
        if _stored(model, obj.pk, names) != before:
            wrong.append(f"{label}: the API's PATCH changed {_stored(model, obj.pk, names)}")
    assert wrong == [], "\n".join(wrong)


def test_no_admin_form_offers_a_state_field(superuser_world, rf):
    """Every registered model, its add and its change form: no field that holds a state is
    editable, whatever model it is on (a new state field is caught here)."""
    from django.contrib import admin

    request = rf.get("/")
    request.user = superuser_world["root"]
    wrong = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        state_fields = {
            field.name
            for field in model._meta.concrete_fields
            if field.name in STATE_NAMES and (label, field.name) not in DEFINITIONS
        }
        if not state_fields:
            continue
        objects = [None, model._default_manager.first()]
        for obj in objects:
            if obj is None and not model_admin.has_add_permission(request):
                continue
            if obj is not None and not model_admin.has_change_permission(request, obj):
                continue
            form = model_admin.get_form(request, obj, change=obj is not None)
            editable = set(form.base_fields) - set(model_admin.get_readonly_fields(request, obj))
            if editable & state_fields:
                page = "add" if obj is None else "change"
                wrong.append(f"{label} {page} form: {sorted(editable & state_fields)}")
    assert wrong == [], "\n".join(wrong)
