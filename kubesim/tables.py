"""``meta.k8s.io/v1`` Table output, what ``kubectl get`` asks for, and the JSONPath it needs.

Custom resources get a Name column, their CRD's additionalPrinterColumns (an Age column
when the CRD lists none) evaluated as the API server does (first result only, lists and maps
as JSON, dates as a human-readable age); built-in kinds get the columns of their printers in
k8s.io/kubernetes/pkg/printers/internalversion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is "
    "in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata"
)

_SEGMENT = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-/]+)
      | \[\s*(?P<index>-?\d+)\s*\]
      | \[\s*\*\s*\]
      | \.\*
      | \[\s*'(?P<quoted>[^']*)'\s*\]
      | \[\s*\?\(\s*@(?P<filter_path>(?:\.[A-Za-z0-9_\-/]+)+)\s*(?P<op>==|!=)\s*
            (?P<filter_value>"[^"]*"|'[^']*'|-?\d+(?:\.\d+)?|true|false)\s*\)\s*\]""",
    re.VERBOSE,
)


class JSONPathError(ValueError):
    pass


def jsonpath_results(expression: str, document: Any) -> list[Any]:
    """Evaluate the simple JSONPath subset printer columns and selectable fields use."""
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text.startswith("$"):
        text = text[1:]
    current = [document]
    position = 0
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if match is None:
            raise JSONPathError(f"unrecognized JSONPath {expression!r}")
        position = match.end()
        current = _step(match, current)
    return current


def _step(match: re.Match[str], values: list[Any]) -> list[Any]:
    out: list[Any] = []
    name = match.group("field") or match.group("quoted")
    for value in values:
        if name is not None:
            if isinstance(value, dict) and name in value:
                out.append(value[name])
        elif match.group("index") is not None:
            index = int(match.group("index"))
            if isinstance(value, list) and -len(value) <= index < len(value):
                out.append(value[index])
        elif match.group("filter_path") is not None:
            wanted = json.loads(match.group("filter_value").replace("'", '"'))
            negated = match.group("op") == "!="
            for item in value if isinstance(value, list) else ():
                found = jsonpath_results(match.group("filter_path"), item)
                if bool(found and found[0] == wanted) != negated:
                    out.append(item)
        elif isinstance(value, list):
            out.extend(value)
        elif isinstance(value, dict):
            out.extend(value.values())
    return out


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 time (metav1.Time, or MicroTime with a fraction) in UTC."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(timestamp: Any) -> str:
    moment = parse_time(timestamp) if isinstance(timestamp, str) else None
    if moment is None:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - moment).total_seconds())


def _go_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def custom_column_cell(column: dict[str, Any], obj: dict[str, Any]) -> Any:
    """One additionalPrinterColumns cell, as apiextensions' table convertor computes it."""
    try:
        results = jsonpath_results(column.get("jsonPath", ""), obj)
    except JSONPathError:
        return None
    if not results:
        return None
    value = results[0]
    kind = column.get("type", "string")
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return _go_json(value)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        return age(value) if parse_time(value) else "<invalid>"
    return None


def column(name: str, kind: str = "string", description: str = "", fmt: str = "",
           priority: int = 0) -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": description,
            "priority": priority}


NAME_COLUMN = column("Name", "string", NAME_DESCRIPTION, "name")
AGE_COLUMN = column("Age", "string", AGE_DESCRIPTION)


def _join(values: list[str]) -> str:
    return ",".join(values) if values else "<none>"


