"""OpenAPI documents: /openapi/v3 (index and one document per group/version) and /openapi/v2.

kubectl reads /openapi/v3 to learn that PATCH accepts ``fieldValidation`` (then it leaves
validation to the server), which patch types a kind accepts (strategic merge only for
built-in kinds) and, for ``kubectl explain``, the schemas. /openapi/v2 is served as JSON and,
for clients that ask for protobuf (kubectl), as a valid gnostic Document without definitions,
which makes kubectl 1.20's client-side validation skip kinds it does not know.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .coretypes import OBJECT_META
from .discovery import KUBERNETES_VERSION
from .resources import Catalog, Resource

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
# What clients ask for carries "@", which is no valid media type; the answer names the
# protobuf type the way kube-openapi's handler does.
PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_CORE_PACKAGES = {"": "io.k8s.api.core", "discovery.k8s.io": "io.k8s.api.discovery",
                  "coordination.k8s.io": "io.k8s.api.coordination"}

_LIST_META = {
    "type": "object",
    "properties": {
        "continue": {"type": "string"},
        "remainingItemCount": {"type": "integer", "format": "int64"},
        "resourceVersion": {"type": "string"},
    },
}
_STATUS = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "code": {"type": "integer"},
        "details": {"type": "object"},
        "kind": {"type": "string"},
        "message": {"type": "string"},
        "metadata": {"$ref": f"#/components/schemas/{META}.ListMeta"},
        "reason": {"type": "string"},
        "status": {"type": "string"},
    },
}


def definition_name(resource: Resource) -> str:
    if resource.custom:
        reversed_group = ".".join(reversed(resource.group.split(".")))
        return f"{reversed_group}.{resource.version}.{resource.kind}"
    package = _CORE_PACKAGES.get(resource.group) or f"io.k8s.api.{resource.group.split('.')[0]}"
    return f"{package}.{resource.version}.{resource.kind}"


def _gvk(resource: Resource) -> dict[str, str]:
    return {"group": resource.group, "kind": resource.kind, "version": resource.version}


def _with_refs(schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    body = copy.deepcopy(schema) if schema else {"type": "object"}
    properties = body.setdefault("properties", {})
    properties["metadata"] = {"$ref": f"{prefix}{META}.ObjectMeta"}
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})
    return body


def _query(name: str, kind: str = "string", description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": kind, "uniqueItems": True}}


_WRITE_PARAMETERS = [
    _query("dryRun", description="When present, indicates that modifications should not be "
           "persisted."),
    _query("fieldManager", description="fieldManager is a name associated with the actor or "
           "entity that is making these changes."),
    _query("fieldValidation", description="fieldValidation instructs the server on how to "
           "handle objects in the request containing unknown or duplicate fields. Valid "
           "values are: Ignore, Warn (default) and Strict."),
]
_LIST_PARAMETERS = [
    _query(n) for n in ("continue", "fieldSelector", "labelSelector", "resourceVersion",
                        "resourceVersionMatch")
] + [_query("limit", "integer"), _query("timeoutSeconds", "integer"),
     _query("watch", "boolean"), _query("allowWatchBookmarks", "boolean")]


def _patch_types(resource: Resource) -> list[str]:
    types = ["application/apply-patch+yaml", "application/json-patch+json",
             "application/merge-patch+json"]
    if not resource.custom:
        types.append("application/strategic-merge-patch+json")
    return types


def _operation(resource: Resource, action: str, operation_id: str, ref: str,
               parameters: list[dict[str, Any]], body: list[str] | None = None,
               codes: tuple[str, ...] = ("200",)) -> dict[str, Any]:
    response = {"description": "OK",
                "content": {"application/json": {"schema": {"$ref": ref}}}}
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "parameters": parameters,
        "responses": {code: response for code in codes},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(resource),
    }
    if body:
        operation["requestBody"] = {
            "content": {t: {"schema": {"$ref": ref}} for t in body}, "required": True,
        }
    return operation


def _path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "uniqueItems": True}}


def _paths(resource: Resource, prefix: str) -> dict[str, Any]:
    ref = f"{prefix}{definition_name(resource)}"
    list_ref = f"{ref}List"
    base = "/api/v1" if not resource.group else f"/apis/{resource.group}/{resource.version}"
    scope = "Namespaced" if resource.namespaced else ""
    name = f"{resource.version.capitalize()}{scope}{resource.kind}"
    collection = (f"{base}/namespaces/{{namespace}}/{resource.plural}" if resource.namespaced
                  else f"{base}/{resource.plural}")
    scope_parameters = [_path_parameter("namespace")] if resource.namespaced else []
    paths: dict[str, Any] = {
        collection: {
            "get": _operation(resource, "list", f"list{name}", list_ref, _LIST_PARAMETERS),
            "post": _operation(resource, "post", f"create{name}", ref, _WRITE_PARAMETERS,
                               ["*/*"], ("200", "201", "202")),
            "delete": _operation(resource, "deletecollection", f"deletecollection{name}",
                                 f"{prefix}{META}.Status", _LIST_PARAMETERS),
            "parameters": scope_parameters,
        },
        f"{collection}/{{name}}": {
            "get": _operation(resource, "get", f"read{name}", ref, []),
            "put": _operation(resource, "put", f"replace{name}", ref, _WRITE_PARAMETERS,
                              ["*/*"], ("200", "201")),
            "patch": _operation(resource, "patch", f"patch{name}", ref,
                                [*_WRITE_PARAMETERS, _query("force", "boolean")],
                                _patch_types(resource), ("200", "201")),
            "delete": _operation(resource, "delete", f"delete{name}",
                                 f"{prefix}{META}.Status", [_query("dryRun")]),
            "parameters": [_path_parameter("name"), *scope_parameters],
        },
    }
    for sub in resource.subresources:
        title = sub.capitalize()
        paths[f"{collection}/{{name}}/{sub}"] = {
            "get": _operation(resource, "get", f"read{name}{title}", ref, []),
            "put": _operation(resource, "put", f"replace{name}{title}", ref,
                              _WRITE_PARAMETERS, ["*/*"], ("200", "201")),
            "patch": _operation(resource, "patch", f"patch{name}{title}", ref,
                                [*_WRITE_PARAMETERS, _query("force", "boolean")],
                                _patch_types(resource), ("200", "201")),
            "parameters": [_path_parameter("name"), *scope_parameters],
        }
    if resource.namespaced:
        paths[f"{base}/{resource.plural}"] = {
            "get": _operation(resource, "list", f"list{resource.version.capitalize()}"
                              f"{resource.kind}ForAllNamespaces", list_ref, _LIST_PARAMETERS),
        }
    return paths


def _schemas(resources: list[Resource], prefix: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        f"{META}.ObjectMeta": OBJECT_META,
        f"{META}.ListMeta": _LIST_META,
        f"{META}.Status": _STATUS,
    }
    for r in resources:
        name = definition_name(r)
        body = _with_refs(r.openapi_schema, prefix)
        body["x-kubernetes-group-version-kind"] = [_gvk(r)]
        schemas[name] = body
        schemas[f"{name}List"] = {
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string"},
                "items": {"type": "array", "items": {"$ref": f"{prefix}{name}"}},
                "kind": {"type": "string"},
                "metadata": {"$ref": f"{prefix}{META}.ListMeta"},
            },
            "x-kubernetes-group-version-kind": [
                {"group": r.group, "kind": f"{r.kind}List", "version": r.version}
            ],
        }
    return schemas


def group_version_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def v3_document(catalog: Catalog, group: str, version: str) -> dict[str, Any] | None:
    resources = catalog.in_group_version(group, version)
    if not resources:
        return None
    prefix = "#/components/schemas/"
    paths: dict[str, Any] = {}
    for r in resources:
        paths.update(_paths(r, prefix))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": _schemas(resources, prefix)},
    }


def document_hash(document: dict[str, Any]) -> str:
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha512(encoded).hexdigest().upper()


def v3_index(catalog: Catalog, hashes: dict[str, str]) -> dict[str, Any]:
    """The /openapi/v3 index; ``hashes`` maps a group/version path to its document hash."""
    paths = {}
    for group, versions in catalog.versions().items():
        for version in versions:
            path = group_version_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={hashes[path]}"}
    return {"paths": paths}


def v2_document(catalog: Catalog) -> dict[str, Any]:
    prefix = "#/definitions/"
    paths: dict[str, Any] = {}
    for r in catalog.resources:
        for path, item in _paths(r, prefix).items():
            converted = {}
            for method, operation in item.items():
                if method == "parameters":
                    converted[method] = [_v2_parameter(p) for p in operation]
                    continue
                op = {k: v for k, v in operation.items() if k != "requestBody"}
                op["parameters"] = [_v2_parameter(p) for p in operation["parameters"]]
                if "requestBody" in operation:
                    op["consumes"] = list(operation["requestBody"]["content"])
                    op["parameters"].append({"name": "body", "in": "body", "required": True,
                                             "schema": {"type": "object"}})
                op["produces"] = ["application/json"]
                op["responses"] = {
                    code: {"description": "OK",
                           "schema": response["content"]["application/json"]["schema"]}
                    for code, response in operation["responses"].items()
                }
                converted[method] = op
            paths[path] = converted
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
        "paths": paths,
        "definitions": _schemas(catalog.resources, prefix),
    }


def _v2_parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    converted = {k: v for k, v in parameter.items() if k != "schema"}
    converted.update(parameter.get("schema", {}))
    return converted


def _protobuf_field(number: int, payload: bytes) -> bytes:
    header = bytes([(number << 3) | 2])
    length = len(payload)
    varint = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            break
    return header + bytes(varint) + payload


def v2_protobuf() -> bytes:
    """openapi.v2.Document{swagger: "2.0", info: {title, version}, paths: {}}."""
    info = _protobuf_field(1, b"Kubernetes") + _protobuf_field(
        2, KUBERNETES_VERSION["gitVersion"].encode()
    )
    return _protobuf_field(1, b"2.0") + _protobuf_field(2, info) + _protobuf_field(8, b"")
