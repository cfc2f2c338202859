"""docker/agent/: the agent's Kubernetes manifests apply with kubectl, and the RBAC they grant
covers exactly the kinds the translator produces for every gateway class."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubesim import SimCluster
from kubesim.schema import SchemaRegistry
from publishing.translation import GATEWAY_CLASSES, render_manifests
from tests.conftest import REPO_ROOT, skip_or_fail
from tests.publishing import specs

MANIFESTS = REPO_ROOT / "docker" / "agent"
KUBECTL = os.environ.get("KUBECTL") or shutil.which("kubectl")


def documents() -> list[dict]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def granted_resources(role_name: str) -> set[tuple[str, str]]:
    role = next(
        d for d in documents() if d["kind"] == "ClusterRole" and d["metadata"]["name"] == role_name
    )
    write = {"get", "list", "create", "update", "patch", "delete"}
    granted = set()
    for rule in role["rules"]:
        assert write <= set(rule["verbs"]), f"rule {rule} lacks verbs the agent uses"
        granted |= {
            (group, resource) for group in rule["apiGroups"] for resource in rule["resources"]
        }
    return granted


def produced_resources(registry: SchemaRegistry, manifests: list[dict]) -> set[tuple[str, str]]:
    produced = set()
    for manifest in manifests:
        resource = registry.resource_type(manifest["apiVersion"], manifest["kind"])
        assert resource is not None, f"{manifest['apiVersion']}/{manifest['kind']} is not served"
        produced.add((resource.group, resource.plural))
    return produced


BUILDERS = (
    lambda c: specs.demo_spec(c),
    lambda c: specs.demo_spec(c, auth_mode="none"),
    specs.regex_and_headers_spec,
    specs.many_listeners_spec,
    specs.dev_environment_spec,
    specs.long_names_spec,
)


@pytest.fixture(scope="module")
def registry(crd_dir) -> SchemaRegistry:
    return SchemaRegistry.from_directory(crd_dir)


def split_by_namespace(spec: dict, manifests: list[dict]) -> tuple[list[dict], list[dict]]:
    """(objects in the publish namespace, objects in other namespaces)."""
    namespace = spec["publish"]["namespace"]
    own = [m for m in manifests if m["metadata"]["namespace"] == namespace]
    foreign = [m for m in manifests if m["metadata"]["namespace"] != namespace]
    return own, foreign


def test_cluster_roles_cover_exactly_what_the_translator_produces(registry):
    produced: set[tuple[str, str]] = set()
    produced_elsewhere: set[tuple[str, str]] = set()
    for gateway_class in GATEWAY_CLASSES:
        for build in BUILDERS:
            spec = specs.expressible(build(gateway_class), gateway_class)
            own, foreign = split_by_namespace(spec, render_manifests(spec, revision=1))
            produced |= produced_resources(registry, own)
            produced_elsewhere |= produced_resources(registry, foreign)
    # The publish namespace takes the resources role; other namespaces (those of listener
    # certificates) take the ReferenceGrant role and nothing more.
    assert granted_resources("imp-gateway-agent-resources") == produced
    assert granted_resources("imp-gateway-agent-reference-grants") == produced_elsewhere
    assert produced_elsewhere == {("gateway.networking.k8s.io", "referencegrants")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_publishes_need_nothing_beyond_the_cluster_roles(registry, data):
    gateway_class = data.draw(st.sampled_from(GATEWAY_CLASSES))
    spec = data.draw(specs.revision_specs(gateway_class))
    own, foreign = split_by_namespace(spec, render_manifests(spec, revision=1))
    assert produced_resources(registry, own) <= granted_resources("imp-gateway-agent-resources")
    assert produced_resources(registry, foreign) <= granted_resources(
        "imp-gateway-agent-reference-grants"
    )


def test_every_manifest_is_schema_valid(registry):
    for manifest in documents():
        assert registry.validate(manifest) == [], manifest["metadata"]["name"]


def test_manifests_apply_to_a_cluster_with_kubectl(crd_dir, tmp_path: Path):
    if KUBECTL is None:
        skip_or_fail("kubectl is not installed (CI installs Debian's kubernetes-client)")
    sim = SimCluster(crd_dir)
    sim.start(port=0)
    try:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}

        def kubectl(*args: str) -> str:
            result = subprocess.run(
                [
                    KUBECTL,
                    "--kubeconfig",
                    str(kubeconfig),
                    "--cache-dir",
                    str(tmp_path / "c"),
                    *args,
                ],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
            )
            assert result.returncode == 0, result.stderr
            return result.stdout

        kubectl("apply", "--server-side", "-f", str(MANIFESTS / "namespaces.yaml"))
        for name in ("rbac.yaml", "registration-secret.yaml", "agent.yaml"):
            kubectl("apply", "--server-side", "-f", str(MANIFESTS / name))
        assert sim.get_object("apps/v1", "StatefulSet", "imp-gateway-system", "imp-gateway-agent")
        assert sim.get_object(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "imp-gateway",
            "imp-gateway-agent-resources",
        )
        listed = kubectl(
            "get", "statefulsets,serviceaccounts", "-n", "imp-gateway-system", "-o", "name"
        )
        assert "statefulset.apps/imp-gateway-agent" in listed
        assert "serviceaccount/imp-gateway-agent" in listed
    finally:
        sim.stop()
