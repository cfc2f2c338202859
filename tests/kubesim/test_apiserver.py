"""The emulated API server against the official client, raw HTTP and `python -m kubesim`.

One cluster serves the module; each test works in its own namespace and has its own
discovery cache, so the tests do not depend on each other.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from kubesim import SimCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT = "imp-gateway-agent"
GATEWAY_API = "gateway.networking.k8s.io/v1"


@pytest.fixture(scope="module")
def cluster(crd_dir):
    sim = SimCluster(crd_dir)
    sim.start(port=0)
    yield sim
    sim.stop()


@pytest.fixture
def dynamic(cluster, tmp_path):
    configuration = client.Configuration()
    configuration.host = cluster.url
    configuration.api_key = {"authorization": "Bearer test-token"}
    api_client = client.ApiClient(configuration)
    yield DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))
    api_client.close()


@pytest.fixture
def namespace(dynamic):
    name = f"t-{uuid.uuid4().hex[:10]}"
    namespaces = dynamic.resources.get(api_version="v1", kind="Namespace")
    namespaces.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def routes(dynamic):
    return dynamic.resources.get(api_version=GATEWAY_API, kind="HTTPRoute")


def http_route(name, namespace, *, hostnames=("app.example.com",), labels=None, **spec):
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {
            "parentRefs": [{"name": "edge"}],
            "hostnames": list(hostnames),
            "rules": [{"backendRefs": [{"name": "backend", "port": 8080}]}],
            **spec,
        },
    }


def managers(obj) -> dict:
    """manager -> (operation, fieldsV1) of an object's managedFields."""
    return {
        entry["manager"]: (entry["operation"], entry["fieldsV1"])
        for entry in obj["metadata"].get("managedFields", [])
    }


def error_body(excinfo) -> dict:
    return json.loads(excinfo.value.body)