def _service_ports(obj: dict[str, Any]) -> str:
    ports = []
    for port in (obj.get("spec") or {}).get("ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        ports.append(f"{text}/{port.get('protocol', 'TCP')}")
    return _join(ports)


def _service_external_ip(obj: dict[str, Any]) -> str:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return spec.get("externalName", "<none>")
    if kind == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        found = [i.get("ip") or i.get("hostname") for i in ingress]
        found += spec.get("externalIPs") or []
        return _join([f for f in found if f]) if found else "<pending>"
    return _join(spec.get("externalIPs") or [])


def _endpoints(obj: dict[str, Any]) -> str:
    addresses = []
    for subset in obj.get("subsets") or []:
        for address in subset.get("addresses") or []:
            for port in subset.get("ports") or [{}]:
                text = address.get("ip", "")
                addresses.append(f"{text}:{port['port']}" if "port" in port else text)
    if not addresses:
        return "<none>"
    shown = addresses[:3]
    more = f" + {len(addresses) - 3} more..." if len(addresses) > 3 else ""
    return ",".join(shown) + more


def _slice_endpoints(obj: dict[str, Any]) -> str:
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    if not addresses:
        return "<unset>"
    more = f" + {len(addresses) - 3} more..." if len(addresses) > 3 else ""
    return ",".join(addresses[:3]) + more


def _slice_ports(obj: dict[str, Any]) -> str:
    ports = [str(p.get("port")) for p in obj.get("ports") or [] if "port" in p]
    return ",".join(ports) if ports else "<unset>"


def _node_status(obj: dict[str, Any]) -> str:
    ready = "Unknown"
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            ready = {"True": "Ready", "False": "NotReady"}.get(condition.get("status"), "Unknown")
    if (obj.get("spec") or {}).get("unschedulable"):
        ready += ",SchedulingDisabled"
    return ready


def _node_roles(obj: dict[str, Any]) -> str:
    roles = set()
    for key, value in ((obj.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key.split("/", 1)[1]:
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return _join(sorted(roles))


def _node_address(kind: str) -> Callable[[dict[str, Any]], str]:
    def read(obj: dict[str, Any]) -> str:
        for address in (obj.get("status") or {}).get("addresses") or []:
            if address.get("type") == kind:
                return address.get("address", "")
        return "<none>"

    return read


def _node_info(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda o: ((o.get("status") or {}).get("nodeInfo") or {}).get(name, "")


def _event(obj: dict[str, Any]) -> dict[str, Any]:
    """A core/v1 or events.k8s.io/v1 Event, read with core/v1 names (both print alike)."""
    if obj.get("apiVersion") != "events.k8s.io/v1":
        return obj
    names = {"regarding": "involvedObject", "note": "message", "deprecatedSource": "source",
             "deprecatedFirstTimestamp": "firstTimestamp",
             "deprecatedLastTimestamp": "lastTimestamp", "deprecatedCount": "count",
             "reportingController": "reportingComponent"}
    return {names.get(key, key): value for key, value in obj.items()}


def _event_first_seen(obj: dict[str, Any]) -> str:
    event = _event(obj)
    return age(event.get("firstTimestamp") or event.get("eventTime"))


def _event_last_seen(obj: dict[str, Any]) -> str:
    event = _event(obj)
    if event.get("series"):
        return age(event["series"].get("lastObservedTime"))
    return age(event.get("lastTimestamp")) if event.get("lastTimestamp") else \
        _event_first_seen(obj)


def _event_object(obj: dict[str, Any]) -> str:
    involved = _event(obj).get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def _event_source(obj: dict[str, Any]) -> str:
    event = _event(obj)
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent", "")
    host = source.get("host") or event.get("reportingInstance", "")
    return f"{component}, {host}" if host else component


def _event_count(obj: dict[str, Any]) -> int:
    event = _event(obj)
    if event.get("series"):
        return event["series"].get("count", 0)
    return event.get("count") or 1


BuiltinPrinter = list[tuple[dict[str, Any], Callable[[dict[str, Any]], Any]]]

# Kinds whose printers do not follow Name, their columns, Age: every column, in order.
_NAME = (NAME_COLUMN, lambda o: (o.get("metadata") or {}).get("name", ""))
_AGE = (AGE_COLUMN, lambda o: age((o.get("metadata") or {}).get("creationTimestamp")))
FULL_PRINTERS: dict[str, BuiltinPrinter] = {
    "Node": [
        _NAME,
        (column("Status", description="The status of the node"), _node_status),
        (column("Roles", description="The roles of the node"), _node_roles),
        _AGE,
        (column("Version", description="Kubelet Version reported by the node."),
         _node_info("kubeletVersion")),
        (column("Internal-IP", priority=1), _node_address("InternalIP")),
        (column("External-IP", priority=1), _node_address("ExternalIP")),
        (column("OS-Image", priority=1), _node_info("osImage")),
        (column("Kernel-Version", priority=1), _node_info("kernelVersion")),
        (column("Container-Runtime", priority=1), _node_info("containerRuntimeVersion")),
    ],
    "Event": [
        (column("Last Seen"), _event_last_seen),
        (column("Type"), lambda o: o.get("type", "")),
        (column("Reason"), lambda o: o.get("reason", "")),
        (column("Object"), _event_object),
        (column("Subobject", priority=1),
         lambda o: (_event(o).get("involvedObject") or {}).get("fieldPath", "")),
        (column("Source", priority=1), _event_source),
        (column("Message"), lambda o: _event(o).get("message", "")),
        (column("First Seen", priority=1), _event_first_seen),
        (column("Count", "string", priority=1), _event_count),
        (column("Name", "string", NAME_DESCRIPTION, "name", 1),
         lambda o: (o.get("metadata") or {}).get("name", "")),
    ],
}

BUILTIN_PRINTERS: dict[str, BuiltinPrinter] = {
    "Namespace": [
        (column("Status", description="The status of the namespace"),
         lambda o: (o.get("status") or {}).get("phase", "")),
    ],
    "Secret": [
        (column("Type"), lambda o: o.get("type", "")),
        (column("Data", "string"), lambda o: len(o.get("data") or {})),
    ],
    "ConfigMap": [
        (column("Data", "string"),
         lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
    ],
    "Service": [
        (column("Type"), lambda o: (o.get("spec") or {}).get("type", "ClusterIP")),
        (column("Cluster-IP"), lambda o: (o.get("spec") or {}).get("clusterIP") or "<none>"),
        (column("External-IP"), _service_external_ip),
        (column("Port(s)"), _service_ports),
    ],
    "Endpoints": [(column("Endpoints"), _endpoints)],
    "EndpointSlice": [
        (column("AddressType"), lambda o: o.get("addressType", "")),
        (column("Ports"), _slice_ports),
        (column("Endpoints"), _slice_endpoints),
    ],
    "Lease": [
        (column("Holder"), lambda o: (o.get("spec") or {}).get("holderIdentity", "")),
    ],
}


def table_columns(kind: str, printer_columns: list[dict[str, Any]] | None,
                  custom: bool) -> list[dict[str, Any]]:
    if custom:
        columns = printer_columns or [
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
        ]
        return [NAME_COLUMN] + [
            column(c["name"], c.get("type", "string"), c.get("description", ""),
                   c.get("format", ""), c.get("priority", 0))
            for c in columns
        ]
    if kind in FULL_PRINTERS:
        return [c for c, _ in FULL_PRINTERS[kind]]
    return [NAME_COLUMN] + [c for c, _ in BUILTIN_PRINTERS.get(kind, [])] + [AGE_COLUMN]


def table_cells(kind: str, printer_columns: list[dict[str, Any]] | None, custom: bool,
                obj: dict[str, Any]) -> list[Any]:
    if not custom and kind in FULL_PRINTERS:
        return [read(obj) for _, read in FULL_PRINTERS[kind]]
    metadata = obj.get("metadata") or {}
    cells: list[Any] = [metadata.get("name", "")]
    if custom:
        columns = printer_columns or [
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
        ]
        cells.extend(custom_column_cell(c, obj) for c in columns)
        return cells
    cells.extend(read(obj) for _, read in BUILTIN_PRINTERS.get(kind, []))
    cells.append(age(metadata.get("creationTimestamp")))
    return cells
