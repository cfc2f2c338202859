"""Role grants and object permissions: the matrix's rules, docs/rbac.md, objects created later
in a scope, grants that change or go, groups, the rebuild command, the admin's role pages,
GET /api/v1/me/, and one query for a scoped changelist however long."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse
from guardian.models import UserObjectPermission

from catalog.models import APIService, Customer, Route, Subscription
from impgateway import rbac
from impgateway.models import RoleGrant

from .test_rbac_world import build_world, grant_role

User = get_user_model()
PROJECT_APPS = {"catalog", "publishing", "clusters", "impgateway"}
NOT_USER_FACING = {"impgateway.oidcidentity"}


def fresh(user):
    return User.objects.get(pk=user.pk)


def inline_management(prefix: str, total: int = 0, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


# --- the matrix and its documentation -----------------------------------------------------------


def test_the_matrix_keeps_its_rules():
    assert rbac.matrix_errors() == []


def test_every_project_model_is_placed_in_the_scopes():
    # A new model stays invisible to everyone but superusers until it is placed here.
    models = {
        model._meta.label_lower
        for model in apps.get_models()
        if model._meta.app_label in PROJECT_APPS and not model._meta.auto_created
    }
    assert models - NOT_USER_FACING <= set(rbac.REGISTRY)
    registered = {
        m._meta.label_lower for m in admin.site._registry if m._meta.app_label in PROJECT_APPS
    }
    assert registered <= set(rbac.REGISTRY)


def test_scoped_models_have_integer_keys():
    for _label, model, _spec in rbac._materialized():
        assert model._meta.pk.get_internal_type() in {"AutoField", "BigAutoField"}


def test_docs_rbac_md_is_current():
    path = Path(settings.BASE_DIR) / "docs" / "rbac.md"
    assert path.read_text() == rbac.render_markdown(), (
        "docs/rbac.md is stale: run `python manage.py sync_permissions --write-docs`"
    )


@pytest.mark.django_db
def test_grants_refuse_impossible_shapes():
    world = build_world()
    user = User.objects.create_user("someone")
    bad = [
        RoleGrant(user=user, role="org-admin", scope="system"),
        RoleGrant(user=user, role="api-consumer", scope="org", tenant=world["A.tenant"]),
        RoleGrant(user=user, role="gateway-owner", scope="gateway", tenant=world["A.tenant"]),
        RoleGrant(role="org-admin", scope="org", tenant=world["A.tenant"]),
        RoleGrant(
            user=user,
            role="gateway-owner",
            scope="gateway",
            gateway=world["A.g1"],
            tenant=world["B.tenant"],
        ),
    ]
    for grant in bad:
        with pytest.raises(Exception, match="scope|user|tenant|gateway"):
            grant.full_clean()
    for grant in bad[:4]:
        with pytest.raises(IntegrityError), transaction.atomic():
            grant.save()
    good = RoleGrant(user=user, role="gateway-owner", scope="gateway", gateway=world["A.g1"])
    good.full_clean()
    assert good.tenant == world["A.tenant"]


# --- objects created later, grants that change ------------------------------------------------


@pytest.mark.django_db
def test_objects_added_in_the_admin_are_the_scopes_at_once(client):
    world = build_world()
    developer = grant_role(world, "api-developer", "org")
    colleague = grant_role(world, "org-admin", "org", username="colleague")
    client.force_login(developer)
    response = client.post(
        reverse("admin:catalog_apiservice_add"),
        {
            "tenant": world["A.tenant"].pk,
            "name": "ledger",
            "version": "v1",
            "status": "draft",
            "protocol": "HTTP",
            **inline_management("backends", 1),
            "backends-0-name": "main",
            "backends-0-endpoints": '["ledger.internal:8080"]',
            "backends-0-load_balancing": "round_robin",
            "backends-0-retry_attempts": "0",
            "backends-0-health_check_interval_seconds": "10",
            **inline_management("routes"),
            **inline_management("policies"),
        },
    )
    assert response.status_code == 302, [
        f.formset.errors for f in response.context["inline_admin_formsets"]
    ]
    service = APIService.objects.get(name="ledger")
    for user in (developer, colleague):
        assert fresh(user).has_perm("catalog.change_apiservice", service)
        assert fresh(user).has_perm("catalog.delete_backend", service.backends.get())
    outsider = User.objects.create_user("other")
    rbac.save_object(
        RoleGrant(user=outsider, role="org-admin", scope="org", tenant=world["B.tenant"])
    )
    assert not fresh(outsider).has_perm("catalog.view_apiservice", service)


@pytest.mark.django_db
def test_adding_outside_the_scope_is_refused_with_the_field_named(client):
    world = build_world()
    developer = grant_role(world, "api-developer", "org")
    client.force_login(developer)
    response = client.get(reverse("admin:catalog_apiservice_add"))
    tenants = response.context["adminform"].form.fields["tenant"].queryset
    assert list(tenants) == [world["A.tenant"]]
    response = client.post(
        reverse("admin:catalog_apiservice_add"),
        {
            "tenant": world["B.tenant"].pk,
            "name": "ledger",
            "version": "v1",
            "status": "draft",
            "protocol": "HTTP",
            **inline_management("backends"),
            **inline_management("routes"),
            **inline_management("policies"),
        },
    )
    assert response.status_code == 200
    assert "tenant" in response.context["adminform"].form.errors
    assert not APIService.objects.filter(name="ledger").exists()


@pytest.mark.django_db
def test_a_gateway_owner_adds_listeners_to_their_gateway_only(client):
    world = build_world()
    owner = grant_role(world, "gateway-owner", "gateway")
    client.force_login(owner)
    assert client.get(reverse("admin:catalog_gateway_add")).status_code == 403
    form = client.get(reverse("admin:catalog_listener_add")).context["adminform"].form
    assert list(form.fields["gateway"].queryset) == [world["A.g1"]]


@pytest.mark.django_db
def test_a_new_subscription_brings_its_customer_into_the_products_scope():
    world = build_world()
    manager = grant_role(world, "business-manager", "product")
    shop_two = Customer.objects.create(tenant=world["A.tenant"], name="Shop two", slug="shop-two")
    assert not fresh(manager).has_perm("catalog.view_customer", shop_two)
    subscription = Subscription(customer=shop_two, product=world["A.p1"], environment="prod")
    rbac.save_object(subscription)
    assert fresh(manager).has_perm("catalog.view_customer", shop_two)
    assert fresh(manager).has_perm("catalog.change_subscription", subscription)
    rbac.delete_objects([subscription])
    assert not fresh(manager).has_perm("catalog.view_customer", shop_two)


@pytest.mark.django_db
def test_moving_a_service_to_another_tenant_moves_its_permissions():
    world = build_world()
    acme = grant_role(world, "org-admin", "org", username="acme-admin")
    globex = User.objects.create_user("globex-admin")
    rbac.save_object(
        RoleGrant(user=globex, role="org-admin", scope="org", tenant=world["B.tenant"])
    )
    service, route = world["A.service"], world["A.route"]
    service.tenant = world["B.tenant"]
    service.name = "moved"
    rbac.save_object(service)
    assert not fresh(acme).has_perm("catalog.view_apiservice", service)
    assert not fresh(acme).has_perm("catalog.view_route", route)
    assert fresh(globex).has_perm("catalog.change_route", route)


@pytest.mark.django_db
def test_removing_or_moving_a_grant_revokes_what_it_gave(client):
    world = build_world()
    user = grant_role(world, "org-admin", "org")
    grant = world["own"]
    other = User.objects.create_user("other")
    grant.user = other
    rbac.save_object(grant)
    assert not fresh(user).has_perm("catalog.view_tenant", world["A.tenant"])
    assert fresh(other).has_perm("catalog.view_tenant", world["A.tenant"])
    rbac.delete_objects([grant])
    assert not fresh(other).has_perm("catalog.view_tenant", world["A.tenant"])
    assert not UserObjectPermission.objects.filter(user=other).exists()


@pytest.mark.django_db
def test_deleting_a_scope_object_takes_its_grants_and_their_permissions():
    world = build_world()
    consumer = grant_role(world, "api-consumer", "customer")
    assert fresh(consumer).has_perm("catalog.view_tenant", world["A.tenant"])
    Subscription.objects.filter(customer=world["A.c1"]).delete()
    rbac.delete_objects([world["A.c1"]])
    assert not RoleGrant.objects.filter(user=consumer).exists()
    assert not fresh(consumer).has_perm("catalog.view_tenant", world["A.tenant"])
    assert not fresh(consumer).has_perm("catalog.view_product", world["A.p1"])


@pytest.mark.django_db
def test_group_grants_reach_the_groups_members_while_they_are_members():
    world = build_world()
    developers = Group.objects.create(name="acme-developers")
    member = User.objects.create_user("member-of-group", is_staff=True)
    member.groups.add(developers)
    rbac.save_object(
        RoleGrant(group=developers, role="api-developer", scope="org", tenant=world["A.tenant"])
    )
    visible = rbac.restrict(APIService.objects.all(), fresh(member))
    assert list(visible) == [world["A.service"]]
    assert fresh(member).has_perm("catalog.change_route", world["A.route"])
    member.groups.remove(developers)
    assert not rbac.restrict(APIService.objects.all(), fresh(member)).exists()


@pytest.mark.django_db
def test_sync_permissions_rebuilds_every_row_and_drops_stale_ones():
    world = build_world()
    user = grant_role(world, "org-admin", "org")
    call_command("sync_permissions", stdout=io.StringIO())
    expected = set(UserObjectPermission.objects.values_list("user", "permission", "object_pk"))
    UserObjectPermission.objects.all().delete()
    UserObjectPermission.objects.create(
        user=user,
        permission=rbac.Permission.objects.get(codename="view_apiservice"),
        content_type=rbac.ContentType.objects.get_for_model(APIService),
        object_pk=str(world["B.service"].pk),
    )
    assert fresh(user).has_perm("catalog.view_apiservice", world["B.service"])
    call_command("sync_permissions", stdout=io.StringIO())
    assert (
        set(UserObjectPermission.objects.values_list("user", "permission", "object_pk")) == expected
    )
    assert not fresh(user).has_perm("catalog.view_apiservice", world["B.service"])
    assert fresh(user).has_perm("catalog.change_route", world["A.route"])


# --- actions, grants in the console, the role page, /me -----------------------------------------


@pytest.mark.django_db
def test_bulk_delete_acts_only_on_objects_the_user_may_delete(client):
    world = build_world()
    manager = grant_role(world, "business-manager", "org")
    client.force_login(manager)
    services = [world["A.service"].pk, world["B.service"].pk]
    client.post(
        reverse("admin:catalog_apiservice_changelist"),
        {"action": "delete_selected", "_selected_action": services, "post": "yes"},
    )
    assert APIService.objects.filter(pk__in=services).count() == 2
    routes = [world["A.route"].pk, world["B.route"].pk]
    developer = grant_role(world, "api-developer", "org", username="developer")
    client.force_login(developer)
    client.post(
        reverse("admin:catalog_route_changelist"),
        {"action": "delete_selected", "_selected_action": routes, "post": "yes"},
    )
    assert list(Route.objects.filter(pk__in=routes).values_list("pk", flat=True)) == [routes[1]]


@pytest.mark.django_db
def test_org_admins_see_their_tenants_grants_and_only_system_admins_grant(client):
    world = build_world()
    org_admin = grant_role(world, "org-admin", "org")
    client.force_login(org_admin)
    response = client.get(reverse("admin:impgateway_rolegrant_changelist"))
    listed = {grant.pk for grant in response.context["cl"].result_list}
    assert listed == {world["own"].pk, world["A.grant"].pk}
    assert client.get(reverse("admin:impgateway_rolegrant_add")).status_code == 403
    assert client.get(reverse("admin:impgateway_rolegrant_matrix")).status_code == 200

    system_admin = grant_role(world, "system-admin", "system", username="root-ish")
    client.force_login(system_admin)
    target = User.objects.create_user("newcomer")
    response = client.post(
        reverse("admin:impgateway_rolegrant_add"),
        {
            "user": target.pk,
            "role": "customer-admin",
            "scope": "customer",
            "customer": world["B.c2"].pk,
        },
    )
    assert response.status_code == 302, [
        f.formset.errors for f in response.context["inline_admin_formsets"]
    ]
    grant = RoleGrant.objects.get(user=target)
    assert (grant.tenant, grant.source) == (world["B.tenant"], "console")
    target = fresh(target)
    assert target.is_staff and target.has_perm("catalog.change_customer", world["B.c2"])
    body = client.get(reverse("admin:impgateway_rolegrant_matrix")).content.decode()
    assert "business-manager" in body and "catalog.subscription" in body


@pytest.mark.django_db
def test_a_user_without_grants_sees_an_empty_console(client):
    build_world()
    nobody = User.objects.create_user("nobody", is_staff=True)
    client.force_login(nobody)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200 and response.context["app_list"] == []
    assert client.get(reverse("admin:catalog_tenant_changelist")).status_code == 403


@pytest.mark.django_db
def test_me_lists_grants_and_effective_permissions(client):
    world = build_world()
    owner = grant_role(world, "gateway-owner", "gateway")
    client.force_login(owner)
    body = client.get("/api/v1/me/").json()
    assert body["username"] == "persona" and body["is_superuser"] is False
    assert body["grants"] == [
        {
            "id": world["own"].pk,
            "role": "gateway-owner",
            "scope": "gateway",
            "scope_object": {"type": "gateway", "id": world["A.g1"].pk, "name": str(world["A.g1"])},
            "tenant": "acme",
            "holder": "user",
            "source": "console",
        }
    ]
    assert body["permissions"]["catalog.listener"] == ["view", "add", "change", "delete"]
    assert body["permissions"]["catalog.gateway"] == ["view", "change", "delete"]
    assert "catalog.apiservice" not in body["permissions"]
    client.logout()
    response = client.get("/api/v1/me/")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


# --- efficiency ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_scoped_changelist_costs_the_same_few_queries_however_many_objects(
    client, django_assert_max_num_queries
):
    world = build_world()
    user = grant_role(world, "org-admin", "org")
    APIService.objects.bulk_create(
        [APIService(tenant=world["A.tenant"], name=f"service-{n}") for n in range(120)]
        + [APIService(tenant=world["B.tenant"], name=f"service-{n}") for n in range(120)]
    )
    call_command("sync_permissions", stdout=io.StringIO())
    client.force_login(user)
    url = reverse("admin:catalog_apiservice_changelist")
    with django_assert_max_num_queries(15) as captured:
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 121
    scoped = [
        q["sql"] for q in captured.captured_queries if "guardian_userobjectpermission" in q["sql"]
    ]
    # The rows, their count and the tenant filter's choices: each one query with the
    # permission subquery inside, none per object.
    assert len(scoped) == 3
    with django_assert_max_num_queries(15):
        assert client.get(url + "?p=2").status_code == 200
