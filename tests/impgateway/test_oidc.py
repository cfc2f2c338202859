"""Sign-in with Keycloak: claims mapped to users and role grants, the authorization-code flow
against a real OIDC provider process, the login page, and the sign-out at the provider."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from catalog.models import Customer
from impgateway.auth import compile_rules, grants_from_claims, user_from_claims
from impgateway.models import GrantSource, OIDCIdentity, RoleGrant
from tests.browser.oidc_provider import running_provider
from tests.factories import GatewayFactory, ProductFactory, TenantFactory

User = get_user_model()

ALICE = {
    "sub": "alice-sub",
    "email": "alice@example.com",
    "preferred_username": "alice",
    "given_name": "Alice",
    "family_name": "Liddell",
    "groups": ["/tenants/acme/org-admin"],
}


@pytest.fixture
def acme(db):
    return TenantFactory(slug="acme", name="Acme")


@pytest.fixture
def oidc_settings(settings):
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "imp-gateway-console"
    settings.OIDC_OP_ISSUER = "https://keycloak.example.com/realms/imp-gateway"
    return settings


def as_tuples(grants: list[dict]) -> set[tuple]:
    keys = ("role", "scope", "tenant_id", "gateway_id", "product_id", "customer_id")
    return {tuple(grant.get(key) for key in keys) for grant in grants}


# --- claims to grants ---------------------------------------------------------------------------


def test_groups_map_to_grants_at_every_scope(acme, oidc_settings):
    edge = GatewayFactory(tenant=acme, name="edge")
    payments = ProductFactory(tenant=acme, slug="payments")
    shop = Customer.objects.create(tenant=acme, name="Shop", slug="shop")
    claims = {
        "groups": [
            "/tenants/acme/org-admin",
            "/tenants/acme/gateways/edge/gateway-owner",
            "/tenants/acme/products/payments/business-manager",
            "/tenants/acme/customers/shop/api-consumer",
            "/tenants/acme",
            "/unrelated/group",
        ]
    }
    assert as_tuples(grants_from_claims(claims)) == {
        ("org-admin", "org", acme.pk, None, None, None),
        ("gateway-owner", "gateway", acme.pk, edge.pk, None, None),
        ("business-manager", "product", acme.pk, None, payments.pk, None),
        ("api-consumer", "customer", acme.pk, None, None, shop.pk),
    }


def test_realm_and_client_roles_combine_with_tenant_groups(acme, oidc_settings):
    globex = TenantFactory(slug="globex")
    claims = {
        "groups": ["/tenants/acme", "/tenants/globex"],
        "realm_access": {"roles": ["api-developer", "offline_access", "default-roles-x"]},
        "resource_access": {
            "imp-gateway-console": {"roles": ["business-manager"]},
            "other-client": {"roles": ["org-admin"]},
        },
    }
    assert as_tuples(grants_from_claims(claims)) == {
        ("api-developer", "org", acme.pk, None, None, None),
        ("api-developer", "org", globex.pk, None, None, None),
        ("business-manager", "org", acme.pk, None, None, None),
        ("business-manager", "org", globex.pk, None, None, None),
    }


def test_system_admin_comes_from_the_realm_role_only_at_system_scope(acme, oidc_settings):
    claims = {"groups": ["/tenants/acme"], "realm_access": {"roles": ["system-admin"]}}
    assert as_tuples(grants_from_claims(claims)) == {
        ("system-admin", "system", None, None, None, None)
    }


def test_unknown_objects_and_roles_outside_their_scopes_are_skipped(acme, oidc_settings):
    claims = {
        "groups": [
            "/tenants/nosuch/org-admin",
            "/tenants/acme/gateways/nosuch/gateway-owner",
            "/tenants/acme/api-consumer",  # api-consumer is granted per customer
            "/tenants/acme/system-admin",
            "/tenants/acme/no-such-role",
        ]
    }
    assert grants_from_claims(claims) == []


def test_configured_rules_read_a_tenant_claim(acme, oidc_settings):
    oidc_settings.OIDC_GRANT_RULES = [
        {"claim": "roles", "match": "imp-{role}", "tenants": {"claim": "org", "match": "{tenant}"}}
    ]
    claims = {"roles": ["imp-gateway-owner", "imp-nothing", "gateway-owner"], "org": "acme"}
    assert as_tuples(grants_from_claims(claims)) == {
        ("gateway-owner", "org", acme.pk, None, None, None)
    }


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"claim": "groups"}, "needs 'claim' and 'match'"),
        ({"claim": "groups", "match": "/x/{tenant}"}, "give the role"),
        ({"claim": "groups", "match": "{role}", "role": "org-admin"}, "give the role"),
        ({"claim": "groups", "match": "x", "role": "owner"}, "unknown role"),
        ({"claim": "groups", "match": "/{gateway}/{role}"}, "needs {tenant}"),
        ({"claim": "g", "match": "{role}", "tenants": {"claim": "t"}}, "exactly 'claim'"),
        ({"claim": "g", "match": "{role}", "extra": 1}, "unknown keys extra"),
        ({"claim": "g", "match": "/{tenant}/{tenant}/{role}"}, "appears twice"),
    ],
)
def test_bad_rules_are_refused_with_the_rule_named(rule, message):
    with pytest.raises(ImproperlyConfigured, match=message) as error:
        compile_rules([{"claim": "groups", "match": "/t/{tenant}/{role}"}, rule])
    assert "rule 2" in str(error.value)


# --- claims to a user ---------------------------------------------------------------------------


def test_a_new_subject_becomes_a_staff_user_with_the_mapped_grants(acme, oidc_settings):
    user = user_from_claims(ALICE)
    assert (user.username, user.email, user.first_name, user.last_name) == (
        "alice",
        "alice@example.com",
        "Alice",
        "Liddell",
    )
    assert user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert OIDCIdentity.objects.get(user=user).subject == "alice-sub"
    assert list(RoleGrant.objects.filter(user=user).values_list("role", "source")) == [
        ("org-admin", GrantSource.IDENTITY_PROVIDER)
    ]
    assert user.has_perm("catalog.change_tenant", acme)


def test_the_subject_not_the_email_identifies_the_user(acme, oidc_settings):
    first = user_from_claims(ALICE)
    again = user_from_claims({**ALICE, "email": "new@example.com", "preferred_username": "x"})
    assert again.pk == first.pk and again.email == "new@example.com"
    other = user_from_claims({**ALICE, "sub": "mallory", "email": "alice@example.com"})
    assert other.pk != first.pk


def test_a_local_account_with_the_same_name_is_never_taken_over(acme, oidc_settings):
    local = User.objects.create_superuser("alice", "root@example.com", "pw-123456789")
    user = user_from_claims(ALICE)
    assert user.pk != local.pk
    assert user.username.startswith("alice-") and not user.is_superuser


def test_sign_in_replaces_identity_grants_and_keeps_console_grants(acme, oidc_settings):
    user = user_from_claims(ALICE)
    edge = GatewayFactory(tenant=acme, name="edge")
    console = RoleGrant.objects.create(
        user=user, role="gateway-owner", scope="gateway", tenant=acme, gateway=edge
    )
    user = user_from_claims({**ALICE, "groups": ["/tenants/acme/business-manager"]})
    grants = set(RoleGrant.objects.filter(user=user).values_list("role", "source"))
    assert grants == {
        ("gateway-owner", GrantSource.CONSOLE),
        ("business-manager", GrantSource.IDENTITY_PROVIDER),
    }
    assert RoleGrant.objects.filter(pk=console.pk).exists()
    assert not user.has_perm("catalog.change_tenant", acme)
    assert user.has_perm("catalog.change_gateway", edge)


def test_losing_every_grant_closes_the_console(acme, oidc_settings):
    user = user_from_claims(ALICE)
    user = user_from_claims({**ALICE, "groups": []})
    assert not user.is_staff
    assert not RoleGrant.objects.filter(user=user).exists()


# --- the login page ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_oidc_the_login_page_has_only_the_password_form(client):
    body = client.get(reverse("admin:login")).content.decode()
    assert 'id="login-form"' in body and "oidc-login-button" not in body
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


@pytest.mark.django_db
def test_with_oidc_the_password_form_shows_only_when_enabled(client, oidc_settings):
    oidc_settings.OIDC_PASSWORD_LOGIN = False
    User.objects.create_user("local", password="pw-123456789", is_staff=True)
    body = client.get(reverse("admin:login") + "?next=/admin/catalog/").content.decode()
    assert "oidc-login-button" in body and 'id="login-form"' not in body
    assert "/oidc/authenticate/?next=/admin/catalog/" in body
    # Posting the form anyway does not sign in.
    response = client.post(
        reverse("admin:login"), {"username": "local", "password": "pw-123456789"}
    )
    assert response.status_code == 200 and "_auth_user_id" not in client.session

    oidc_settings.OIDC_PASSWORD_LOGIN = True
    body = client.get(reverse("admin:login")).content.decode()
    assert "oidc-login-button" in body and 'id="login-form"' in body
    response = client.post(
        reverse("admin:login"), {"username": "local", "password": "pw-123456789"}
    )
    assert response.status_code == 302 and "_auth_user_id" in client.session


# --- the authorization-code flow against a real provider ---------------------------------------


@pytest.fixture(scope="module")
def provider():
    with running_provider([{**ALICE, "sub": "alice"}]) as running:
        yield running


@pytest.fixture
def provider_settings(settings, provider):
    for name, value in provider.django_settings().items():
        setattr(settings, name, value)
    return settings


def sign_in(client, provider, sub: str = "alice", next_url: str = "/admin/"):
    """Drive the code flow: the console's redirect, the provider's form, the callback."""
    start = client.get(f"/oidc/authenticate/?next={next_url}")
    assert start.status_code == 302
    callback = provider.authorize(start["Location"], sub)
    parts = urlsplit(callback)
    assert parts.path == "/oidc/callback/"
    return client.get(f"{parts.path}?{parts.query}")


@pytest.mark.django_db(transaction=True)
def test_code_flow_signs_in_and_resyncs_grants_at_every_sign_in(
    client, provider, provider_settings
):
    acme = TenantFactory(slug="acme")
    TenantFactory(slug="globex")
    response = sign_in(client, provider, next_url="/admin/catalog/")
    assert response.status_code == 302 and response["Location"] == "/admin/catalog/"
    assert client.get("/admin/").status_code == 200
    alice = User.objects.get(oidc_identity__subject="alice")
    assert alice.has_perm("catalog.change_tenant", acme)

    provider.put_user("alice", {**ALICE, "groups": ["/tenants/globex/api-developer"]})
    client.logout()
    sign_in(client, provider)
    grants = RoleGrant.objects.filter(user=alice).values_list("role", "tenant__slug")
    assert list(grants) == [("api-developer", "globex")]
    alice = User.objects.get(pk=alice.pk)
    assert not alice.has_perm("catalog.change_tenant", acme)
    provider.put_user("alice", {**ALICE})


@pytest.mark.django_db(transaction=True)
def test_an_id_token_from_another_issuer_is_refused(client, provider, provider_settings):
    provider_settings.OIDC_OP_ISSUER = "https://keycloak.example.com/realms/other"
    TenantFactory(slug="acme")
    response = sign_in(client, provider)
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(username="alice").exists()


@pytest.mark.django_db(transaction=True)
def test_denied_consent_returns_to_the_login_page_with_a_message(
    client, provider, provider_settings
):
    start = client.get("/oidc/authenticate/?next=/admin/")
    denied = requests.post(
        start["Location"], data={"action": "deny"}, allow_redirects=False, timeout=10
    )
    parts = urlsplit(denied.headers["Location"])
    assert "error=access_denied" in parts.query
    response = client.get(f"{parts.path}?{parts.query}")
    assert response["Location"] == "/admin/login/?oidc_error=1"
    assert "oidc-error" in client.get(response["Location"]).content.decode()


@pytest.mark.django_db(transaction=True)
def test_logout_after_keycloak_sign_in_ends_the_provider_session(
    client, provider, provider_settings
):
    TenantFactory(slug="acme")
    sign_in(client, provider)
    id_token = client.session["oidc_id_token"]
    response = client.post(reverse("admin:logout"))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{provider.url}/oauth2/end_session"
    )
    query = parse_qs(location.query)
    assert query["id_token_hint"] == [id_token]
    assert query["post_logout_redirect_uri"] == ["http://testserver/admin/login/"]
    assert query["client_id"] == ["imp-gateway-console"]
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_logout_of_a_local_account_stays_local(admin_client, oidc_settings):
    response = admin_client.post(reverse("admin:logout"))
    assert response["Location"] == reverse("admin:login")
    assert "_auth_user_id" not in admin_client.session