def raw(cluster, method, path, body=None, content_type="application/json", accept=None):
    data = json.dumps(body).encode() if isinstance(body, dict | list) else body
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(cluster.url + path, data=data, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


# discovery and namespaces --------------------------------------------------------------------
def test_discovery_lists_crds_core_kinds_and_status_subresources(dynamic):
    route_type = routes(dynamic)
    assert route_type.namespaced and route_type.name == "httproutes"
    assert route_type.subresources["status"].kind == "HTTPRoute"
    gateway_class = dynamic.resources.get(api_version=GATEWAY_API, kind="GatewayClass")
    assert not gateway_class.namespaced
    lease = dynamic.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    assert lease.name == "leases"
    assert dynamic.resources.get(api_version="v1", kind="Secret").name == "secrets"
    # Only served versions are discoverable: v1alpha2 of TCPRoute is in the CRD, not served.
    with pytest.raises(Exception, match="TCPRoute"):
        dynamic.resources.get(api_version="gateway.networking.k8s.io/v1alpha2", kind="TCPRoute")


def test_namespaces_exist_and_objects_in_a_missing_namespace_are_not_found(dynamic, namespace):
    namespaces = dynamic.resources.get(api_version="v1", kind="Namespace")
    names = {item.metadata.name for item in namespaces.get().items}
    assert {"default", namespace} <= names
    created = namespaces.get(name=namespace)
    assert created.status.phase == "Active"
    assert created.metadata.labels["kubernetes.io/metadata.name"] == namespace

    with pytest.raises(ApiException) as excinfo:
        routes(dynamic).server_side_apply(body=http_route("r", "nowhere"), field_manager=AGENT)
    assert excinfo.value.status == 404
    assert error_body(excinfo)["message"] == 'namespaces "nowhere" not found'


# server-side apply -------------------------------------------------------------------------------
def test_apply_creates_then_no_op_keeps_resource_version_and_changes_bump_generation(
    dynamic, cluster, namespace
):
    api = routes(dynamic)
    body = http_route("web", namespace)

    preview = api.server_side_apply(body=body, field_manager=AGENT, dry_run="All")
    assert preview.spec.hostnames == ["app.example.com"]
    assert cluster.get_object(GATEWAY_API, "HTTPRoute", namespace, "web") is None

    created = api.server_side_apply(body=body, field_manager=AGENT).to_dict()
    assert created["metadata"]["generation"] == 1
    assert created["metadata"]["uid"]
    # Defaults from the CRD schema are filled in, as a real server does.
    assert created["spec"]["rules"][0]["backendRefs"][0]["weight"] == 1
    operation, fields = managers(created)[AGENT]
    assert operation == "Apply"
    assert fields["f:spec"] == {"f:hostnames": {}, "f:parentRefs": {}, "f:rules": {}}
    assert fields["f:metadata"] == {"f:labels": {"f:app": {}}}

    again = api.server_side_apply(body=body, field_manager=AGENT).to_dict()
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

    changed = api.server_side_apply(
        body=http_route("web", namespace, hostnames=["new.example.com"]), field_manager=AGENT
    ).to_dict()
    assert changed["metadata"]["generation"] == 2
    assert int(changed["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"])
    assert changed["spec"]["hostnames"] == ["new.example.com"]


def test_conflicting_apply_names_the_owner_and_force_takes_ownership(dynamic, namespace):
    api = routes(dynamic)
    api.server_side_apply(body=http_route("web", namespace), field_manager=AGENT)
    rival = {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"hostnames": ["rival.example.com"]},
    }
    with pytest.raises(ApiException) as excinfo:
        api.server_side_apply(body=rival, field_manager="rival")
    assert excinfo.value.status == 409
    status = error_body(excinfo)
    assert status["reason"] == "Conflict"
    assert status["message"] == (
        f'Apply failed with 1 conflict: conflict with "{AGENT}": .spec.hostnames'
    )
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": f'conflict with "{AGENT}"',
         "field": ".spec.hostnames"}
    ]

    forced = api.server_side_apply(body=rival, field_manager="rival",
                                   force_conflicts=True).to_dict()
    assert forced["spec"]["hostnames"] == ["rival.example.com"]
    owners = managers(forced)
    assert owners["rival"][1]["f:spec"] == {"f:hostnames": {}}
    assert "f:hostnames" not in owners[AGENT][1]["f:spec"]
    # The agent no longer owns hostnames: applying its own value now conflicts the other way.
    with pytest.raises(ApiException) as excinfo:
        api.server_side_apply(body=http_route("web", namespace), field_manager=AGENT)
    assert '"rival"' in error_body(excinfo)["message"]


def test_shared_ownership_and_removal_of_fields_an_applier_drops(dynamic, namespace):
    api = routes(dynamic)
    body = http_route("web", namespace, labels={"app": "web", "team": "a"})
    api.server_side_apply(body=body, field_manager=AGENT)
    # Same value from a second manager: no conflict, both own it.
    api.server_side_apply(
        body={"apiVersion": GATEWAY_API, "kind": "HTTPRoute",
              "metadata": {"name": "web", "namespace": namespace},
              "spec": {"hostnames": ["app.example.com"]}},
        field_manager="co-owner",
    )
    # The agent drops the label it alone owned and the hostnames it shares.
    body["metadata"]["labels"] = {"app": "web"}
    del body["spec"]["hostnames"]
    result = api.server_side_apply(body=body, field_manager=AGENT).to_dict()
    assert result["metadata"]["labels"] == {"app": "web"}
    assert result["spec"]["hostnames"] == ["app.example.com"]
    assert "f:hostnames" not in managers(result)[AGENT][1]["f:spec"]

    # When the co-owner drops it too, the field goes.
    result = api.server_side_apply(
        body={"apiVersion": GATEWAY_API, "kind": "HTTPRoute",
              "metadata": {"name": "web", "namespace": namespace}},
        field_manager="co-owner",
    ).to_dict()
    assert "hostnames" not in result["spec"]


