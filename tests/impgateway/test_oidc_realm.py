"""The Keycloak realm export the compose setup imports: the seven roles, the console and API
clients, the demo tenant's groups, and demo users whose claims map to the grants the README
promises under the default grant rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from catalog.models import Customer
from impgateway.auth import grants_from_claims
from impgateway.models import ROLE_SCOPES, Role
from tests.factories import TenantFactory

REALM_PATH = Path(settings.BASE_DIR) / "docker" / "keycloak" / "imp-gateway-realm.json"


@pytest.fixture(scope="module")
def realm() -> dict:
    return json.loads(REALM_PATH.read_text())


def client_named(realm: dict, client_id: str) -> dict:
    return next(client for client in realm["clients"] if client["clientId"] == client_id)


def group_paths(groups: list[dict]) -> set[str]:
    paths = set()
    for group in groups:
        paths.add(group["path"])
        paths |= group_paths(group.get("subGroups", []))
    return paths


def test_the_realm_holds_the_seven_roles(realm):
    assert realm["realm"] == "imp-gateway" and realm["enabled"]
    assert {role["name"] for role in realm["roles"]["realm"]} == set(Role.values)


def test_the_console_client_is_confidential_with_the_standard_flow(realm):
    console = client_named(realm, "imp-gateway")
    assert console["publicClient"] is False and console["standardFlowEnabled"] is True
    assert console["implicitFlowEnabled"] is False and console["directAccessGrantsEnabled"] is False
    assert "http://localhost:8000/oidc/callback/" in console["redirectUris"]
    logout = console["attributes"]["post.logout.redirect.uris"].split("##")
    assert "http://localhost:8000/admin/login/" in logout
    claims = {mapper["config"].get("claim.name") for mapper in console["protocolMappers"]}
    assert {"groups", "realm_access.roles"} <= claims
    audiences = [
        mapper["config"]["included.client.audience"]
        for mapper in console["protocolMappers"]
        if mapper["protocolMapper"] == "oidc-audience-mapper"
    ]
    assert audiences == ["imp-gateway-api"]
    assert client_named(realm, "imp-gateway-api")["bearerOnly"] is True


def test_the_demo_tenant_has_a_group_per_tenant_role(realm):
    paths = group_paths(realm["groups"])
    for role, scopes in ROLE_SCOPES.items():
        if "org" in scopes:
            assert f"/tenants/imprun/{role}" in paths
    for role in ("customer-admin", "api-consumer"):
        assert f"/tenants/imprun/customers/demo-shop/{role}" in paths


@pytest.mark.django_db
def test_demo_users_map_to_the_grants_the_readme_lists(realm, settings):
    settings.OIDC_RP_CLIENT_ID = "imp-gateway"
    imprun = TenantFactory(slug="imprun")
    Customer.objects.create(tenant=imprun, name="Demo shop", slug="demo-shop")
    expected = {
        "sysadmin": {("system-admin", "system")},
        "imprun-admin": {("org-admin", "org")},
        "imprun-gateway": {("gateway-owner", "org")},
        "imprun-developer": {("api-developer", "org")},
        "imprun-business": {("business-manager", "org")},
        "imprun-customers": {("customer-admin", "org")},
        "shop-admin": {("customer-admin", "customer")},
        "shop-consumer": {("api-consumer", "customer")},
        "imprun-dev-by-role": {("api-developer", "org")},
    }
    readme = (REALM_PATH.parent / "README.md").read_text()
    for user in realm["users"]:
        # What Keycloak puts in the tokens with the realm's mappers (full group paths).
        claims = {
            "sub": user["username"],
            "groups": user["groups"],
            "realm_access": {"roles": [*user["realmRoles"], "offline_access"]},
        }
        grants = {(grant["role"], grant["scope"]) for grant in grants_from_claims(claims)}
        assert grants == expected[user["username"]], user["username"]
        assert f"`{user['username']}`" in readme
