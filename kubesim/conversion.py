"""Resources served at two groups but stored once, and the conversion between their forms.

Events: ``events.k8s.io/v1`` Events are core ``v1`` Events in storage, renamed field by field
(k8s.io/kubernetes pkg/apis/events/v1/conversion.go), so ``kubectl get events`` shows what a
controller recorded through either API, as on a real cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Converter = Callable[[dict[str, Any]], dict[str, Any]]

# (group, plural) served -> (group, plural) stored
SHARED_STORAGE: dict[tuple[str, str], tuple[str, str]] = {
    ("events.k8s.io", "events"): ("", "events"),
}

# events.k8s.io/v1 field -> core/v1 field
_EVENT_FIELDS = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_CORE_EVENT_FIELDS = {core: events for events, core in _EVENT_FIELDS.items()}


def _renamed(obj: dict[str, Any], names: dict[str, str], api_version: str) -> dict[str, Any]:
    converted = {names.get(key, key): value for key, value in obj.items()}
    converted["apiVersion"] = api_version
    return converted


def event_to_storage(obj: dict[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event in core/v1 form."""
    return _renamed(obj, _EVENT_FIELDS, "v1")


def event_from_storage(obj: dict[str, Any]) -> dict[str, Any]:
    """A stored core/v1 Event in events.k8s.io/v1 form."""
    return _renamed(obj, _CORE_EVENT_FIELDS, "events.k8s.io/v1")


CONVERTERS: dict[tuple[str, str], tuple[Converter, Converter]] = {
    ("events.k8s.io", "events"): (event_to_storage, event_from_storage),
}


def identity(obj: dict[str, Any]) -> dict[str, Any]:
    return obj
