"""kubesim.schema against the real CRD set: valid objects pass, invalid ones fail with the
API server's field path, cause type and message."""

from __future__ import annotations

import copy

import pytest

from kubesim.cel import CelError, compile_program
from kubesim.schema import FieldError, SchemaRegistry, invalid_status, validate_manifest

GATEWAY_API = "gateway.networking.k8s.io/v1"


@pytest.fixture(scope="module")
def registry(crd_dir) -> SchemaRegistry:
    return SchemaRegistry.from_directory(crd_dir)


def gateway() -> dict:
    return {
        "apiVersion": GATEWAY_API,
        "kind": "Gateway",
        "metadata": {"name": "public", "namespace": "edge"},
        "spec": {
            "gatewayClassName": "envoy",
            "listeners": [
                {"name": "http", "protocol": "HTTP", "port": 80},
                {
                    "name": "https",
                    "protocol": "HTTPS",
                    "port": 443,
                    "hostname": "*.example.com",
                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": "wildcard-tls"}]},
                    "allowedRoutes": {"namespaces": {"from": "All"}},
                },
            ],
        },
    }


def http_route() -> dict:
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": {
            "name": "orders",
            "namespace": "shop",
            "labels": {"app.kubernetes.io/managed-by": "imp-gateway"},
        },
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "edge", "sectionName": "https"}],
            "hostnames": ["api.example.com"],
            "rules": [
                {
                    "matches": [
                        {
                            "path": {"type": "PathPrefix", "value": "/orders"},
                            "method": "GET",
                            "headers": [{"name": "X-Tenant", "value": "acme"}],
                        }
                    ],
                    "filters": [
                        {
                            "type": "RequestHeaderModifier",
                            "requestHeaderModifier": {"set": [{"name": "X-Api", "value": "v1"}]},
                        }
                    ],
                    "backendRefs": [{"name": "orders", "port": 8080, "weight": 1}],
                    "timeouts": {"request": "10s"},
                }
            ],
        },
    }


