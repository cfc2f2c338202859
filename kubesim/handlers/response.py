"""Writing answers: objects and lists in the negotiated representation, Table and
PartialObjectMetadata views, Warning headers (k8s.io/apiserver pkg/endpoints/handlers/
response.go ``transformResponseObject`` and responsewriters)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import yaml

from ..resources import Resource
from ..tables import table_cells, table_columns
from .negotiation import Output
from .rest import Response


def dumps(body: Any) -> bytes:
    """Compact JSON; orjson when it can (it refuses integers beyond 64 bits)."""
    try:
        return orjson.dumps(body)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(status: int, body: Any, *, content_type: str = "application/json",
                  headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, dumps(body), content_type, list(headers or []))


def render(status: int, body: dict[str, Any], output: Output,
           warnings: list[str] | tuple[str, ...] = ()) -> Response:
    headers = [("Warning", f"299 - {json.dumps(w)}") for w in warnings]
    if output.media == "application/yaml":
        text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
        return Response(status, text.encode(), "application/yaml", headers)
    content_type = "application/json"
    if output.view:
        content_type = (f"application/json;as={body.get('kind', output.view)};"
                        f"v={output.view_version};g=meta.k8s.io")
    return json_response(status, body, content_type=content_type, headers=headers)


def partial(obj: dict[str, Any], version: str) -> dict[str, Any]:
    """An object's PartialObjectMetadata view (metadata informers ask for it)."""
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
            "metadata": obj.get("metadata") or {}}


def list_body(resource: Resource, items: list[dict[str, Any]],
              metadata: dict[str, Any]) -> dict[str, Any]:
    if not resource.custom:
        # Built-in lists are typed: their items carry no kind or apiVersion.
        items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                 for o in items]
    return {"kind": f"{resource.kind}List", "apiVersion": resource.api_version,
            "metadata": metadata, "items": items}


def partial_list(items: list[dict[str, Any]], output: Output,
                 metadata: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadataList",
            "apiVersion": f"meta.k8s.io/{output.view_version}",
            "metadata": metadata,
            "items": [partial(o, output.view_version) for o in items]}


def table(resource: Resource, items: list[dict[str, Any]], output: Output,
          metadata: dict[str, Any], include: str = "", columns: bool = True) -> dict[str, Any]:
    """The Table view kubectl prints: printer columns, and each row's object as asked."""
    rows = []
    for obj in items:
        row: dict[str, Any] = {"cells": table_cells(resource.kind, resource.printer_columns,
                                                    resource.custom, obj)}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = partial(obj, output.view_version)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{output.view_version}",
        "metadata": metadata,
        "columnDefinitions": table_columns(resource.kind, resource.printer_columns,
                                           resource.custom) if columns else None,
        "rows": rows,
    }


def view(resource: Resource, obj: dict[str, Any], output: Output) -> dict[str, Any]:
    """One object as the negotiated view shows it (get, create, update, patch, delete)."""
    if output.view == "Table":
        return table(resource, [obj], output, {})
    if output.partial:
        return partial(obj, output.view_version)
    return obj
