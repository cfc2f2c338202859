"""The console as people use it, in headless Chromium against a running control plane, a
simulated cluster and a real agent: a provider signs in through the OIDC provider, builds an
API service, a product, a gateway with a listener and a publish on their add pages, publishes
it, watches it turn Ready, edits, republishes and withdraws; an operator creates a
registration token; a customer sees only their own subscriptions and cancels one with its
page's button. Screenshots of the dashboard, the publish page and the cluster page land in
test-artifacts/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from catalog.models import APIService, Gateway, Product, Route, Subscription
from clusters.desired_state import close_database_threads
from impgateway import rbac
from impgateway.models import AuditEvent, RoleGrant
from publishing.models import ProductPublish
from tests.agent.agent_harness import (
    AgentProcess,
    agent_args,
    deployment,
    make_cluster,
    registration_token,
    wait_until,
)
from tests.conftest import REPO_ROOT
from tests.factories import (
    CustomerFactory,
    SubscriptionFactory,
    TenantFactory,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]

SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"



def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def signed_in_page(browser: Browser, live_server, user) -> Page:
    """A browser context holding a console session of `user` (operators and customers)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    context.add_cookies([{
        "name": "sessionid", "value": client.cookies["sessionid"].value,
        "url": live_server.url,
    }])
    return context.new_page()


def pick_autocomplete(page: Page, field: str, text: str) -> None:
    """Choose `text` in an autocomplete (select2) field the way a user does: open it, type,
    click the matching result; then the field shows the choice."""
    page.click(f"#id_{field} + .select2 .select2-selection")
    search = page.locator(".select2-container--open .select2-search__field")
    search.fill(text)
    page.locator(".select2-container--open .select2-results__option:not(.loading-results)",
                 has_text=text).first.click()
    expect(page.locator(f"#select2-id_{field}-container")).to_contain_text(text)


def choose_in_filter(page: Page, field: str, text: str) -> None:
    """Move `text` from a filter_horizontal's "available" box to its "chosen" box: narrow the
    list with the filter box, select the option, click the "choose" arrow."""
    page.fill(f"#id_{field}_input", text)
    page.select_option(f"#id_{field}_from", label=text)
    page.click(f"#id_{field}_add")
    expect(page.locator(f"#id_{field}_to option", has_text=text)).to_have_count(1)


