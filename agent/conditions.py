"""Status read back from applied objects: the conditions gateway controllers set.

Gateway `Accepted` and `Programmed`; per parent of an HTTPRoute or GRPCRoute `Accepted` and
`ResolvedRefs`; per ancestor of a policy (Gateway API policy attachment) its conditions. A
condition a controller has not written yet, or wrote for an older generation of the object,
is reported `Unknown`, so a deployment is Ready only once its controller has caught up.
"""

from __future__ import annotations

from typing import Any

from clusters.protocol import CONDITION_TYPES, MAX_MESSAGE_LENGTH, ObjectCondition, ObjectRef

from .kube import ObjectKey

GATEWAY_TYPES = ("Accepted", "Programmed")
ROUTE_TYPES = ("Accepted", "ResolvedRefs")
ROUTE_KINDS = frozenset({"HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"})


def object_ref(key: ObjectKey) -> ObjectRef:
    return {"api_version": key.api_version, "kind": key.kind, "namespace": key.namespace,
            "name": key.name}


def _condition(
    key: ObjectKey, kind: str, status: str, reason: str = "", message: str = ""
) -> ObjectCondition:
    condition: ObjectCondition = {"object": object_ref(key), "type": kind,
                                  "status": status if status in ("True", "False") else "Unknown"}
    if reason:
        condition["reason"] = reason[:256]
    if message:
        condition["message"] = message[:MAX_MESSAGE_LENGTH]
    return condition


def _read(
    key: ObjectKey,
    conditions: list[dict[str, Any]],
    wanted: tuple[str, ...],
    generation: int | None,
    where: str = "",
    report_missing: bool = True,
) -> list[ObjectCondition]:
    by_type = {item.get("type"): item for item in conditions if isinstance(item, dict)}
    prefix = f"{where}: " if where else ""
    read: list[ObjectCondition] = []
    types = wanted if report_missing else tuple(t for t in wanted if t in by_type)
    for kind in types:
        item = by_type.get(kind)
        if item is None:
            read.append(_condition(key, kind, "Unknown", "NotReported",
                                   f"{prefix}the controller has not reported {kind} yet"))
            continue
        observed = item.get("observedGeneration")
        if generation is not None and isinstance(observed, int) and observed < generation:
            read.append(_condition(
                key, kind, "Unknown", "StaleObservedGeneration",
                f"{prefix}reported for generation {observed}, the object is at {generation}",
            ))
            continue
        read.append(_condition(key, kind, str(item.get("status", "Unknown")),
                               str(item.get("reason", "")), prefix + str(item.get("message", ""))))
    return read


def _parent_name(ref: dict[str, Any]) -> str:
    name = f"{ref.get('kind', 'Gateway')} {ref.get('namespace', '') and ref['namespace'] + '/'}"
    name += str(ref.get("name", ""))
    if ref.get("sectionName"):
        name += f"/{ref['sectionName']}"
    return name


def conditions_of(obj: dict[str, Any]) -> list[ObjectCondition]:
    """The conditions one live object reports, as the agent protocol carries them."""
    key = ObjectKey.of(obj)
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    if key.kind == "Gateway":
        return _read(key, status.get("conditions") or [], GATEWAY_TYPES, generation)
    if key.kind in ROUTE_KINDS:
        parents = status.get("parents") or []
        if not parents:
            return _read(key, [], ROUTE_TYPES, generation, "no parent")
        found: list[ObjectCondition] = []
        for parent in parents:
            found += _read(key, parent.get("conditions") or [], ROUTE_TYPES, generation,
                           _parent_name(parent.get("parentRef") or {}))
        return found
    if "ancestors" in status:
        found = []
        for ancestor in status.get("ancestors") or []:
            found += _read(key, ancestor.get("conditions") or [], CONDITION_TYPES, generation,
                           _parent_name(ancestor.get("ancestorRef") or {}), report_missing=False)
        return found
    return []


def all_true(conditions: list[ObjectCondition]) -> bool:
    """True when every condition is True: nothing left to watch for."""
    return all(condition["status"] == "True" for condition in conditions)