VALID = {
    "Gateway": gateway(),
    "HTTPRoute": http_route(),
    "GRPCRoute": {
        "apiVersion": GATEWAY_API,
        "kind": "GRPCRoute",
        "metadata": {"name": "inventory", "namespace": "shop"},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "edge"}],
            "hostnames": ["grpc.example.com"],
            "rules": [
                {
                    "matches": [{"method": {"service": "shop.Inventory", "method": "Get"}}],
                    "backendRefs": [{"name": "inventory", "port": 9000}],
                }
            ],
        },
    },
    "SecurityPolicy": {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "SecurityPolicy",
        "metadata": {"name": "orders-jwt", "namespace": "shop"},
        "spec": {
            "targetRefs": [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "orders"}
            ],
            "jwt": {
                "providers": [
                    {
                        "name": "keycloak",
                        "issuer": "https://sso.example.com/realms/acme",
                        "remoteJWKS": {
                            "uri": "https://sso.example.com/realms/acme/protocol/openid-connect/certs"
                        },
                    }
                ]
            },
            "cors": {"allowOrigins": ["https://app.example.com"], "maxAge": "10m"},
        },
    },
    "BackendTrafficPolicy": {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "BackendTrafficPolicy",
        "metadata": {"name": "orders-rate", "namespace": "shop"},
        "spec": {
            "targetRefs": [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "orders"}
            ],
            "rateLimit": {
                "type": "Local",
                "local": {"rules": [{"limit": {"requests": 100, "unit": "Minute"}}]},
            },
            "timeout": {"http": {"requestTimeout": "15s"}},
        },
    },
    "Backend": {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "Backend",
        "metadata": {"name": "legacy", "namespace": "shop"},
        "spec": {"endpoints": [{"fqdn": {"hostname": "legacy.example.com", "port": 443}}]},
    },
    "KongPlugin": {
        "apiVersion": "configuration.konghq.com/v1",
        "kind": "KongPlugin",
        "metadata": {"name": "orders-rate", "namespace": "shop"},
        "plugin": "rate-limiting",
        "config": {"minute": 100, "policy": "local"},
    },
    "KongConsumer": {
        "apiVersion": "configuration.konghq.com/v1",
        "kind": "KongConsumer",
        "metadata": {
            "name": "acme",
            "namespace": "shop",
            "annotations": {"kubernetes.io/ingress.class": "kong"},
        },
        "username": "acme",
        "credentials": ["acme-key-auth"],
    },
    "ApisixRoute": {
        "apiVersion": "apisix.apache.org/v2",
        "kind": "ApisixRoute",
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {
            "ingressClassName": "apisix",
            "http": [
                {
                    "name": "orders",
                    "match": {"paths": ["/orders/*"], "methods": ["GET"]},
                    "backends": [{"serviceName": "orders", "servicePort": 8080}],
                    "plugins": [{"name": "limit-count", "enable": True,
                                 "config": {"count": 100, "time_window": 60}}],
                }
            ],
        },
    },
    "ApisixConsumer": {
        "apiVersion": "apisix.apache.org/v2",
        "kind": "ApisixConsumer",
        "metadata": {"name": "acme", "namespace": "shop"},
        "spec": {"authParameter": {"keyAuth": {"value": {"key": "acme-secret-key"}}}},
    },
    "Middleware": {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": "orders-rate", "namespace": "shop"},
        "spec": {"rateLimit": {"average": 100, "burst": 50, "period": "1m"}},
    },
    "RateLimitPolicy": {
        "apiVersion": "gateway.nginx.org/v1alpha1",
        "kind": "RateLimitPolicy",
        "metadata": {"name": "orders-rate", "namespace": "shop"},
        "spec": {
            "targetRefs": [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "orders"}
            ],
            "rateLimit": {"local": {"rules": [{"key": "$binary_remote_addr", "rate": "10r/s"}]}},
        },
    },
    "Secret": {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "wildcard-tls", "namespace": "edge"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"},
    },
    "Service": {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {
            "selector": {"app": "orders"},
            "ports": [
                {"name": "http", "port": 8080, "targetPort": "http"},
                {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"},
            ],
        },
    },
    "EndpointSlice": {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "orders-abc12",
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "orders"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.12"], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    },
}


def errors_of(registry: SchemaRegistry, manifest: dict, **options) -> list[tuple[str, str]]:
    return [(error.field, error.reason) for error in registry.validate(manifest, **options)]


def edited(manifest: dict, change) -> dict:
    copied = copy.deepcopy(manifest)
    change(copied)
    return copied


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_manifests_have_no_errors(registry, kind):
    assert registry.validate(VALID[kind]) == []
    assert validate_manifest(VALID[kind], registry) == []


def test_registry_lists_resource_types(registry):
    types = {(t.api_version, t.kind): t for t in registry.resource_types()}
    routes = types[(GATEWAY_API, "HTTPRoute")]
    assert (routes.plural, routes.singular, routes.namespaced) == ("httproutes", "httproute", True)
    assert routes.storage and routes.served and routes.crd is not None
    assert routes.subresources == {"status": {}}
    assert types[(GATEWAY_API, "GatewayClass")].namespaced is False
    assert types[("gateway.networking.k8s.io/v1beta1", "HTTPRoute")].storage is False
    assert types[("v1", "Service")].short_names == ("svc",)
    assert types[("v1", "ConfigMap")].short_names == ("cm",)
    assert types[("v1", "Namespace")].namespaced is False
    assert types[("discovery.k8s.io/v1", "EndpointSlice")].plural == "endpointslices"
    assert types[("coordination.k8s.io/v1", "Lease")].crd is None
    # The experimental copies were skipped: only the standard channel's TCPRoute versions.
    tcp = registry.resource_type("gateway.networking.k8s.io/v1alpha2", "TCPRoute")
    assert tcp is not None and tcp.served is False
    assert len(registry.crds()) == 63


def test_every_cel_rule_of_the_real_crds_compiles(registry):
    assert registry.unsupported_rules() == []


def test_missing_required_field(registry):
    route = edited(http_route(), lambda r: r["spec"]["rules"][0]["backendRefs"][0].pop("name"))
    errors = registry.validate(route)
    assert errors[0] == FieldError(
        "spec.rules[0].backendRefs[0].name", "FieldValueRequired", "Required value"
    )
    gateway_without_class = edited(gateway(), lambda g: g["spec"].pop("gatewayClassName"))
    assert ("spec.gatewayClassName", "FieldValueRequired") in errors_of(
        registry, gateway_without_class
    )


def test_wrong_type(registry):
    route = edited(http_route(), lambda r: r["spec"]["rules"][0]["backendRefs"][0].update(port="x"))
    assert registry.validate(route)[0] == FieldError(
        "spec.rules[0].backendRefs[0].port",
        "FieldValueTypeInvalid",
        'Invalid value: "string": spec.rules[0].backendRefs[0].port in body must be of type '
        'integer: "string"',
    )


def test_enum_violation_blocks_cel_rules(registry):
    route = edited(
        http_route(),
        lambda r: r["spec"]["rules"][0]["matches"][0]["path"].update(type="Foo"),
    )
    errors = registry.validate(route)
    assert errors[0] == FieldError(
        "spec.rules[0].matches[0].path.type",
        "FieldValueNotSupported",
        'Unsupported value: "Foo": supported values: "Exact", "PathPrefix", "RegularExpression"',
    )
    assert errors[-1].field == "<nil>"
    assert "some validation rules were not checked" in errors[-1].message


def test_pattern_violation(registry):
    bad = edited(gateway(), lambda g: g["spec"]["listeners"][1].update(hostname="Bad_Host"))
    (error,) = [e for e in registry.validate(bad) if e.field == "spec.listeners[1].hostname"]
    assert error.reason == "FieldValueInvalid"
    assert error.message.startswith(
        'Invalid value: "Bad_Host": spec.listeners[1].hostname in body should match '
        "'^(\\*\\.)?[a-z0-9]"
    )


def test_max_items(registry):
    route = edited(
        http_route(), lambda r: r["spec"].update(hostnames=[f"h{i}.example.com" for i in range(17)])
    )
    assert registry.validate(route)[0] == FieldError(
        "spec.hostnames", "FieldValueTooMany", "Too many: 17: must have at most 16 items"
    )


def test_int_or_string(registry):
    middleware = VALID["Middleware"]
    as_int = edited(middleware, lambda m: m["spec"]["rateLimit"].update(period=60))
    assert registry.validate(as_int) == []
    as_bool = edited(middleware, lambda m: m["spec"]["rateLimit"].update(period=True))
    assert registry.validate(as_bool)[0] == FieldError(
        "spec.rateLimit.period",
        "FieldValueTypeInvalid",
        'Invalid value: "boolean": spec.rateLimit.period in body must be of type '
        'integer,string: "boolean"',
    )
    named_port = edited(
        VALID["ApisixRoute"],
        lambda r: r["spec"]["http"][0]["backends"][0].update(servicePort="http"),
    )
    assert registry.validate(named_port) == []


def test_duplicate_list_map_key(registry):
    twice = edited(
        gateway(),
        lambda g: g["spec"]["listeners"].append({"name": "http", "protocol": "HTTP", "port": 8080}),
    )
    errors = registry.validate(twice)
    assert FieldError(
        "spec.listeners[2]",
        "FieldValueDuplicate",
        'Duplicate value: map[string]interface {}{"name":"http"}',
    ) in errors
    # Not a blocking error, so the CEL rule about the same thing runs too.
    assert FieldError(
        "spec.listeners",
        "FieldValueInvalid",
        'Invalid value: "array": Listener name must be unique within the Gateway',
    ) in errors


def test_unknown_field_is_an_error_only_when_strict(registry):
    route = edited(http_route(), lambda r: r["spec"]["rules"][0].update(retries=3))
    assert registry.validate(route) == [
        FieldError("spec.rules[0].retries", "FieldValueForbidden",
                   'unknown field "spec.rules[0].retries"')
    ]
    assert registry.validate(route, strict=False) == []
    assert "retries" not in registry.prune(route)["spec"]["rules"][0]
    assert route["spec"]["rules"][0]["retries"] == 3  # the input is never changed


def test_null_is_reported_when_strict_and_dropped_otherwise(registry):
    route = edited(http_route(), lambda r: r["spec"].update(hostnames=None))
    assert errors_of(registry, route) == [
        ("spec.hostnames", "FieldValueTypeInvalid"),
        ("<nil>", "FieldValueInvalid"),  # a type error keeps the CEL rules from running
    ]
    assert registry.validate(route, strict=False) == []


def test_cel_rule_path_must_be_absolute(registry):
    route = edited(
        http_route(),
        lambda r: r["spec"]["rules"][0]["matches"][0]["path"].update(value="orders"),
    )
    assert registry.validate(route) == [
        FieldError(
            "spec.rules[0].matches[0].path",
            "FieldValueInvalid",
            'Invalid value: "object": value must be an absolute path and start with \'/\' when '
            "type one of ['Exact', 'PathPrefix']",
        )
    ]


def test_cel_rules_of_gateway_listeners(registry):
    https_passthrough = edited(
        gateway(), lambda g: g["spec"]["listeners"][1]["tls"].update(mode="Passthrough")
    )
    assert [e.message for e in registry.validate(https_passthrough)] == [
        'Invalid value: "array": tls mode must be Terminate for protocol HTTPS'
    ]
    tcp_with_hostname = edited(
        gateway(),
        lambda g: g["spec"]["listeners"].append(
            {"name": "db", "protocol": "TCP", "port": 5432, "hostname": "db.example.com"}
        ),
    )
    assert registry.validate(tcp_with_hostname) == [
        FieldError(
            "spec.listeners",
            "FieldValueInvalid",
            "Invalid value: \"array\": hostname must not be specified for protocols ['TCP', 'UDP']",
        )
    ]
    terminate_without_certificate = edited(
        gateway(), lambda g: g["spec"]["listeners"][1]["tls"].pop("certificateRefs")
    )
    assert errors_of(registry, terminate_without_certificate) == [
        ("spec.listeners[1].tls", "FieldValueInvalid")
    ]


def test_cel_rules_of_other_gateways(registry):
    policy = edited(VALID["SecurityPolicy"], lambda p: p["spec"].pop("targetRefs"))
    assert [e.field for e in registry.validate(policy)] == ["spec"]
    consumer = edited(VALID["KongConsumer"], lambda c: c.pop("username"))
    assert registry.validate(consumer) == [
        FieldError(
            "<nil>", "FieldValueInvalid",
            'Invalid value: "object": Need to provide either username or custom_id'
        )
    ]
    backend = edited(
        VALID["Backend"],
        lambda b: b["spec"]["endpoints"][0].update(ip={"address": "10.0.0.1", "port": 80}),
    )
    assert [e.field for e in registry.validate(backend)] == ["spec.endpoints[0]"]


def test_transition_rule_runs_only_with_old_object(registry):
    plugin = VALID["KongPlugin"]
    changed = edited(plugin, lambda p: p.update(plugin="key-auth"))
    assert registry.validate(changed) == []
    assert registry.validate(changed, old=plugin) == [
        FieldError("<nil>", "FieldValueInvalid",
                   'Invalid value: "object": The plugin field is immutable')
    ]
    assert registry.validate(plugin, old=plugin) == []
    gateway_class = {
        "apiVersion": GATEWAY_API,
        "kind": "GatewayClass",
        "metadata": {"name": "envoy"},
        "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
    }
    moved = edited(gateway_class, lambda c: c["spec"].update(controllerName="example.com/other"))
    assert errors_of(registry, moved, old=gateway_class) == [
        ("spec.controllerName", "FieldValueInvalid")
    ]


RULES_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "replicas": {"type": "integer"},
                                    "max": {"type": "integer", "default": 3},
                                    "mode": {"type": "string"},
                                    "tags": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "x-kubernetes-list-type": "set",
                                    },
                                    "note": {"type": "string", "nullable": True},
                                    "color": {"type": "string", "not": {"enum": ["red"]}},
                                    "size": {
                                        "x-kubernetes-int-or-string": True,
                                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                                        "allOf": [{"pattern": "^[0-9]+Mi$"}],
                                    },
                                    "template": {
                                        "type": "object",
                                        "x-kubernetes-embedded-resource": True,
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                    "expires": {
                                        "type": "string",
                                        "format": "date-time",
                                        "x-kubernetes-validations": [
                                            {
                                                "rule": "self > timestamp('2020-01-01T00:00:00Z')",
                                                "message": "must be after 2020",
                                            }
                                        ],
                                    },
                                    "ratio": {
                                        "type": "number",
                                        "x-kubernetes-validations": [
                                            {"rule": "type(self) == double && self <= 1.0"}
                                        ],
                                    },
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.replicas <= self.max",
                                        "messageExpression": "'replicas ' + string(self.replicas)"
                                        " + ' exceeds ' + string(self.max)",
                                        "fieldPath": ".replicas",
                                    },
                                    {
                                        "rule": "self.mode == oldSelf.mode",
                                        "message": "mode is immutable",
                                        "reason": "FieldValueForbidden",
                                    },
                                    {
                                        "rule": "!oldSelf.hasValue() || has(self.mode)",
                                        "message": "mode cannot be removed",
                                        "optionalOldSelf": True,
                                    },
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_message_expression_field_path_reason_and_optional_old_self():
    registry = SchemaRegistry([RULES_CRD])
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"replicas": 5, "mode": "a"},
    }
    assert registry.validate(widget) == [
        FieldError("spec.replicas", "FieldValueInvalid",
                   'Invalid value: "object": replicas 5 exceeds 3')
    ]
    small = edited(widget, lambda w: w["spec"].update(replicas=1))
    changed = edited(small, lambda w: w["spec"].update(mode="b"))
    assert registry.validate(changed, old=small) == [
        FieldError("spec", "FieldValueForbidden", "Forbidden: mode is immutable")
    ]
    removed = edited(small, lambda w: w["spec"].pop("mode"))
    assert [e.message for e in registry.validate(removed, old=small)] == [
        "Invalid value: \"object\": no such key: mode evaluating rule: mode is immutable",
        'Invalid value: "object": mode cannot be removed',
    ]
    tags = edited(small, lambda w: w["spec"].update(tags=["a", "b", "a"]))
    assert registry.validate(tags) == [
        FieldError("spec.tags[2]", "FieldValueDuplicate", 'Duplicate value: "a"')
    ]
    assert registry.resource_type("example.com/v1", "Widget").short_names == ("wd",)


def test_schema_keywords_beyond_the_common_ones():
    registry = SchemaRegistry([RULES_CRD])
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {
            "replicas": 1,
            "mode": "a",
            "note": None,
            "size": "64Mi",
            "template": {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}},
            "expires": "2030-01-01T00:00:00Z",
            "ratio": 1,
        },
    }
    assert registry.validate(widget) == []

    def spec_errors(**changes) -> list[tuple[str, str]]:
        return errors_of(registry, edited(widget, lambda w: w["spec"].update(changes)))

    assert spec_errors(color="red") == [("spec.color", "FieldValueInvalid")]
    assert spec_errors(size=64) == []  # allOf's pattern only applies to strings
    assert spec_errors(size="64Gi") == [("spec.size", "FieldValueInvalid")] * 2
    assert spec_errors(template={"apiVersion": "v1"}) == [
        ("spec.template.kind", "FieldValueRequired"),
        ("<nil>", "FieldValueInvalid"),
    ]
    early = edited(widget, lambda w: w["spec"].update(expires="2019-05-01T00:00:00Z"))
    assert registry.validate(early) == [
        FieldError(
            "spec.expires", "FieldValueInvalid", 'Invalid value: "string": must be after 2020'
        )
    ]
    assert spec_errors(expires="yesterday") == [
        ("spec.expires", "FieldValueTypeInvalid"),
        ("<nil>", "FieldValueInvalid"),
    ]
    assert spec_errors(ratio=2) == [("spec.ratio", "FieldValueInvalid")]


def test_core_kind_checks(registry):
    service = VALID["Service"]
    zero_port = edited(service, lambda s: s["spec"]["ports"][0].update(port=0))
    assert registry.validate(zero_port) == [
        FieldError("spec.ports[0].port", "FieldValueInvalid",
                   "Invalid value: 0: must be between 1 and 65535, inclusive")
    ]
    bad_protocol = edited(service, lambda s: s["spec"]["ports"][0].update(protocol="HTTP"))
    assert registry.validate(bad_protocol) == [
        FieldError("spec.ports[0].protocol", "FieldValueNotSupported",
                   'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"')
    ]
    unnamed = edited(service, lambda s: s["spec"]["ports"][1].pop("name"))
    assert errors_of(registry, unnamed) == [("spec.ports[1].name", "FieldValueRequired")]
    bad_name = edited(service, lambda s: s["metadata"].update(name="1orders"))
    assert errors_of(registry, bad_name) == [("metadata.name", "FieldValueInvalid")]
    assert "DNS-1035 label" in registry.validate(bad_name)[0].message

    secret = VALID["Secret"]
    not_base64 = edited(secret, lambda s: s["data"].update({"tls.key": "%%%"}))
    assert errors_of(registry, not_base64) == [("data[tls.key]", "FieldValueTypeInvalid")]
    no_key = edited(secret, lambda s: s["data"].pop("tls.key"))
    assert errors_of(registry, no_key) == [("data[tls.key]", "FieldValueRequired")]

    endpoint_slice = VALID["EndpointSlice"]
    bad_type = edited(endpoint_slice, lambda e: e.update(addressType="IPv5"))
    assert errors_of(registry, bad_type) == [("addressType", "FieldValueNotSupported")]
    bad_address = edited(endpoint_slice, lambda e: e["endpoints"][0].update(addresses=["fd00::1"]))
    assert registry.validate(bad_address) == [
        FieldError("endpoints[0].addresses[0]", "FieldValueInvalid",
                   'Invalid value: "fd00::1": must be a valid IPv4 address')
    ]
    changed_type = edited(
        endpoint_slice, lambda e: e.update(addressType="FQDN", endpoints=[{"addresses": ["a.b"]}])
    )
    assert errors_of(registry, changed_type, old=endpoint_slice) == [
        ("addressType", "FieldValueInvalid")
    ]

    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "agent", "namespace": "imp-gateway"},
        "spec": {"holderIdentity": "agent-0", "leaseDurationSeconds": 0},
    }
    assert registry.validate(lease) == [
        FieldError("spec.leaseDurationSeconds", "FieldValueInvalid",
                   "Invalid value: 0: must be greater than 0")
    ]


