"""Kubernetes object names and labels for the manifests of one publish.

Every name is a valid RFC 1035 label (the strictest rule any of our kinds has: Service names),
at most 63 characters, and deterministic: the same publish always gets the same names. Every
name starts from the publish's base name, which ends in the publish id: tenants share clusters
and namespaces, and names built only from names a tenant chooses (product slug, service, route)
could be chosen by another tenant to land on the same objects.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME_LENGTH = 63
HASH_LENGTH = 8

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "imp-gateway"
PUBLISH_LABEL = "imp-gateway.io/publish"
REVISION_LABEL = "imp-gateway.io/revision"
TENANT_LABEL = "imp-gateway.io/tenant"

_INVALID_CHARACTERS = re.compile(r"[^a-z0-9-]+")
_DASH_RUNS = re.compile(r"-{2,}")


def short_hash(*parts: str) -> str:
    """Eight hex digits identifying `parts`; the separator keeps ("a-b", "c") != ("a", "b-c")."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:HASH_LENGTH]


def _clean(text: str) -> str:
    text = _DASH_RUNS.sub("-", _INVALID_CHARACTERS.sub("-", text.lower())).strip("-")
    # Service names are RFC 1035 labels: they must start with a letter, and a product slug may
    # start with a digit.
    if not text or not text[0].isalpha():
        text = f"ig-{text}".rstrip("-")
    return text


def fit_name(*parts: str) -> str:
    """`parts` joined by '-', made a valid name; when too long, truncated and suffixed with a
    short hash of all parts so that two long names sharing a prefix stay distinct."""
    name = _clean("-".join(parts))
    if len(name) <= MAX_NAME_LENGTH:
        return name
    return _truncated(name, short_hash(*parts))


def _truncated(name: str, suffix: str) -> str:
    head = name[: MAX_NAME_LENGTH - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}"


def _with_suffix(name: str, suffix: str) -> str:
    if len(name) + len(suffix) + 1 <= MAX_NAME_LENGTH:
        return f"{name}-{suffix}"
    return _truncated(name, suffix)


def publish_base_name(publish: dict) -> str:
    """The first part of every object name of a publish: `{product-slug}-{environment}-{id}`.

    The id makes the names of two publishes disjoint whatever their tenants name things; the
    readable part says which product and environment an object serves.
    """
    return fit_name(publish["name"], str(publish["id"]))


class ObjectNames:
    """Allocates the object names of one publish, memoised per (scope, parts).

    Names are joined from DNS labels with '-', so two different part lists can join to the same
    text (route "a-b" of service "x" and route "b" of service "x-a"); within one scope the second
    comer gets a hashed name instead. Drivers allocate in spec order, which is sorted, so the
    outcome is deterministic.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self._by_parts: dict[tuple[str, tuple[str, ...]], str] = {}
        self._owners: dict[tuple[str, str], tuple[str, ...]] = {}

    def name(self, scope: str, *parts: str) -> str:
        """The name of the object identified by `parts` among the objects of `scope` (usually
        one kind; kinds that share a name space share a scope): the publish's base name and
        the parts, joined."""
        return self._allocate(scope, (self.base, *parts))

    def child(self, scope: str, parent: str, *parts: str) -> str:
        """The name of an object that belongs to the object named `parent`."""
        return self._allocate(scope, (parent, *parts))

    def _allocate(self, scope: str, parts: tuple[str, ...]) -> str:
        key = (scope, parts)
        if key in self._by_parts:
            return self._by_parts[key]
        candidate = fit_name(*parts)
        owner = self._owners.get((scope, candidate))
        if owner is not None and owner != parts:
            candidate = _with_suffix(candidate, short_hash(*parts))
        self._owners[(scope, candidate)] = parts
        self._by_parts[key] = candidate
        return candidate


def managed_labels(spec: dict, revision: int) -> dict[str, str]:
    """The labels every object of a publish carries; the agent's inventory selects on them."""
    publish = spec["publish"]
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        PUBLISH_LABEL: str(publish["id"]),
        REVISION_LABEL: str(revision),
        TENANT_LABEL: publish["tenant"],
    }
