"""kubectl, an independent client, against the emulated API server.

Uses ``$KUBECTL`` or the kubectl on PATH (CI installs one; kubectl 1.20 and 1.32 both pass).
Every test gets its own HOME, discovery cache and kubeconfig written by the server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from kubesim import SimCluster
from tests.conftest import skip_or_fail

KUBECTL = os.environ.get("KUBECTL") or shutil.which("kubectl")
AGENT = "imp-gateway-agent"
GATEWAY_API = "gateway.networking.k8s.io/v1"


@pytest.fixture(scope="module")
def cluster(crd_dir):
    if KUBECTL is None:
        skip_or_fail("kubectl is not installed (CI installs Debian's kubernetes-client)")
    sim = SimCluster(crd_dir)
    sim.start(port=0)
    yield sim
    sim.stop()


@pytest.fixture
def kubectl(cluster, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home)}

    def run(*args: str, stdin: str | None = None, check: bool = True, editor: str = ""):
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / "cache"),
             "--request-timeout", "20s", *args],
            input=stdin, capture_output=True, text=True, timeout=60,
            env={**env, "KUBE_EDITOR": editor} if editor else env,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    return run


@pytest.fixture
def namespace(kubectl):
    name = f"k-{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", name, "-o", "name")
    return name


@pytest.fixture
def agent(cluster, tmp_path):
    """The agent's client: the official dynamic client applying as imp-gateway-agent."""
    configuration = client.Configuration()
    configuration.host = cluster.url
    api_client = client.ApiClient(configuration)
    dynamic = DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))
    routes = dynamic.resources.get(api_version=GATEWAY_API, kind="HTTPRoute")

    def apply(body: dict) -> dict:
        return routes.server_side_apply(body=body, field_manager=AGENT).to_dict()

    yield apply
    api_client.close()


def route_yaml(name: str, namespace: str, hostname: str) -> str:
    return f"""\
apiVersion: {GATEWAY_API}
kind: HTTPRoute
metadata:
  name: {name}
  namespace: {namespace}
spec:
  parentRefs:
  - name: edge
  hostnames: ["{hostname}"]
  rules:
  - backendRefs:
    - name: backend
      port: 8080
"""


def route(name: str, namespace: str, hostname: str) -> dict:
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"parentRefs": [{"name": "edge"}], "hostnames": [hostname],
                 "rules": [{"backendRefs": [{"name": "backend", "port": 8080}]}]},
    }


def test_get_lists_routes_with_printer_columns_and_json(kubectl, agent, namespace):
    agent(route("shop", namespace, "shop.example.com"))
    agent(route("blog", namespace, "blog.example.com"))

    table = kubectl("get", "httproutes", "-A").stdout.splitlines()
    assert table[0].split() == ["NAMESPACE", "NAME", "HOSTNAMES", "AGE"]
    rows = [line.split() for line in table[1:] if line.startswith(namespace)]
    assert [row[:3] for row in rows] == [
        [namespace, "blog", '["blog.example.com"]'],
        [namespace, "shop", '["shop.example.com"]'],
    ]

    shown = json.loads(kubectl("get", "httproute", "shop", "-n", namespace, "-o", "json").stdout)
    assert shown["kind"] == "HTTPRoute"
    assert shown["spec"]["hostnames"] == ["shop.example.com"]
    assert shown["metadata"]["namespace"] == namespace


def owners(cluster, namespace: str, name: str) -> dict:
    """manager -> fieldsV1; read from the server, since kubectl 1.21+ hides managedFields."""
    live = cluster.get_object(GATEWAY_API, "HTTPRoute", namespace, name)
    return {e["manager"]: e["fieldsV1"] for e in live["metadata"]["managedFields"]}


