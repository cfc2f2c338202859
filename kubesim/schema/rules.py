"""`x-kubernetes-validations`: CEL rules evaluated over a normalized object and its old
version, with the values CEL sees (apiextensions-apiserver pkg/apiserver/schema/cel)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..cel import CelError
from ..cel.values import Duration, Optional
from ..formats import parse_go_duration, parse_rfc3339
from . import fielderrors
from .fielderrors import FieldError
from .nodes import CompiledRule, Path, SchemaNode, child, index, key, render_path
from .openapivalidation import canonical


def cel_value(node: SchemaNode, value: Any) -> Any:
    """The value CEL sees: date-time as timestamp, duration as duration, byte as bytes,
    number as double (apiextensions' UnstructuredToVal)."""
    if value is None or not node.cel_convert:
        return value
    kind = type(value)
    if kind is str:
        fmt = node.format
        try:
            if fmt in ("date-time", "datetime"):
                return parse_rfc3339(value)
            if fmt == "date":
                return parse_rfc3339(f"{value}T00:00:00Z")
            if fmt == "duration":
                return Duration(parse_go_duration(value))
            if fmt == "byte":
                return base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            return value
        return value
    if kind is int and node.type == "number":
        return float(value)
    if kind is dict:
        properties = node.properties or {}
        additional = node.additional
        converted = {}
        for name, item in value.items():
            sub = properties.get(name) or additional
            converted[name] = cel_value(sub, item) if sub is not None else item
        return converted
    if (kind is list or kind is tuple) and node.items is not None:
        return [cel_value(node.items, item) for item in value]
    return value


class RuleRunner:
    """Evaluates `x-kubernetes-validations` over a normalized object (and its old version)."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def run(self, node: SchemaNode, value: Any, old: Any, path: Path) -> None:
        if value is None:
            return
        if node.rules:
            self._evaluate(node, value, old, path)
        for sub in node.all_of:
            if sub.rules or sub.rules_below:
                self.run(sub, value, old, path)
        if not node.rules_below:
            return
        kind = type(value)
        if kind is dict:
            old_map = old if type(old) is dict and not node.map_atomic else None
            properties = node.properties
            additional = node.additional
            for name, item in value.items():
                sub = properties.get(name) if properties is not None else None
                item_path = child(path, name)
                if sub is None:
                    sub = additional
                    item_path = key(path, name)
                if sub is not None and (sub.rules or sub.rules_below):
                    self.run(sub, item, old_map.get(name) if old_map else None, item_path)
        elif kind is list or kind is tuple:
            items = node.items
            if items is None or not (items.rules or items.rules_below):
                return
            correlated = self._correlate(node, value, old)
            for position, item in enumerate(value):
                self.run(items, item, correlated[position], index(path, position))

    @staticmethod
    def _correlate(node: SchemaNode, value: list, old: Any) -> list[Any]:
        # Only list-type=map items have an identity to pair old and new items by.
        if node.list_type != "map" or type(old) not in (list, tuple) or not node.list_map_keys:
            return [None] * len(value)
        keys = node.list_map_keys

        def identity(item: Any) -> str:
            present = item if type(item) is dict else {}
            return canonical([present.get(name) for name in keys])

        old_by_key = {identity(item): item for item in old}
        return [old_by_key.get(identity(item)) for item in value]

    def _evaluate(self, node: SchemaNode, value: Any, old: Any, path: Path) -> None:
        self_value = cel_value(node, value)
        old_value = cel_value(node, old)
        for rule in node.rules:
            uses_old = rule.program.uses_old_self
            if uses_old and old is None and not rule.optional_old_self:
                # Transition rules only run when there is an old value (never on create).
                continue
            variables: dict[str, Any] = {"self": self_value}
            if uses_old:
                variables["oldSelf"] = old_value
            if rule.optional_old_self:
                variables["oldSelf"] = Optional(old is not None, old_value)
            try:
                outcome = rule.program.evaluate(variables)
            except CelError as exc:
                detail = f"{exc} evaluating rule: {rule.error_string()}"
                if str(exc).startswith("no such overload"):
                    detail = (
                        f"'{exc}': call arguments did not match a supported operator, function "
                        f"or macro signature for rule: {rule.error_string()}"
                    )
                self.errors.append(fielderrors.invalid(render_path(path), node.type_name, detail))
                continue
            if outcome is True:
                continue
            error_path = path
            for kind, name in rule.field_path:
                error_path = (error_path, kind, name)
            detail = self._message(rule, {"self": self_value, "oldSelf": old_value})
            self.errors.append(self._error(rule, render_path(error_path), node.type_name, detail))

    @staticmethod
    def _message(rule: CompiledRule, variables: dict[str, Any]) -> str:
        if rule.message_program is not None:
            try:
                text = rule.message_program.evaluate(variables)
            except CelError:
                text = None
            # The server falls back to the static message for unusable results.
            if type(text) is str and text.strip() and "\n" not in text.strip():
                return text.strip()
        if rule.message:
            return rule.message.strip()
        return f"failed rule: {rule.error_string()}"

    @staticmethod
    def _error(rule: CompiledRule, path: str, type_name: str, detail: str) -> FieldError:
        if rule.reason == fielderrors.FORBIDDEN:
            return fielderrors.forbidden(path, detail)
        if rule.reason == fielderrors.REQUIRED:
            return fielderrors.required(path, detail)
        if rule.reason == fielderrors.DUPLICATE:
            return fielderrors.duplicate(path, type_name)
        return fielderrors.invalid(path, type_name, detail)
