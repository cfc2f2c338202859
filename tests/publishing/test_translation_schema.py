"""Every object every driver renders validates against the real schemas (structure, enums,
int-or-string, CEL rules; core kinds too), for the fixed cases and for generated specs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from kubesim.schema import SchemaRegistry
from publishing.translation import GATEWAY_CLASSES, render_manifests, unsupported_features

from . import specs
from .test_translation import CASES, case_spec

# Per class: examples of generated specs, with no deadline (the first examples compile the
# schemas of every kind) and within the minute the whole module may take.
EXAMPLES_PER_CLASS = 150

# The API groups each class may use beyond Kubernetes' own and the Gateway API.
CLASS_GROUPS = {
    "envoy-gateway": {"gateway.envoyproxy.io"},
    "kong": {"configuration.konghq.com"},
    "apisix": {"apisix.apache.org"},
    "traefik": {"traefik.io"},
    "nginx": {"gateway.nginx.org"},
}
SHARED_GROUPS = {"", "discovery.k8s.io", "gateway.networking.k8s.io"}


@pytest.fixture(scope="module")
def registry(crd_dir) -> SchemaRegistry:
    return SchemaRegistry.from_directory(crd_dir)


def schema_errors(registry: SchemaRegistry, manifests: list[dict]) -> list[str]:
    return [
        f"{manifest['kind']}/{manifest['metadata']['name']}: {error}"
        for manifest in manifests
        for error in registry.validate(manifest, strict=True)
    ]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("gateway_class", GATEWAY_CLASSES)
def test_rendered_objects_validate(registry, gateway_class, case):
    manifests = render_manifests(case_spec(case, gateway_class), revision=1)
    assert schema_errors(registry, manifests) == []


@pytest.mark.parametrize("gateway_class", GATEWAY_CLASSES)
def test_generated_specs_render_valid_objects(registry, gateway_class):
    @settings(
        max_examples=EXAMPLES_PER_CLASS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(spec=specs.revision_specs(gateway_class))
    def check(spec):
        assert unsupported_features(spec, gateway_class) == []
        manifests = render_manifests(spec, revision=5)
        assert schema_errors(registry, manifests) == []

    check()


@pytest.mark.parametrize("gateway_class", GATEWAY_CLASSES)
def test_classes_use_only_served_kinds_of_their_own_groups(registry, gateway_class):
    served = {
        (resource.group, resource.version, resource.kind) for resource in registry.resource_types()
    }
    allowed_groups = SHARED_GROUPS | CLASS_GROUPS[gateway_class]
    for case in CASES:
        for manifest in render_manifests(case_spec(case, gateway_class), revision=1):
            group, _slash, version = manifest["apiVersion"].rpartition("/")
            assert (group, version, manifest["kind"]) in served, manifest["apiVersion"]
            assert group in allowed_groups, (gateway_class, manifest["apiVersion"])