def test_map_lists_merge_by_key_between_managers(dynamic, namespace):
    gateways = dynamic.resources.get(api_version=GATEWAY_API, kind="Gateway")

    def gateway(*listeners):
        return {
            "apiVersion": GATEWAY_API, "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": namespace},
            "spec": {"gatewayClassName": "eg", "listeners": list(listeners)},
        }

    http = {"name": "http", "port": 80, "protocol": "HTTP"}
    https = {"name": "https", "port": 443, "protocol": "HTTPS",
             "tls": {"certificateRefs": [{"name": "cert"}]}}
    extra = {"name": "extra", "port": 8080, "protocol": "HTTP"}
    gateways.server_side_apply(body=gateway(http, https), field_manager=AGENT)
    gateways.server_side_apply(body={**gateway(extra), "spec": {"listeners": [extra]}},
                               field_manager="platform-team")
    live = gateways.get(name="edge", namespace=namespace).to_dict()
    assert [item["name"] for item in live["spec"]["listeners"]] == ["http", "https", "extra"]
    fields = managers(live)[AGENT][1]["f:spec"]["f:listeners"]
    assert set(fields) == {'k:{"name":"http"}', 'k:{"name":"https"}'}
    assert fields['k:{"name":"http"}'] == {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}}

    live = gateways.server_side_apply(body=gateway(https), field_manager=AGENT).to_dict()
    assert [item["name"] for item in live["spec"]["listeners"]] == ["https", "extra"]
    # The Gateway CRD defaults status to "waiting for controller" conditions.
    assert {c["type"] for c in live["status"]["conditions"]} == {"Accepted", "Programmed"}


def test_applied_fields_the_schema_does_not_declare_are_rejected(dynamic, namespace):
    body = http_route("web", namespace)
    body["spec"]["colour"] = "blue"
    with pytest.raises(ApiException) as excinfo:
        routes(dynamic).server_side_apply(body=body, field_manager=AGENT)
    assert excinfo.value.status == 500
    assert error_body(excinfo)["message"].endswith(".spec.colour: field not declared in schema")


def test_apply_requires_a_field_manager(cluster, namespace):
    status, body, _ = raw(
        cluster, "PATCH",
        f"/apis/{GATEWAY_API}/namespaces/{namespace}/httproutes/web",
        http_route("web", namespace), content_type="application/apply-patch+yaml",
    )
    assert status == 422
    assert json.loads(body)["details"]["causes"][0]["field"] == "fieldManager"


# validation ------------------------------------------------------------------------------------
def test_invalid_route_is_rejected_with_causes(dynamic, namespace):
    body = http_route("web", namespace, hostnames=["Not_A_Hostname"])
    with pytest.raises(ApiException) as excinfo:
        routes(dynamic).server_side_apply(body=body, field_manager=AGENT)
    assert excinfo.value.status == 422
    status = error_body(excinfo)
    assert status["reason"] == "Invalid"
    assert status["message"].startswith('HTTPRoute.gateway.networking.k8s.io "web" is invalid: ')
    assert status["details"]["kind"] == "HTTPRoute"
    assert status["details"]["group"] == "gateway.networking.k8s.io"
    causes = status["details"]["causes"]
    assert causes and causes[0]["field"].startswith("spec.hostnames[0]")
    assert routes(dynamic).get(namespace=namespace).items == []


# reads, selectors, delete ----------------------------------------------------------------------
def test_list_by_label_and_field_selector_then_delete(dynamic, cluster, namespace):
    api = routes(dynamic)
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        api.server_side_apply(body=http_route(name, namespace, labels={"tier": tier}),
                              field_manager=AGENT)

    def names(**selectors):
        return [i.metadata.name for i in api.get(namespace=namespace, **selectors).items]

    assert names() == ["a", "b", "c"]
    assert names(label_selector="tier=web") == ["a", "b"]
    assert names(label_selector="tier!=web") == ["c"]
    assert names(label_selector="tier in (db, cache)") == ["c"]
    assert names(label_selector="tier notin (db)") == ["a", "b"]
    assert names(label_selector="tier") == ["a", "b", "c"]
    assert names(label_selector="!tier") == []
    assert names(field_selector="metadata.name=b") == ["b"]
    everywhere = [i.metadata.name for i in api.get(label_selector="tier=db").items
                  if i.metadata.namespace == namespace]
    assert everywhere == ["c"]
    with pytest.raises(ApiException) as excinfo:
        api.get(namespace=namespace, field_selector="spec.colour=blue")
    assert excinfo.value.status == 400

    first = api.get(namespace=namespace, limit=2)
    assert [i.metadata.name for i in first.items] == ["a", "b"]
    rest = api.get(namespace=namespace, limit=2, _continue=first.metadata["continue"])
    assert [i.metadata.name for i in rest.items] == ["c"]

    deleted = api.delete(name="a", namespace=namespace)
    assert deleted.status == "Success"
    assert deleted.details.name == "a"
    with pytest.raises(ApiException) as excinfo:
        api.delete(name="a", namespace=namespace)
    assert excinfo.value.status == 404
    assert error_body(excinfo)["message"] == (
        'httproutes.gateway.networking.k8s.io "a" not found'
    )
    assert [o["metadata"]["name"] for o in cluster.objects(GATEWAY_API, "HTTPRoute",
                                                            namespace)] == ["b", "c"]


def test_objects_are_readable_under_every_served_version(dynamic, namespace):
    routes(dynamic).server_side_apply(body=http_route("web", namespace), field_manager=AGENT)
    older = dynamic.resources.get(api_version="gateway.networking.k8s.io/v1beta1",
                                  kind="HTTPRoute")
    found = older.get(name="web", namespace=namespace)
    assert found.apiVersion == "gateway.networking.k8s.io/v1beta1"
    assert found.spec.hostnames == ["app.example.com"]


# updates, patches, status -----------------------------------------------------------------------
def test_lease_update_with_a_stale_resource_version_conflicts(dynamic, namespace):
    leases = dynamic.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    lease = leases.create(namespace=namespace, body={
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "agent-leader"},
        "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15},
    }).to_dict()
    stale = json.loads(json.dumps(lease))

    lease["spec"]["holderIdentity"] = "pod-b"
    renewed = leases.replace(namespace=namespace, body=lease).to_dict()
    assert renewed["spec"]["holderIdentity"] == "pod-b"
    assert renewed["metadata"]["resourceVersion"] != stale["metadata"]["resourceVersion"]
    assert managers(renewed)["OpenAPI-Generator"][0] == "Update"

    stale["spec"]["holderIdentity"] = "pod-c"
    with pytest.raises(ApiException) as excinfo:
        leases.replace(namespace=namespace, body=stale)
    assert excinfo.value.status == 409
    status = error_body(excinfo)
    assert status["reason"] == "Conflict"
    assert status["message"] == (
        'Operation cannot be fulfilled on leases.coordination.k8s.io "agent-leader": the '
        "object has been modified; please apply your changes to the latest version and try "
        "again"
    )


def test_status_subresource_changes_only_status_and_not_generation(dynamic, cluster,
                                                                    namespace):
    api = routes(dynamic)
    created = api.server_side_apply(body=http_route("web", namespace),
                                    field_manager=AGENT).to_dict()
    status = {"parents": [{
        "parentRef": {"name": "edge"},
        "controllerName": "example.com/gateway-controller",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                        "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z",
                        "observedGeneration": 1}],
    }]}
    updated = cluster.set_status(GATEWAY_API, "HTTPRoute", namespace, "web", status)
    assert updated["metadata"]["generation"] == 1
    assert updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    assert updated["status"]["parents"][0]["conditions"][0]["type"] == "Accepted"
    assert any(e.get("subresource") == "status" for e in updated["metadata"]["managedFields"])

    # Status sent to the main resource is ignored; spec sent to /status is ignored.
    body = api.get(name="web", namespace=namespace).to_dict()
    body["status"] = {"parents": []}
    body["spec"]["hostnames"] = ["other.example.com"]
    replaced = api.replace(body=body).to_dict()
    assert replaced["status"]["parents"][0]["controllerName"].endswith("gateway-controller")
    assert replaced["metadata"]["generation"] == 2
    replaced["spec"]["hostnames"] = ["ignored.example.com"]
    replaced["status"] = {"parents": []}
    through_status = api.status.replace(body=replaced).to_dict()
    assert through_status["status"] == {"parents": []}
    assert through_status["spec"]["hostnames"] == ["other.example.com"]
    assert through_status["metadata"]["generation"] == 2


