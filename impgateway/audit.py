"""The audit trail: `record` writes one AuditEvent per change, with the object's concrete
fields before and after (never secrets). Called from the admin base, the API base and the
services, nowhere else. Where a change came from (console, API, or an operation run by a task
or command) is set once per request by the console's admin site and the API's base viewset
(`acting_through`), so a service records the same event whichever of them called it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .models import AuditAction, AuditEvent, AuditSource

__all__ = [
    "AuditAction",
    "AuditEvent",
    "AuditSource",
    "acting_through",
    "current",
    "record",
    "snapshot",
]

_SECRET_MARKERS = ("secret", "token", "hash", "encrypted")

_source: ContextVar[str] = ContextVar("impgateway_audit_source", default=AuditSource.SERVICE)


@contextmanager
def acting_through(source: str) -> Iterator[None]:
    """Record the changes made inside the block as coming from `source` (an AuditSource)."""
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


def _is_secret(field: models.Field) -> bool:
    name = field.name.lower()
    return any(marker in name for marker in _SECRET_MARKERS)


def snapshot(obj: models.Model | None) -> dict[str, Any] | None:
    """The object's concrete fields as JSON data (foreign keys as ids), secrets left out."""
    if obj is None:
        return None
    values = {
        field.attname: field.value_from_object(obj)
        for field in obj._meta.concrete_fields
        if not _is_secret(field)
    }
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def current(obj: models.Model) -> dict[str, Any] | None:
    """The stored version's snapshot (what an edited, unsaved instance is about to replace)."""
    if obj.pk is None:
        return None
    return snapshot(type(obj)._default_manager.filter(pk=obj.pk).first())


def record(
    user,
    action: str,
    obj: models.Model,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    source: str | None = None,
    object_id: int | None = None,
) -> AuditEvent | None:
    """Write one event; an update that changed no field writes nothing. Without a `source`,
    the one `acting_through` set for the current request (else an operation's)."""
    if action == AuditAction.UPDATE and before == after:
        return None
    authenticated = getattr(user, "is_authenticated", False)
    return AuditEvent.objects.create(
        user=user if authenticated else None,
        username=user.get_username() if authenticated else "",
        action=action,
        source=source or _source.get(),
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=object_id if object_id is not None else obj.pk,
        object_repr=str(obj)[:200],
        before=before,
        after=after,
    )
