"""The translator: golden manifests per gateway class, determinism, labels, names, refusals.

Golden files are the product: review a diff in tests/publishing/golden/ as carefully as code.
Rewrite them with `UPDATE_GOLDEN=1 pytest tests/publishing/test_translation.py`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from publishing.translation import (
    APPLY_ORDER,
    CAPABILITY_MATRIX,
    DRIVERS,
    GATEWAY_CLASSES,
    Feature,
    TranslationError,
    render_capability_matrix_markdown,
    render_manifests,
    required_features,
    translation_errors,
    unsupported_features,
)
from publishing.translation.naming import MAX_NAME_LENGTH, ObjectNames, fit_name
from tests.conftest import REPO_ROOT

from . import specs

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"

CASES = {
    "demo": specs.demo_spec,
    "demo-oauth2": lambda cls: specs.demo_spec(cls, auth_mode="oauth2"),
    "dev-environment": specs.dev_environment_spec,
    "regex-and-headers": specs.regex_and_headers_spec,
    "listeners-grpc-tls": specs.many_listeners_spec,
    "long-names": specs.long_names_spec,
}
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def case_spec(case: str, gateway_class: str) -> dict:
    return specs.expressible(CASES[case](gateway_class), gateway_class)


def dump(manifests: list[dict]) -> str:
    return yaml.safe_dump_all(manifests, sort_keys=False, allow_unicode=True)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("gateway_class", GATEWAY_CLASSES)
def test_golden_manifests(gateway_class, case):
    rendered = dump(render_manifests(case_spec(case, gateway_class), revision=7))
    path = GOLDEN / gateway_class / f"{case}.yaml"
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 and review it"
    assert rendered == path.read_text()


def test_no_stale_golden_files():
    expected = {f"{cls}/{case}.yaml" for cls in GATEWAY_CLASSES for case in CASES}
    present = {str(path.relative_to(GOLDEN)) for path in GOLDEN.rglob("*.yaml")}
    assert present == expected


@pytest.mark.parametrize("gateway_class", GATEWAY_CLASSES)
def test_same_input_gives_byte_identical_output(gateway_class):
    spec = case_spec("demo", gateway_class)
    first = json.dumps(render_manifests(spec, revision=3))
    # A spec that went through JSON (the agent's wire format) renders the same.
    second = json.dumps(render_manifests(json.loads(json.dumps(spec)), revision=3))
    assert first == second
    assert spec == case_spec("demo", gateway_class), "rendering must not modify its input"


def test_output_does_not_depend_on_the_hash_seed():
    # The agent renders in another process than the server: set and dict iteration must not
    # leak into the output.
    script = (
        "import json, sys; from tests.publishing import specs; "
        "from publishing.translation import render_manifests; "
        "print(json.dumps([render_manifests(specs.expressible(specs.demo_spec(c), c), "
        "revision=1) for c in sys.argv[1:]]))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script, *GATEWAY_CLASSES],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "PYTHONHASHSEED": seed,
                "DJANGO_SETTINGS_MODULE": "impgateway.settings",
            },
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("gateway_class", GATEWAY_CLASSES)
def test_every_object_carries_the_publish_labels(gateway_class, case):
    spec = case_spec(case, gateway_class)
    certificate_namespaces = {
        listener["certificate_ref"]["namespace"]
        for listener in spec["gateway"]["listeners"]
        if listener["certificate_ref"] and listener["certificate_ref"]["namespace"]
    } - {spec["publish"]["namespace"]}
    for manifest in render_manifests(spec, revision=11):
        metadata = manifest["metadata"]
        if manifest["kind"] == "ReferenceGrant":
            # Grants live beside what they grant: the certificates of other namespaces.
            assert metadata["namespace"] in certificate_namespaces
        else:
            assert metadata["namespace"] == spec["publish"]["namespace"]
        labels = metadata["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "imp-gateway"
        assert labels["imp-gateway.io/publish"] == str(spec["publish"]["id"])
        assert labels["imp-gateway.io/revision"] == "11"
        assert labels["imp-gateway.io/tenant"] == "imprun"
        if manifest["kind"] == "Gateway":
            assert labels["imprun.dev/team"] == "platform"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("gateway_class", GATEWAY_CLASSES)
def test_manifests_are_sorted_in_apply_order_and_unique(gateway_class, case):
    manifests = render_manifests(case_spec(case, gateway_class), revision=1)
    keys = [(APPLY_ORDER.index(m["kind"]), m["kind"], m["metadata"]["name"]) for m in manifests]
    assert keys == sorted(keys)
    assert len({(m["kind"], m["metadata"]["name"]) for m in manifests}) == len(manifests)
    kinds = [m["kind"] for m in manifests]
    # Routes go last, so no route is live before the policies that guard it.
    last_policy = max(i for i, kind in enumerate(kinds) if kind not in ("HTTPRoute", "GRPCRoute"))
    assert all(kind in ("HTTPRoute", "GRPCRoute") for kind in kinds[last_policy + 1 :])


@pytest.mark.parametrize("gateway_class", GATEWAY_CLASSES)
def test_long_inputs_give_valid_names_of_at_most_63_characters(gateway_class):
    manifests = render_manifests(case_spec("long-names", gateway_class), revision=1)
    for manifest in manifests:
        name = manifest["metadata"]["name"]
        assert len(name) <= MAX_NAME_LENGTH, name
        assert DNS_1035.match(name), name
    services = [m for m in manifests if m["kind"] == "Service"]
    if gateway_class != "envoy-gateway":
        assert len(services) == 3
        assert len({m["metadata"]["name"] for m in services}) == 3


def test_names_are_truncated_with_a_hash_that_keeps_them_distinct():
    first = fit_name("a" * 60, "service-one")
    second = fit_name("a" * 60, "service-two")
    assert len(first) == len(second) == MAX_NAME_LENGTH
    assert first != second
    assert fit_name("3d-api", "prod") == "ig-3d-api-prod"


def test_names_that_join_to_the_same_text_stay_distinct():
    names = ObjectNames("shop-prod")
    first = names.name("Route", "x", "a-b")
    second = names.name("Route", "x-a", "b")
    assert first == "shop-prod-x-a-b"
    assert second != first and second.startswith("shop-prod-x-a-b-")
    assert names.name("Route", "x-a", "b") == second
    assert names.name("Service", "x-a", "b") == "shop-prod-x-a-b"


@pytest.mark.parametrize("gateway_class", GATEWAY_CLASSES)
def test_unexpressible_features_raise_naming_class_and_feature(gateway_class):
    spec = specs.demo_spec(gateway_class)
    expected = unsupported_features(spec, gateway_class)
    if not expected:
        assert gateway_class == "envoy-gateway"
        render_manifests(spec, revision=1)
        return
    with pytest.raises(TranslationError) as caught:
        render_manifests(spec, revision=1)
    assert caught.value.errors == expected
    for message in expected:
        assert message.startswith(f"gateway class '{gateway_class}' cannot express feature '")


def test_nginx_refusal_names_the_policy_and_its_service():
    messages = unsupported_features(specs.demo_spec("nginx"), "nginx")
    assert (
        "gateway class 'nginx' cannot express feature 'ip_allowlist' (used by policy "
        "'office-only' of service 'payment-service'): "
    ) in "\n".join(messages)


@pytest.mark.parametrize("gateway_class", GATEWAY_CLASSES)
def test_reduced_specs_are_fully_expressible(gateway_class):
    for case in CASES:
        assert unsupported_features(case_spec(case, gateway_class), gateway_class) == []


def test_oauth2_is_refused_by_every_class_but_envoy_gateway_and_apisix():
    for gateway_class in GATEWAY_CLASSES:
        spec = specs.demo_spec(gateway_class, auth_mode="oauth2")
        refused = any("'jwt_auth'" in m for m in unsupported_features(spec, gateway_class))
        assert refused == (gateway_class not in ("envoy-gateway", "apisix"))


def test_required_features_of_the_demo():
    features = required_features(specs.demo_spec())
    assert list(features) == [f for f in Feature if f in features]
    assert features[Feature.IP_ALLOWLIST] == ["policy 'office-only' of service 'payment-service'"]
    assert features[Feature.API_KEY_AUTH] == ["publish 'payment-api-prod' (auth mode apikey)"]
    assert features[Feature.PATH_REWRITE] == [
        "route 'payment-events' of service 'payment-service'",
        "backend 'partner' of service 'refund-service'",
    ]
    assert Feature.PATH_REGEX not in features
    assert features[Feature.HTTPS_LISTENERS] == ["listener 'https' of gateway 'gateway-envoy-prod'"]


def test_translation_errors_lists_every_refusal_render_would_raise():
    spec = specs.demo_spec("nginx")
    specs.find_service(spec, "debug-service")["routes"].append(
        specs.route("dotted", "/a//b", backend="echo")
    )
    errors = translation_errors(spec)
    assert errors[:-1] == unsupported_features(spec, "nginx")
    assert "path '/a//b' is not a normalised URL path" in errors[-1]
    with pytest.raises(TranslationError) as caught:
        render_manifests(spec, revision=1)
    assert caught.value.errors == errors
    assert translation_errors(specs.demo_spec()) == []


def test_envoy_gateway_refuses_more_audiences_than_its_jwt_provider_takes():
    spec = specs.demo_spec(auth_mode="oauth2")
    spec["oauth2"]["audiences"] = [f"api-{n}" for n in range(9)]
    with pytest.raises(TranslationError, match="at most 8 audiences"):
        render_manifests(spec, revision=1)


def test_unknown_gateway_class_is_refused():
    spec = specs.demo_spec()
    spec["gateway"]["gateway_class"] = "haproxy"
    with pytest.raises(TranslationError, match="unknown gateway class 'haproxy'"):
        render_manifests(spec, revision=1)


def test_capability_matrix_covers_every_class_and_feature():
    assert set(CAPABILITY_MATRIX) == set(GATEWAY_CLASSES) == set(DRIVERS)
    for matrix in CAPABILITY_MATRIX.values():
        assert set(matrix) == set(Feature)
        assert all(support.note for support in matrix.values())


def test_capability_matrix_document_is_current():
    document = REPO_ROOT / "docs" / "gateway-classes.md"
    assert document.read_text() == render_capability_matrix_markdown(), (
        "regenerate: python -m publishing.translation.features > docs/gateway-classes.md"
    )


def test_gateway_class_name_comes_from_the_cluster_capabilities():
    manifests = render_manifests(
        specs.demo_spec(), revision=1, capabilities={"gateway_class_names": {"envoy-gateway": "eg"}}
    )
    gateway = next(m for m in manifests if m["kind"] == "Gateway")
    assert gateway["spec"]["gatewayClassName"] == "eg"
    default = render_manifests(specs.demo_spec(), revision=1, capabilities={})
    assert next(m for m in default if m["kind"] == "Gateway")["spec"]["gatewayClassName"] == (
        "envoy-gateway"
    )


def test_listeners_take_the_publish_hostname_only_when_it_is_unique():
    single = render_manifests(specs.demo_spec(), revision=1)
    listeners = next(m for m in single if m["kind"] == "Gateway")["spec"]["listeners"]
    assert {listener.get("hostname") for listener in listeners} == {specs.DEMO_HOSTNAME}

    several = render_manifests(specs.many_listeners_spec("envoy-gateway"), revision=1)
    gateway = next(m for m in several if m["kind"] == "Gateway")
    by_name = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
    assert "hostname" not in by_name["https"]
    assert by_name["mtls-passthrough"]["hostname"] == "mtls.orders.imprun.dev"
    assert "hostname" not in by_name["raw-tcp"]
    # A GRPC listener is an HTTPS listener that admits GRPCRoutes only.
    assert by_name["grpc"]["protocol"] == "HTTPS"
    assert by_name["grpc"]["allowedRoutes"]["kinds"] == [
        {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"}
    ]
    assert by_name["https"]["tls"]["certificateRefs"][0]["namespace"] == "cert-manager"
    routes = {m["metadata"]["name"]: m for m in several if m["kind"].endswith("Route")}
    grpc_route = routes["orders-prod-42-order-service-create-order"]
    assert [ref["sectionName"] for ref in grpc_route["spec"]["parentRefs"]] == ["grpc"]
    http_route = routes["orders-prod-42-status-service-status"]
    assert [ref["sectionName"] for ref in http_route["spec"]["parentRefs"]] == ["http", "https"]
    assert http_route["spec"]["hostnames"] == [
        "orders.imprun.dev",
        "orders.prod.kr-seoul.api.imprun.dev",
    ]


def test_backend_base_path_and_prefix_rewrite_reach_the_upstream_path():
    manifests = render_manifests(specs.demo_spec(), revision=1)
    routes = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "HTTPRoute"}
    events = routes["payment-api-prod-42-payment-service-payment-events"]["spec"]["rules"][0]
    assert events["filters"][-1]["urlRewrite"] == {
        "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/events"}
    }
    refund = routes["payment-api-prod-42-refund-service-refund-status"]["spec"]["rules"][0]
    assert refund["filters"][-1]["urlRewrite"] == {
        "hostname": "refunds.partner.example.com",
        "path": {"type": "ReplaceFullPath", "replaceFullPath": "/api/v1/refunds/status"},
    }


def test_one_rule_per_method_so_each_rewrite_has_a_single_match():
    manifests = render_manifests(specs.demo_spec(), revision=1)
    route = next(
        m
        for m in manifests
        if m["kind"] == "HTTPRoute"
        and m["metadata"]["name"] == "payment-api-prod-42-payment-service-get-payment"
    )
    rules = route["spec"]["rules"]
    assert [rule["matches"][0]["method"] for rule in rules] == ["GET", "HEAD", "OPTIONS"]
    assert all(len(rule["matches"]) == 1 for rule in rules)
    # The service has a CORS policy: browsers' preflights reach the route's CORS handling.
    assert rules[2]["matches"][0]["headers"] == [
        {"type": "RegularExpression", "name": "access-control-request-method", "value": ".+"}
    ]


def test_envoy_gateway_clamps_the_backend_timeout_to_the_route_timeout():
    spec = specs.demo_spec()
    # Without retries (with retries the backend timeout is per attempt: see the contracts).
    specs.find_service(spec, "payment-service")["backends"][0]["retry_attempts"] = 0
    manifests = render_manifests(spec, revision=1)
    route = next(
        m
        for m in manifests
        if m["kind"] == "HTTPRoute"
        and m["metadata"]["name"] == "payment-api-prod-42-payment-service-create-payment"
    )
    assert route["spec"]["rules"][0]["timeouts"] == {"request": "15s", "backendRequest": "10s"}


def test_api_keys_stay_in_secrets_as_base64_data():
    for gateway_class in ("envoy-gateway", "kong", "apisix"):
        manifests = (
            render_manifests(specs.demo_spec(gateway_class), revision=1)
            if (gateway_class == "envoy-gateway")
            else render_manifests(case_spec("demo", gateway_class), revision=1)
        )
        text = json.dumps([m for m in manifests if m["kind"] != "Secret"])
        for consumer in specs.demo_consumers():
            for key in consumer["api_keys"]:
                assert key not in text
        secrets = [m for m in manifests if m["kind"] == "Secret"]
        assert secrets and all("stringData" not in m for m in secrets)


def test_kong_scopes_consumers_to_the_publish_with_an_acl():
    manifests = render_manifests(case_spec("demo", "kong"), revision=1)
    plugins = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "KongPlugin"}
    assert plugins["payment-api-prod-42-acl"]["config"]["allow"] == ["imp-gateway-publish-42"]
    acl_secrets = [
        m
        for m in manifests
        if m["kind"] == "Secret" and m["metadata"]["labels"]["konghq.com/credential"] == "acl"
    ]
    assert len(acl_secrets) == 2
    for route in (m for m in manifests if m["kind"] == "HTTPRoute"):
        annotation = route["metadata"]["annotations"]["konghq.com/plugins"].split(",")
        assert {"payment-api-prod-42-key-auth", "payment-api-prod-42-acl"} <= set(annotation)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: specs.find_service(s, "refund-service")["backends"][0]["endpoints"].append(
                specs.endpoint("https://203.0.113.5:8443")
            ),
            "https endpoint '203.0.113.5' needs a DNS name",
        ),
        (
            lambda s: specs.find_service(s, "refund-service")["backends"][0]["endpoints"].append(
                specs.endpoint("http://refunds-2.partner.example.com/api")
            ),
            "mixes http and https endpoints",
        ),
        (
            lambda s: specs.find_service(s, "refund-service")["routes"].append(
                specs.route(
                    "by-id", "/v1/refunds/[0-9]+", backend="partner", match_type="RegularExpression"
                )
            ),
            "a regular-expression path cannot be forwarded under the base path '/api'",
        ),
        (
            lambda s: specs.find_service(s, "debug-service")["policies"].extend(
                [
                    specs.policy("a", "rate_limit", requests=1),
                    specs.policy("b", "rate_limit", requests=2),
                ]
            ),
            "service 'debug-service': policies 'a', 'b' are all rate_limit",
        ),
        (
            lambda s: specs.find_service(s, "debug-service")["routes"].append(
                specs.route("dotted", "/a/../b", backend="echo")
            ),
            "path '/a/../b' is not a normalised URL path",
        ),
        (
            lambda s: s["gateway"].update(listeners=[specs.listener("tcp", 9000, "TCP")]),
            "gateway 'gateway-envoy-prod' has no HTTP or HTTPS listener",
        ),
    ],
)
def test_specs_no_class_can_express_are_refused(change, message):
    spec = copy.deepcopy(specs.demo_spec())
    change(spec)
    with pytest.raises(TranslationError) as caught:
        render_manifests(spec, revision=1)
    assert any(message in error for error in caught.value.errors), caught.value.errors


def test_cors_on_a_grpc_service_is_refused():
    spec = specs.many_listeners_spec("envoy-gateway")
    specs.find_service(spec, "order-service")["policies"].append(
        specs.policy("web", "cors", allow_origins=["https://app.imprun.dev"])
    )
    with pytest.raises(TranslationError, match="CORS applies to HTTP APIs"):
        render_manifests(spec, revision=1)


def test_nginx_refuses_a_timeout_it_cannot_write():
    spec = case_spec("demo", "nginx")
    specs.find_service(spec, "refund-service")["backends"][0]["timeout_seconds"] = 10001
    with pytest.raises(TranslationError, match="timeout 10001s does not fit"):
        render_manifests(spec, revision=1)


def test_an_unknown_spec_version_is_refused_not_guessed():
    from publishing.translation import TranslationError, render_manifests

    spec = specs.demo_spec("envoy-gateway")
    spec["spec_version"] = 2
    with pytest.raises(TranslationError, match="spec version 2 is not supported"):
        render_manifests(spec, revision=1)