def test_merge_and_json_patch_and_strategic_merge_rules(dynamic, namespace):
    api = routes(dynamic)
    created = api.server_side_apply(body=http_route("web", namespace),
                                    field_manager=AGENT).to_dict()
    patched = api.patch(name="web", namespace=namespace,
                        body={"metadata": {"labels": {"tier": "web"}}},
                        content_type="application/merge-patch+json").to_dict()
    assert patched["metadata"]["labels"] == {"app": "web", "tier": "web"}
    assert patched["metadata"]["generation"] == 1  # metadata changes keep the generation
    owners = managers(patched)
    assert owners["OpenAPI-Generator"] == ("Update", {"f:metadata": {"f:labels": {"f:tier": {}}}})

    same = api.patch(name="web", namespace=namespace,
                     body={"metadata": {"labels": {"tier": "web"}}},
                     content_type="application/merge-patch+json").to_dict()
    assert same["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]

    json_patched = api.patch(
        name="web", namespace=namespace, content_type="application/json-patch+json",
        body=[{"op": "replace", "path": "/spec/hostnames/0", "value": "b.example.com"}],
    ).to_dict()
    assert json_patched["spec"]["hostnames"] == ["b.example.com"]
    assert json_patched["metadata"]["generation"] == 2
    assert created["metadata"]["uid"] == json_patched["metadata"]["uid"]

    with pytest.raises(ApiException) as excinfo:
        api.patch(name="web", namespace=namespace, body={"spec": {"hostnames": []}})
    assert excinfo.value.status == 415
    with pytest.raises(ApiException) as excinfo:
        api.patch(name="missing", namespace=namespace, body={"metadata": {}},
                  content_type="application/merge-patch+json")
    assert excinfo.value.status == 404

    secrets = dynamic.resources.get(api_version="v1", kind="Secret")
    secrets.create(namespace=namespace, body={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "stringData": {"user": "admin"},
    })
    secret = secrets.patch(name="creds", namespace=namespace,
                           body={"data": {"token": "c2VjcmV0"}}).to_dict()
    assert secret["data"] == {"user": "YWRtaW4=", "token": "c2VjcmV0"}
    assert secret["type"] == "Opaque"


def test_create_conflicts_when_the_name_is_taken_and_generate_name_works(dynamic, namespace):
    config_maps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
            "data": {"a": "1"}}
    config_maps.create(namespace=namespace, body=body)
    with pytest.raises(ApiException) as excinfo:
        config_maps.create(namespace=namespace, body=body)
    assert excinfo.value.status == 409
    assert error_body(excinfo)["reason"] == "AlreadyExists"
    generated = config_maps.create(namespace=namespace, body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "settings-"},
    })
    assert generated.metadata.name.startswith("settings-")
    assert len(generated.metadata.name) == len("settings-") + 5


def test_deleting_a_namespace_deletes_its_objects(dynamic, cluster):
    namespaces = dynamic.resources.get(api_version="v1", kind="Namespace")
    name = f"t-{uuid.uuid4().hex[:10]}"
    namespaces.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    routes(dynamic).server_side_apply(body=http_route("web", name), field_manager=AGENT)
    answer = namespaces.delete(name=name)
    assert answer.status.phase == "Terminating"
    assert cluster.objects(GATEWAY_API, "HTTPRoute", name) == []
    with pytest.raises(ApiException) as excinfo:
        namespaces.get(name=name)
    assert excinfo.value.status == 404
    with pytest.raises(ApiException) as excinfo:
        namespaces.delete(name="default")
    assert excinfo.value.status == 403