def test_metadata_checks(registry):
    no_name = edited(http_route(), lambda r: r["metadata"].pop("name"))
    assert registry.validate(no_name)[0] == FieldError(
        "metadata.name", "FieldValueRequired", "Required value: name or generateName is required"
    )
    generated = edited(no_name, lambda r: r["metadata"].update(generateName="orders-"))
    assert registry.validate(generated) == []
    bad_label = edited(http_route(), lambda r: r["metadata"]["labels"].update({"bad key": "x"}))
    assert errors_of(registry, bad_label) == [("metadata.labels", "FieldValueInvalid")]
    namespaced_class = {
        "apiVersion": GATEWAY_API,
        "kind": "GatewayClass",
        "metadata": {"name": "envoy", "namespace": "edge"},
        "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
    }
    assert registry.validate(namespaced_class) == [
        FieldError(
            "metadata.namespace", "FieldValueForbidden", "Forbidden: not allowed on this type"
        )
    ]


def test_unknown_kinds_and_versions(registry):
    assert errors_of(registry, {"apiVersion": GATEWAY_API, "kind": "Gateways"}) == [
        ("kind", "FieldValueNotSupported")
    ]
    assert errors_of(registry, {"apiVersion": "example.org/v9", "kind": "Thing"}) == [
        ("apiVersion", "FieldValueInvalid")
    ]
    unserved = {"apiVersion": "gateway.networking.k8s.io/v1alpha2", "kind": "TCPRoute"}
    assert errors_of(registry, unserved) == [("apiVersion", "FieldValueInvalid")]
    assert errors_of(registry, {"metadata": {}}) == [
        ("apiVersion", "FieldValueRequired"),
        ("kind", "FieldValueRequired"),
    ]