def test_provider_publishes_edits_and_withdraws_operator_and_customer(
    live_server, chromium: Browser, oidc_provider, settings, control_plane, simulated, tmp_path
):
    for name, value in oidc_provider.django_settings().items():
        setattr(settings, name, value)
    settings.OIDC_PASSWORD_LOGIN = False
    acme = TenantFactory(slug="acme", name="Acme")
    cluster = make_cluster()
    agent = AgentProcess(
        agent_args(control_plane.url, simulated.kubeconfig, name="agent-0",
                   token=registration_token(cluster), token_file=tmp_path / "token.json"),
        tmp_path / "agent.log",
    )
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        # --- the provider signs in through the identity provider --------------------------
        page.goto(f"{live_server.url}/admin/")
        page.click("#oidc-login-button")
        page.click("button[name=sub][value=alice]")
        expect(page).to_have_url(f"{live_server.url}/admin/")
        alice = get_user_model().objects.get(username="alice")

        # --- an API service with a backend and a rate-limit policy, then two routes ---------
        page.goto(f"{live_server.url}/admin/catalog/apiservice/add/")
        pick_autocomplete(page, "tenant", "Acme")
        page.fill("#id_name", "orders")
        page.click("#backends-group .add-row a")
        page.fill("#id_backends-0-name", "upstream")
        page.fill("#id_backends-0-endpoints", '["http://orders.shop.svc:8080"]')
        page.click("#policies-group .add-row a")
        page.fill("#id_policies-0-name", "per-minute")
        page.select_option("#id_policies-0-kind", "rate_limit")
        page.fill("#id_policies-0-config", '{"requests": 0}')
        page.fill("#id_policies-0-environments", "[]")
        page.click("input[name=_continue]")
        # A wrong value is named next to its field, and the rest of the form stays.
        expect(page.locator("#policies-group .errorlist")).to_contain_text("requests")
        page.fill("#id_policies-0-config", '{"requests": 100, "unit": "Minute"}')
        page.click("input[name=_continue]")
        expect(page.locator(".messagelist .success")).to_be_visible()
        for number, path in enumerate(("/orders/v1/items", "/orders/v1/carts")):
            page.click("#routes-group .add-row a")
            page.fill(f"#id_routes-{number}-name", path.rsplit("/", 1)[-1])
            page.fill(f"#id_routes-{number}-path", path)
            page.select_option(f"#id_routes-{number}-backend", label="upstream")
        page.click("input[name=_continue]")
        expect(page.locator(".messagelist .success")).to_be_visible()
        service = APIService.objects.get(tenant=acme, name="orders")
        assert sorted(service.routes.values_list("path", flat=True)) == [
            "/orders/v1/carts", "/orders/v1/items",
        ]

        # --- the product, the gateway template with an HTTP listener, and the publish -------
        page.goto(f"{live_server.url}/admin/catalog/product/add/")
        pick_autocomplete(page, "tenant", "Acme")
        page.fill("#id_name", "Orders")
        page.press("#id_name", "Tab")
        # The slug (first label of the hostnames) is filled in from the name.
        expect(page.locator("#id_slug")).to_have_value("orders")
        page.click("input[name=_continue]")
        expect(page.locator(".messagelist .success")).to_be_visible()
        product = Product.objects.get(tenant=acme, slug="orders")
        assert product.name == "Orders"

        page.goto(f"{live_server.url}/admin/catalog/gateway/add/")
        pick_autocomplete(page, "tenant", "Acme")
        page.fill("#id_name", "edge")
        page.click("#listeners-group .add-row a")
        page.fill("#id_listeners-0-name", "http")
        page.fill("#id_listeners-0-port", "80")
        page.select_option("#id_listeners-0-protocol", "HTTP")
        page.click("input[name=_continue]")
        expect(page.locator(".messagelist .success")).to_be_visible()
        gateway = Gateway.objects.get(tenant=acme, name="edge")
        assert list(gateway.listeners.values_list("name", "port", "protocol")) == [
            ("http", 80, "HTTP"),
        ]

        page.goto(f"{live_server.url}/admin/publishing/productpublish/add/")
        pick_autocomplete(page, "tenant", "Acme")
        pick_autocomplete(page, "product", "Orders")
        choose_in_filter(page, "api_services", str(service))
        pick_autocomplete(page, "gateway", "edge")
        pick_autocomplete(page, "cluster", cluster.name)
        page.select_option("#id_environment", "dev")
        page.select_option("#id_auth_mode", "apikey")
        page.click("input[name=_continue]")
        expect(page.locator(".messagelist .success")).to_be_visible()
        publish = ProductPublish.objects.get(tenant=acme, product=product)
        assert (publish.gateway, publish.cluster, publish.environment, publish.auth_mode) == (
            gateway, cluster, "dev", "apikey",
        )
        assert list(publish.api_services.all()) == [service]

        # --- publish, and the agent applies it; the gateway controller makes it Ready -------
        publish_url = f"{live_server.url}/admin/publishing/productpublish/{publish.pk}/change/"
        page.goto(publish_url)
        expect(page.locator(".unpublished-changes")).to_be_visible()
        page.click("a.publish-link")
        page.click("input[type=submit]")
        expect(page.locator(".messagelist .success")).to_contain_text("Published revision 1")
        assert wait_until(lambda: len([k for k in simulated.publish_objects(publish.pk)
                                       if k[0] == "HTTPRoute"]) == 2, 30), agent.log()
        assert wait_until(lambda: deployment(publish.pk) is not None, 15), agent.log()
        simulated.play_controller(publish.pk)
        assert wait_until(lambda: deployment(publish.pk).state == "Ready", 15), agent.log()
        page.goto(publish_url)
        status = page.locator("#deployments-group")
        expect(status).to_contain_text("Ready")
        expect(status.locator("td.field-applied_revision")).to_have_text("1")
        expect(page.locator(".example-call").first).to_contain_text(
            'x-api-key: $API_KEY'
        )
        expect(page.locator(".example-call").first).to_contain_text(
            "http://orders.dev.kr-seoul.api."
        )
        shot(page, "publish-page")

        # --- edit a route: unpublished changes and the diff, then publish again ------------
        page.goto(f"{live_server.url}/admin/catalog/apiservice/{service.pk}/change/")
        expect(page.locator("#used-by")).to_contain_text("published")
        carts = Route.objects.get(service=service, path="/orders/v1/carts")
        row = next(i for i in range(2) if page.input_value(f"#id_routes-{i}-id") == str(carts.pk))
        page.fill(f"#id_routes-{row}-path", "/orders/v2/carts")
        page.click("input[name=_continue]")
        expect(page.locator("#used-by .unpublished-changes")).to_be_visible()
        page.goto(publish_url)
        page.click(".unpublished-changes a")
        expect(page.locator("body")).to_contain_text("/orders/v2/carts")
        page.goto(publish_url)
        page.click("a.publish-link")
        page.click("input[type=submit]")
        expect(page.locator(".messagelist .success")).to_contain_text("Published revision 2")
        assert wait_until(lambda: "/orders/v2/carts" in str(
            simulated.publish_objects(publish.pk)), 20), agent.log()
        simulated.play_controller(publish.pk)
        assert wait_until(lambda: deployment(publish.pk).applied_revision == 2
                          and deployment(publish.pk).state == "Ready", 15), agent.log()

        page.goto(f"{live_server.url}/admin/")
        expect(page.locator("#dashboard-clusters")).to_contain_text(cluster.name)
        expect(page.locator("#dashboard-changes")).to_contain_text("alice")
        shot(page, "dashboard")

        # --- withdraw: the agent prunes every object ---------------------------------------
        page.goto(publish_url)
        page.click("a.withdraw-link")
        page.click("input[type=submit]")
        expect(page.locator(".messagelist .success")).to_contain_text("Withdrawn")
        assert wait_until(lambda: not simulated.publish_objects(publish.pk), 20), agent.log()

        # --- the audit trail holds each change ---------------------------------------------
        trail = set(
            AuditEvent.objects.filter(user=alice).values_list("content_type__model", "action")
        )
        assert {
            ("apiservice", "create"), ("backend", "create"), ("policy", "create"),
            ("route", "create"), ("route", "update"),
            ("product", "create"), ("gateway", "create"), ("listener", "create"),
            ("productpublish", "create"),
            ("productpublish", "publish"), ("productpublish", "withdraw"),
        } <= trail, trail
        page.goto(f"{live_server.url}/admin/publishing/productpublish/{publish.pk}/history/")
        expect(page.locator("#audit-events")).to_contain_text("Withdrawn")

        # --- an operator creates a registration token --------------------------------------
        operator = get_user_model().objects.create_user("olga", is_staff=True)
        grant = RoleGrant(user=operator, role="system-admin", scope="system")
        rbac.save_object(grant)
        operator_page = signed_in_page(chromium, live_server, operator)
        operator_page.goto(f"{live_server.url}/admin/clusters/cluster/{cluster.pk}/change/")
        expect(operator_page.locator("#agents-group")).to_contain_text("agent-0")
        expect(operator_page.locator(".field-capability_summary")).to_contain_text("envoy-gateway")
        shot(operator_page, "cluster-page")
        operator_page.click(".field-new_registration_token a")
        operator_page.fill("#id_description", "second agent")
        operator_page.click("input[name=_save]")
        command = operator_page.locator("#agent-command").inner_text()
        assert re.search(r"python manage.py agent .*--server http://[^ ]+ --registration-token "
                         r"\S+", command.replace("\\\n", " ")), command
        expect(operator_page.locator("#agent-manifest")).to_contain_text("kind: Secret")
        assert AuditEvent.objects.filter(
            user=operator, content_type__model="registrationtoken", action="create"
        ).exists()
        operator_page.context.close()

        # --- a customer sees only their own subscriptions ----------------------------------
        mine = CustomerFactory(tenant=acme, name="Mine Corp", slug="mine")
        theirs = CustomerFactory(tenant=acme, name="Theirs Inc", slug="theirs")
        SubscriptionFactory(customer=mine, product=product)
        SubscriptionFactory(customer=theirs, product=product)
        rbac.sync_all()
        customer = get_user_model().objects.create_user("carla", is_staff=True)
        grant = RoleGrant(user=customer, role="customer-admin", scope="customer", customer=mine)
        grant.full_clean()
        rbac.save_object(grant)
        customer_page = signed_in_page(chromium, live_server, customer)
        customer_page.goto(f"{live_server.url}/admin/catalog/subscription/")
        rows = customer_page.locator("#result_list tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Mine Corp")
        # Its page is read-only; the operations it may run are its buttons: it cancels, and
        # (it is no provider) cannot approve.
        rows.first.locator("a").first.click()
        expect(customer_page.locator("button.object-action-approve_subscriptions")).to_have_count(0)
        customer_page.click("button.object-action-cancel_subscriptions")
        expect(customer_page.locator(".messagelist .success")).to_contain_text(
            "1 subscription cancelled"
        )
        expect(customer_page.locator(".field-status")).to_contain_text("Cancelled")
        assert Subscription.objects.get(customer=mine).status == "cancelled"
        assert AuditEvent.objects.filter(
            user=customer, content_type__model="subscription", source="console"
        ).exists()
        customer_page.context.close()
    finally:
        context.close()
        agent.terminate()
        if connection.vendor == "postgresql":
            close_database_threads()
    assert ProductPublish.objects.get(pk=publish.pk).status == "WITHDRAWN"