def test_finalizers_hold_deletion_until_they_are_removed(dynamic, cluster, namespace):
    config_maps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    config_maps.create(namespace=namespace, body={
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "held", "finalizers": ["example.com/cleanup"]},
    })
    pending = config_maps.delete(name="held", namespace=namespace)
    assert pending.metadata.deletionTimestamp
    assert cluster.get_object("v1", "ConfigMap", namespace, "held") is not None
    config_maps.patch(name="held", namespace=namespace, body={"metadata": {"finalizers": None}},
                      content_type="application/merge-patch+json")
    assert cluster.get_object("v1", "ConfigMap", namespace, "held") is None


def _protobuf_field(number: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([(number << 3) | 2, len(payload)]) + payload


def test_protobuf_bodies_of_built_in_kinds_are_accepted(cluster):
    """kubectl 1.32's typed clients send protobuf: magic, runtime.Unknown, the object."""
    metadata = _protobuf_field(1, b"from-protobuf")
    namespace = _protobuf_field(1, metadata)
    type_meta = _protobuf_field(1, b"v1") + _protobuf_field(2, b"Namespace")
    body = b"k8s\x00" + _protobuf_field(1, type_meta) + _protobuf_field(2, namespace)
    status, answer, _ = raw(cluster, "POST", "/api/v1/namespaces", body,
                            content_type="application/vnd.kubernetes.protobuf")
    assert status == 201
    created = json.loads(answer)
    assert created["metadata"]["name"] == "from-protobuf"
    assert created["status"]["phase"] == "Active"


# HTTP details ------------------------------------------------------------------------------------
def test_table_output_and_watch(cluster, dynamic, namespace):
    routes(dynamic).server_side_apply(body=http_route("web", namespace), field_manager=AGENT)
    status, body, headers = raw(
        cluster, "GET", f"/apis/{GATEWAY_API}/namespaces/{namespace}/httproutes",
        accept="application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )
    table = json.loads(body)
    assert status == 200 and table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Hostnames", "Age"]
    assert table["rows"][0]["cells"][:2] == ["web", '["app.example.com"]']
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"

    status, body, _ = raw(
        cluster, "GET",
        f"/apis/{GATEWAY_API}/namespaces/{namespace}/httproutes?watch=1&timeoutSeconds=1",
    )
    events = [json.loads(line) for line in body.splitlines()]
    assert status == 200
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "web")]


def test_bearer_token_is_required_when_configured(crd_dir, tmp_path):
    with SimCluster(crd_dir, token="s3cret") as sim:
        status, _, _ = raw(sim, "GET", "/api/v1/namespaces")
        assert status == 401
        request = urllib.request.Request(sim.url + "/api/v1/namespaces",
                                         headers={"Authorization": "Bearer s3cret"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["kind"] == "NamespaceList"
        config = yaml.safe_load(sim.write_kubeconfig(tmp_path / "config").read_text())
        assert config["users"][0]["user"]["token"] == "s3cret"
        assert config["current-context"] == "kubesim"


# python -m kubesim ------------------------------------------------------------------------------
def test_python_m_kubesim_serves_until_sigterm(crd_dir, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "kubesim", "--port", "0", "--crds", str(crd_dir),
         "--kubeconfig-out", str(kubeconfig)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = process.stdout.readline().strip()
        if not line:
            pytest.fail(f"python -m kubesim printed nothing: {process.stderr.read()}")
        assert line.startswith("kubesim serving on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        with urllib.request.urlopen(url + "/version", timeout=10) as response:
            assert json.loads(response.read())["major"] == "1"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