def test_server_side_apply_creates_conflicts_with_the_agent_and_forces(
    kubectl, agent, cluster, namespace, tmp_path
):
    manifest = tmp_path / "route.yaml"
    manifest.write_text(route_yaml("mine", namespace, "mine.example.com"))
    created = kubectl("apply", "--server-side", "-f", str(manifest))
    assert "httproute.gateway.networking.k8s.io/mine serverside-applied" in created.stdout

    agent(route("shared", namespace, "agent.example.com"))
    # A person changes one field the agent owns.
    manifest.write_text(
        f"apiVersion: {GATEWAY_API}\nkind: HTTPRoute\nmetadata:\n  name: shared\n"
        f"  namespace: {namespace}\nspec:\n  hostnames: [human.example.com]\n"
    )
    refused = kubectl("apply", "--server-side", "-f", str(manifest), check=False)
    assert refused.returncode != 0
    assert (
        f'Apply failed with 1 conflict: conflict with "{AGENT}": .spec.hostnames'
        in refused.stderr
    )

    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    shown = json.loads(kubectl("get", "httproute", "shared", "-n", namespace, "-o",
                               "json").stdout)
    assert shown["spec"]["hostnames"] == ["human.example.com"]
    fields = owners(cluster, namespace, "shared")
    assert fields["kubectl"]["f:spec"] == {"f:hostnames": {}}
    assert "f:hostnames" not in fields[AGENT]["f:spec"]


def test_patch_label_and_delete(kubectl, agent, cluster, namespace):
    agent(route("web", namespace, "web.example.com"))
    kubectl("patch", "httproute", "web", "-n", namespace, "--type", "merge",
            "-p", '{"spec":{"hostnames":["patched.example.com"]}}')
    kubectl("label", "httproute", "web", "-n", namespace, "tier=frontend")
    shown = json.loads(kubectl("get", "httproute", "web", "-n", namespace, "-o",
                               "json").stdout)
    assert shown["spec"]["hostnames"] == ["patched.example.com"]
    assert shown["metadata"]["labels"] == {"tier": "frontend"}
    assert shown["metadata"]["generation"] == 2
    assert {"kubectl-patch", "kubectl-label", AGENT} <= set(owners(cluster, namespace, "web"))

    selected = kubectl("get", "httproutes", "-n", namespace, "-l", "tier=frontend", "-o",
                       "name").stdout.split()
    assert selected == ["httproute.gateway.networking.k8s.io/web"]

    deleted = kubectl("delete", "httproute", "web", "-n", namespace)
    assert 'httproute.gateway.networking.k8s.io "web" deleted' in deleted.stdout
    missing = kubectl("get", "httproute", "web", "-n", namespace, check=False)
    assert missing.returncode != 0
    assert 'httproutes.gateway.networking.k8s.io "web" not found' in missing.stderr


def test_strategic_merge_patch_is_refused_for_custom_resources(kubectl, agent, namespace):
    agent(route("web", namespace, "web.example.com"))
    refused = kubectl("patch", "httproute", "web", "-n", namespace,
                      "-p", '{"spec":{"hostnames":["x.example.com"]}}', check=False)
    assert refused.returncode != 0
    assert "UnsupportedMediaType" in refused.stderr or "unknown format" in refused.stderr


def test_built_in_kinds_and_edit(kubectl, agent, namespace):
    # kubectl 1.32 sends these creates as protobuf.
    kubectl("create", "secret", "generic", "creds", "-n", namespace, "--from-literal=user=admin")
    kubectl("create", "configmap", "settings", "-n", namespace, "--from-literal=mode=fast")
    header = kubectl("get", "secrets", "-n", namespace).stdout.splitlines()
    assert header[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert header[1].split()[:3] == ["creds", "Opaque", "1"]
    secret = json.loads(kubectl("get", "secret", "creds", "-n", namespace, "-o",
                                "json").stdout)
    assert secret["data"] == {"user": "YWRtaW4="}

    agent(route("web", namespace, "web.example.com"))
    kubectl("edit", "httproute", "web", "-n", namespace,
            editor="sed -i s/web.example.com/edited.example.com/")
    shown = json.loads(kubectl("get", "httproute", "web", "-n", namespace, "-o",
                               "json").stdout)
    assert shown["spec"]["hostnames"] == ["edited.example.com"]
