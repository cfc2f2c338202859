"""The console's sign-in with Keycloak, end to end: the admin login page, the identity
provider's authorization form, the admin as the mapped user with the mapped grants, and the
sign-out that ends the provider's session too."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from impgateway.models import GrantSource, RoleGrant
from tests.factories import APIServiceFactory, TenantFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_sign_in_lands_in_the_admin_with_mapped_grants_and_sign_out_ends_the_session(
    live_server, browser_page: Page, oidc_provider, settings
):
    page = browser_page
    for name, value in oidc_provider.django_settings().items():
        setattr(settings, name, value)
    settings.OIDC_PASSWORD_LOGIN = False
    acme = TenantFactory(slug="acme", name="Acme")
    globex = TenantFactory(slug="globex", name="Globex")
    APIServiceFactory(tenant=acme, name="payments", description="acme payments")
    APIServiceFactory(tenant=globex, name="payments", description="globex payments")
    provider_requests: list[str] = []
    page.on(
        "request",
        lambda request: (
            provider_requests.append(request.url)
            if request.url.startswith(oidc_provider.url)
            else None
        ),
    )

    page.goto(f"{live_server.url}/admin/")
    expect(page).to_have_url(f"{live_server.url}/admin/login/?next=/admin/")
    expect(page.locator("#login-form")).to_have_count(0)
    page.click("#oidc-login-button")

    # The provider's authorization form: sign in as the predefined user.
    expect(page).to_have_url(re.compile(re.escape(f"{oidc_provider.url}/oauth2/authorize?")))
    page.click("button[name=sub][value=alice]")

    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("#user-tools")).to_contain_text("Alice")
    alice = get_user_model().objects.get(username="alice")
    assert (alice.email, alice.is_staff, alice.has_usable_password()) == (
        "alice@example.com",
        True,
        False,
    )
    grants = list(
        RoleGrant.objects.filter(user=alice).values_list("role", "scope", "tenant__slug", "source")
    )
    assert grants == [("org-admin", "org", "acme", GrantSource.IDENTITY_PROVIDER)]

    # The grant reaches Acme's objects and nothing of Globex.
    page.goto(f"{live_server.url}/admin/catalog/apiservice/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Acme")
    page.goto(f"{live_server.url}/admin/catalog/tenant/")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)

    page.click("#logout-form button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(f"{oidc_provider.url}/oauth2/end_session?")))
    end_session = [url for url in provider_requests if "/oauth2/end_session" in url]
    assert end_session and "id_token_hint=" in end_session[0]
    page.get_by_role("button", name="End session").click()
    expect(page).to_have_url(f"{live_server.url}/admin/login/")

    # The console session is gone.
    page.goto(f"{live_server.url}/admin/")
    expect(page).to_have_url(f"{live_server.url}/admin/login/?next=/admin/")
