"""Every model rule has a valid and an invalid case; the invalid one names the field."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from catalog.choices import APIServiceProtocol
from catalog.models import Backend, Listener, Policy, Route
from publishing.models import ProductPublish
from tests.factories import (
    APIServiceFactory,
    BackendFactory,
    ClusterFactory,
    GatewayFactory,
    ProductFactory,
    TenantFactory,
)

pytestmark = pytest.mark.django_db


def errors_of(instance, exclude=None) -> dict:
    with pytest.raises(ValidationError) as excinfo:
        instance.full_clean(exclude=exclude)
    return excinfo.value.message_dict


def test_tenant_slug_must_be_a_dns_label():
    TenantFactory.build(name="Acme", slug="acme").full_clean()
    errors = errors_of(TenantFactory.build(name="Acme", slug="Acme_Corp"))
    assert "slug" in errors
    assert "not a valid DNS label" in errors["slug"][0]


def test_service_names_are_unique_per_tenant_but_not_across_tenants():
    service = APIServiceFactory(name="payment-service")
    other_tenant = TenantFactory()
    APIServiceFactory.build(tenant=other_tenant, name="payment-service").full_clean()
    duplicate = APIServiceFactory.build(tenant=service.tenant, name="payment-service")
    errors = errors_of(duplicate)
    assert "name" in str(errors)
    assert "already exists in the tenant" in str(errors)


@pytest.mark.parametrize(
    ("path", "match_type"),
    [
        ("/v1/payments", "PathPrefix"),
        ("/v1/pay", "Exact"),
        ("/v1/items/[0-9]+", "RegularExpression"),
    ],
)
def test_route_paths_that_are_valid(path, match_type):
    backend = BackendFactory()
    Route(service=backend.service, name="r", path=path, match_type=match_type).full_clean()


@pytest.mark.parametrize(
    ("path", "match_type", "message"),
    [
        ("/v1/items/[0-9+", "RegularExpression", "cannot be used"),
        # Python accepts these; RE2, which gateways match with, does not.
        ("/v1/(?=items)", "RegularExpression", "RE2 refuses it: invalid perl operator"),
        (r"/v1/(a)\1", "RegularExpression", "RE2 refuses it: invalid escape sequence"),
        ("/v1/a{65535}", "RegularExpression", "RE2 refuses it: invalid repetition size"),
        ("v1/payments", "PathPrefix", "must start with '/'"),
        ("/v1/with space", "Exact", "URL path characters"),
    ],
)
def test_route_paths_that_are_refused(path, match_type, message):
    service = APIServiceFactory()
    errors = errors_of(Route(service=service, name="r", path=path, match_type=match_type))
    assert message in errors["path"][0]


def test_grpc_routes_take_service_and_method():
    service = APIServiceFactory(protocol=APIServiceProtocol.GRPC)
    Route(
        service=service, name="r", path="payments.v1.Payments/Charge", match_type="Exact"
    ).full_clean()
    errors = errors_of(Route(service=service, name="r", path="/v1/pay", match_type="PathPrefix"))
    assert "package.Service" in errors["path"][0]
    assert "Exact" in errors["match_type"][0]


def test_route_methods_and_headers_are_checked():
    service = APIServiceFactory()
    Route(
        service=service,
        name="r",
        path="/a",
        methods=["GET", "POST"],
        header_matches=[{"name": "x-v", "value": "^2", "type": "RegularExpression"}],
    ).full_clean()
    errors = errors_of(Route(service=service, name="r", path="/a", methods=["FETCH"]))
    assert "methods" in errors
    errors = errors_of(
        Route(
            service=service,
            name="r",
            path="/a",
            header_matches=[{"name": "bad header", "value": "(", "type": "RegularExpression"}],
        )
    )
    assert any("not a valid header name" in m for m in errors["header_matches"])
    assert any("cannot be used" in m for m in errors["header_matches"])


def test_route_backend_must_belong_to_the_same_service():
    backend = BackendFactory()
    Route(service=backend.service, name="r", path="/a", backend=backend).full_clean()
    other = APIServiceFactory(tenant=backend.service.tenant)
    errors = errors_of(Route(service=other, name="r", path="/a", backend=backend))
    assert "same API service" in errors["backend"][0]


def test_prefix_rewrite_needs_prefix_match():
    service = APIServiceFactory()
    Route(service=service, name="r", path="/a", rewrite_path_prefix="/b").full_clean()
    errors = errors_of(
        Route(service=service, name="r", path="/a", match_type="Exact", rewrite_path_prefix="/b")
    )
    assert "PathPrefix" in errors["rewrite_path_prefix"][0]


@pytest.mark.parametrize(
    "endpoint",
    [
        "payments.internal:8080",
        "10.0.0.5:80",
        "https://api.example.com",
        "http://[2001:db8::1]:9000/base",
    ],
)
def test_backend_endpoints_that_are_valid(endpoint):
    service = APIServiceFactory()
    Backend(service=service, name="b", endpoints=[endpoint]).full_clean()


@pytest.mark.parametrize(
    "endpoints",
    [[], ["payments.internal"], ["ftp://files.example.com"], ["host:70000"], ["a b:80"]],
)
def test_backend_endpoints_that_are_refused(endpoints):
    service = APIServiceFactory()
    errors = errors_of(Backend(service=service, name="b", endpoints=endpoints))
    assert "endpoints" in errors


@pytest.mark.parametrize(
    ("endpoint", "rule"),
    [
        ("127.0.0.1:8080", "loopback"),
        ("http://[::1]:9000/base", "loopback"),
        ("http://localhost:8080", "'localhost'"),
        ("169.254.169.254:80", "link-local"),  # the cloud metadata service
        ("0.0.0.0:80", "unspecified"),
        ("224.0.0.1:80", "multicast"),
    ],
)
def test_backend_endpoints_no_cluster_routes_to_are_refused(endpoint, rule):
    """Kubernetes refuses such EndpointSlice addresses: the deployment would sit Degraded."""
    errors = errors_of(Backend(service=APIServiceFactory(), name="b", endpoints=[endpoint]))
    assert rule in errors["endpoints"][0], errors


def test_a_host_label_longer_than_63_characters_is_refused():
    long_label = "a" * 64
    errors = errors_of(Backend(service=APIServiceFactory(), name="b",
                               endpoints=[f"{long_label}.example.com:80"]))
    assert "endpoints" in errors
    listener_errors = errors_of(Listener(gateway=GatewayFactory(), name="web", port=80,
                                         protocol="HTTP", hostname=f"{long_label}.example.com"))
    assert "hostname" in listener_errors


@pytest.mark.parametrize(
    ("value", "rule"),
    [("a\nX-Injected: 1", "control characters"), ("x" * 4097, "longer than 4096")],
)
def test_header_values_a_gateway_would_refuse_are_refused(value, rule):
    service = APIServiceFactory()
    errors = errors_of(Route(service=service, name="r", path="/a",
                             header_matches=[{"name": "x-v", "value": value, "type": "Exact"}]))
    assert any(rule in message for message in errors["header_matches"]), errors
    policy_errors = errors_of(Policy(service=service, name="p", kind="request_headers",
                                     config={"set": {"x-v": value}}))
    assert rule in policy_errors["config"][0], policy_errors
    regex_errors = errors_of(Route(service=service, name="r", path="/a", header_matches=[
        {"name": "x-v", "value": "(?!no)", "type": "RegularExpression"}]))
    assert any("RE2 refuses it" in message for message in regex_errors["header_matches"])


def test_backend_retry_and_timeout_limits():
    service = APIServiceFactory()
    errors = errors_of(
        Backend(service=service, name="b", endpoints=["a:1"], retry_attempts=11, timeout_seconds=0)
    )
    assert "retry_attempts" in str(errors)
    assert "timeout_seconds" in str(errors)


def test_rate_limit_values_must_be_positive():
    service = APIServiceFactory()
    policy = Policy(service=service, name="p", kind="rate_limit", config={"requests": 5})
    policy.full_clean()
    assert policy.config == {"requests": 5, "unit": "Minute"}
    errors = errors_of(Policy(service=service, name="p", kind="rate_limit", config={"requests": 0}))
    assert "rate_limit: 'requests' must be a positive integer" in errors["config"]


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        ("cors", {"allow_origins": []}, "needs at least one entry"),
        ("cors", {"allow_origins": ["*"], "allow_credentials": True}, "cannot be combined"),
        ("ip_allowlist", {"cidrs": ["10.0.0.300/8"]}, "not an IP network"),
        ("request_headers", {"set": {}}, "at least one header"),
        ("rate_limit", {"requests": 5, "unit": "Week"}, "'unit' must be one of"),
        ("rate_limit", {"requests": 5, "burst": 3}, "unknown key(s) burst"),
    ],
)
def test_policy_configs_that_are_refused(kind, config, message):
    service = APIServiceFactory()
    errors = errors_of(Policy(service=service, name="p", kind=kind, config=config))
    assert message in errors["config"][0]


def test_policy_environments_are_checked():
    service = APIServiceFactory()
    policy = Policy(
        service=service, name="p", kind="rate_limit", config={"requests": 5}, environments=["prod"]
    )
    policy.full_clean()
    assert policy.applies_to("prod") and not policy.applies_to("dev")
    errors = errors_of(
        Policy(
            service=service,
            name="p",
            kind="rate_limit",
            config={"requests": 5},
            environments=["production"],
        )
    )
    assert "environments" in errors


def test_https_listener_needs_a_certificate_ref():
    gateway = GatewayFactory()
    Listener(
        gateway=gateway,
        name="https",
        port=443,
        protocol="HTTPS",
        tls_mode="Terminate",
        certificate_ref="site-tls",
    ).full_clean()
    errors = errors_of(
        Listener(gateway=gateway, name="https", port=443, protocol="HTTPS", tls_mode="Terminate")
    )
    assert "TLS mode Terminate needs a certificate ref" in errors["certificate_ref"][0]


def test_listener_port_range_and_uniqueness():
    gateway = GatewayFactory()
    Listener.objects.create(gateway=gateway, name="http", port=80, protocol="HTTP")
    errors = errors_of(Listener(gateway=gateway, name="http2", port=70000, protocol="HTTP"))
    assert "port" in str(errors)
    errors = errors_of(Listener(gateway=gateway, name="http", port=8080, protocol="HTTP"))
    assert "name: a listener with this name already exists" in str(errors)
    errors = errors_of(Listener(gateway=gateway, name="other", port=80, protocol="HTTP"))
    assert "port: another listener of the gateway uses this port" in str(errors)


def test_http_listener_takes_no_tls():
    gateway = GatewayFactory()
    errors = errors_of(
        Listener(
            gateway=gateway,
            name="h",
            port=80,
            protocol="HTTP",
            tls_mode="Terminate",
            certificate_ref="x",
        )
    )
    assert "take no TLS settings" in errors["tls_mode"][0]


def test_gateway_labels_are_kubernetes_labels():
    tenant = TenantFactory()
    GatewayFactory.build(tenant=tenant, name="g", labels={"team": "payments"}).full_clean()
    errors = errors_of(GatewayFactory.build(tenant=tenant, name="g", labels={"team": "pay ments"}))
    assert "labels" in errors


def test_publish_parts_belong_to_one_tenant():
    tenant, other = TenantFactory(), TenantFactory()
    cluster = ClusterFactory()
    good = ProductPublish(
        tenant=tenant,
        product=ProductFactory(tenant=tenant),
        gateway=GatewayFactory(tenant=tenant),
        cluster=cluster,
        environment="dev",
    )
    good.full_clean()
    bad = ProductPublish(
        tenant=tenant,
        product=ProductFactory(tenant=other),
        gateway=GatewayFactory(tenant=other),
        cluster=cluster,
        environment="dev",
    )
    errors = errors_of(bad)
    assert "another tenant" in errors["product"][0]
    assert "another tenant" in errors["gateway"][0]
    foreign_service = APIServiceFactory(tenant=other, name="elsewhere")
    with pytest.raises(ValidationError) as excinfo:
        good.clean_api_services([APIServiceFactory(tenant=tenant), foreign_service])
    assert "another tenant: elsewhere" in excinfo.value.message_dict["api_services"][0]


def test_oauth2_publish_needs_issuer_and_jwks():
    tenant = TenantFactory()
    publish = ProductPublish(
        tenant=tenant,
        product=ProductFactory(tenant=tenant),
        gateway=GatewayFactory(tenant=tenant),
        cluster=ClusterFactory(),
        environment="prod",
        auth_mode="oauth2",
    )
    errors = errors_of(publish)
    assert "issuer" in errors["oauth2_issuer"][0]
    assert "JWKS" in errors["oauth2_jwks_uri"][0]
    publish.oauth2_issuer = "https://sso.example.com/realms/acme"
    publish.oauth2_jwks_uri = "https://sso.example.com/realms/acme/protocol/openid-connect/certs"
    publish.full_clean()