def test_one_of_on_gateway_addresses(registry):
    bad = edited(gateway(), lambda g: g["spec"].update(addresses=[{"value": "not-an-ip"}]))
    errors = registry.validate(bad)
    assert errors[0].field == "spec.addresses[0]"
    assert "must validate one and only one schema (oneOf). Found none valid" in errors[0].message
    good = edited(gateway(), lambda g: g["spec"].update(addresses=[{"value": "192.0.2.10"}]))
    assert registry.validate(good) == []


def test_defaults_are_applied_as_the_server_does(registry):
    defaulted = registry.apply_defaults(http_route())
    parent = defaulted["spec"]["parentRefs"][0]
    assert (parent["group"], parent["kind"]) == ("gateway.networking.k8s.io", "Gateway")
    assert defaulted["spec"]["rules"][0]["backendRefs"][0]["kind"] == "Service"
    service = registry.apply_defaults(VALID["Service"])
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["protocol"] == "TCP"
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    secret = registry.apply_defaults(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
         "stringData": {"password": "hunter2"}}
    )
    assert secret == {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                      "type": "Opaque", "data": {"password": "aHVudGVyMg=="}}


def test_invalid_status_has_the_api_server_shape(registry):
    route = edited(
        http_route(), lambda r: r["spec"]["rules"][0]["matches"][0]["path"].update(value="x")
    )
    status = invalid_status("gateway.networking.k8s.io", "HTTPRoute", "orders",
                            registry.validate(route))
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"].startswith(
        'HTTPRoute.gateway.networking.k8s.io "orders" is invalid: spec.rules[0].matches[0].path: '
    )
    assert status["details"]["causes"][0]["field"] == "spec.rules[0].matches[0].path"
    assert status["details"]["causes"][0]["reason"] == "FieldValueInvalid"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'Hello'.lowerAscii() + 'x'.upperAscii()", "helloX"),
        ("'a,b,c'.split(',')", ["a", "b", "c"]),
        ("['a', 'b'].join('-')", "a-b"),
        ("'aXbX'.replace('X', '.')", "a.b."),
        ("'  t '.trim()", "t"),
        ("'banana'.indexOf('an') == 1 && 'banana'.lastIndexOf('an') == 3", True),
        ("'hello'.substring(1, 3)", "el"),
        ("'v1.2'.matches('^v[0-9]+')", True),
        ("'a1b22'.find('[0-9]+')", "1"),
        ("'a1b22'.findAll('[0-9]+')", ["1", "22"]),
        ("[1, 2, 3].isSorted() && [3, 1].sum() == 4 && [3, 1].min() == 1", True),
        ("[1, 5, 2].max() == 5 && [1, 5, 2].indexOf(5) == 1", True),
        ("url('https://example.com:8443/a?b=c').getHostname()", "example.com"),
        ("isURL('not a url')", False),
        ("ip('10.0.0.1').family() == 4 && isIP('::1') && !isIP('1.2.3')", True),
        ("cidr('10.0.0.0/8').containsIP(ip('10.2.3.4')) && isCIDR('fd00::/8')", True),
        ("quantity('1.5Gi').isGreaterThan(quantity('1G')) && quantity('2').asInteger() == 2", True),
        ("'%s has %d items'.format(['cart', 3])", "cart has 3 items"),
        ("duration('1m30s') == duration('90s') && duration('1h').getMinutes() == 60", True),
        ("timestamp('2024-05-01T10:00:00Z').getFullYear() == 2024", True),
        ("[1, 2, 3].map(x, x * 2).filter(x, x > 2)", [4, 6]),
        ("[1, 2, 3].exists_one(x, x == 2) && [1, 2].all(x, x > 0)", True),
        ("{'a': 1}.exists(k, k == 'a') && 'a' in {'a': 1}", True),
        ("optional.of(1).orValue(2) + optional.none().orValue(3)", 4),
        ("type(1) == int && string(1.5) == '1.5' && int('42') == 42", True),
        ("1 / 0 == 0 || true", True),
    ],
)
def test_cel_library(expression, expected):
    assert compile_program(expression).evaluate({}) == expected


@pytest.mark.parametrize(
    "expression",
    ["1 / 0 == 0", "{'a': 1}.b == 1", "[1][3] == 1", "9223372036854775807 + 1 > 0", "'a' < 1"],
)
def test_cel_runtime_errors(expression):
    with pytest.raises(CelError):
        compile_program(expression).evaluate({})
