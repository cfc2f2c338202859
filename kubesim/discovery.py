"""Discovery documents: /version, /api, /apis, per group and version, and aggregated discovery.

Shapes follow k8s.io/apimachinery's APIVersions, APIGroupList, APIGroup and APIResourceList,
and apidiscovery.k8s.io's APIGroupDiscoveryList (v2 and v2beta1) that kubectl 1.26+ asks
for first.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from .resources import Catalog, Resource

# The release whose list, watch and validation behaviour kubesim follows (k8s.io/apiserver
# v0.36.3). Not a build of it: no commit, and the unset build date of k8s.io/component-base
# version/base.go.
KUBERNETES_VERSION = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "gitVersion": "v1.36.3",
    "gitCommit": "",
    "gitTreeState": "",
    "buildDate": "1970-01-01T00:00:00Z",
    "goVersion": "",
    "compiler": "gc",
    "platform": "linux/amd64",
}

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = (
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
)


def storage_version_hash(resource: Resource) -> str:
    digest = hashlib.sha256(
        f"{resource.storage_key[0]}/{resource.storage_version}/{resource.kind}".encode()
    ).digest()
    return base64.b64encode(digest[:8]).decode()


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_version(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": f"{group}/{version}", "version": version}


def api_group(catalog: Catalog, group: str) -> dict[str, Any] | None:
    versions = catalog.versions().get(group)
    if not versions or not group:
        return None
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [_group_version(group, v) for v in versions],
        "preferredVersion": _group_version(group, versions[0]),
    }


def api_group_list(catalog: Catalog) -> dict[str, Any]:
    groups = [api_group(catalog, g) for g in catalog.versions() if g]
    for group in groups:
        if group is not None:
            del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(catalog: Catalog, group: str, version: str) -> dict[str, Any] | None:
    resources = catalog.in_group_version(group, version)
    if not resources:
        return None
    entries: list[dict[str, Any]] = []
    for r in resources:
        entry: dict[str, Any] = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        }
        if r.short_names:
            entry["shortNames"] = r.short_names
        if r.categories:
            entry["categories"] = r.categories
        entry["storageVersionHash"] = storage_version_hash(r)
        entries.append(entry)
        for sub in r.subresources:
            entries.append({
                "name": f"{r.plural}/{sub}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": r.subresource_verbs(sub),
            })
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


def aggregated(catalog: Catalog, *, core: bool, version: str) -> dict[str, Any]:
    """APIGroupDiscoveryList for /api (``core``) or /apis, at discovery ``version``."""
    items: list[dict[str, Any]] = []
    for group, versions in catalog.versions().items():
        if (group == "") != core:
            continue
        item_versions = []
        for v in versions:
            resources = []
            for r in catalog.in_group_version(group, v):
                kind = {"group": r.group, "version": r.version, "kind": r.kind}
                entry: dict[str, Any] = {
                    "resource": r.plural,
                    "responseKind": kind,
                    "scope": "Namespaced" if r.namespaced else "Cluster",
                    "singularResource": r.singular,
                    "verbs": r.verbs,
                }
                if r.short_names:
                    entry["shortNames"] = r.short_names
                if r.categories:
                    entry["categories"] = r.categories
                if r.subresources:
                    entry["subresources"] = [
                        {"subresource": s, "responseKind": kind,
                         "verbs": r.subresource_verbs(s)}
                        for s in r.subresources
                    ]
                resources.append(entry)
            item_versions.append({"version": v, "resources": resources,
                                  "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None},
                      "versions": item_versions})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }
