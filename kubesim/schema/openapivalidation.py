"""OpenAPI value validation with kube-openapi's semantics and apiextensions' conversion of
its errors to field errors (types, formats, bounds, enums, list-type uniqueness)."""

from __future__ import annotations

import json
import math
from typing import Any

from ..formats import FORMAT_CHECKS
from . import fielderrors
from .fielderrors import FieldError
from .nodes import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    Path,
    SchemaNode,
    child,
    index,
    key,
    render_path,
)


def _json_type(value: Any) -> str:
    kind = type(value)
    if kind is dict:
        return "object"
    if kind is list or kind is tuple:
        return "array"
    if kind is str:
        return "string"
    if kind is bool:
        return "boolean"
    if kind is int:
        return "integer"
    if kind is float:
        return "number"
    if value is None:
        return "null"
    return kind.__name__


def type_error(node: SchemaNode, value: Any, path: Path) -> FieldError:
    expected = "integer,string" if node.int_or_string else node.type
    actual = _json_type(value)
    where = render_path(path, openapi=True)
    return fielderrors.type_invalid(
        render_path(path), actual, f'{where} in body must be of type {expected}: "{actual}"'
    )


def _number_text(number: float) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


class Validator:
    """Walks a normalized object against its schema, collecting kube-openapi errors
    (`errors`) and list-type uniqueness errors (`list_errors`) separately, as the server
    reports them in that order."""

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.errors: list[FieldError] = []
        self.list_errors: list[FieldError] = []

    def check(self, node: SchemaNode, value: Any, path: Path) -> None:
        errors = self.errors
        if value is None:
            if not node.nullable and (node.type is not None or node.int_or_string):
                errors.append(type_error(node, value, path))
            return
        kind = type(value)
        declared = node.type
        if node.int_or_string:
            valid_type = kind is int or kind is str
        elif declared is None:
            valid_type = True
        elif declared == "object":
            valid_type = kind is dict
        elif declared == "string":
            valid_type = kind is str
        elif declared == "array":
            valid_type = kind is list or kind is tuple
        elif declared == "integer":
            valid_type = kind is int or (kind is float and value.is_integer())
        elif declared == "boolean":
            valid_type = kind is bool
        elif declared == "number":
            valid_type = kind is int or kind is float
        else:
            valid_type = True
        if not valid_type:
            errors.append(type_error(node, value, path))
            return
        if node.enum is not None and not _in_enum(value, node.enum):
            errors.append(fielderrors.not_supported(render_path(path), value, node.enum))
        if kind is str:
            self._string(node, value, path)
        elif kind is dict:
            self._object(node, value, path)
        elif kind is list or kind is tuple:
            self._array(node, value, path)
        elif kind is int or kind is float:
            self._number(node, value, path)
        if node.all_of or node.any_of or node.one_of or node.not_ is not None:
            self._composition(node, value, path)

    def _string(self, node: SchemaNode, value: str, path: Path) -> None:
        errors = self.errors
        if node.max_length is not None and len(value) > node.max_length:
            errors.append(fielderrors.too_long(render_path(path), node.max_length))
        if node.min_length is not None and len(value) < node.min_length:
            where = render_path(path, openapi=True)
            errors.append(
                fielderrors.invalid(
                    render_path(path),
                    value,
                    f"{where} in body should be at least {node.min_length} chars long",
                )
            )
        if node.pattern is not None and node.pattern.search(value) is None:
            where = render_path(path, openapi=True)
            errors.append(
                fielderrors.invalid(
                    render_path(path),
                    value,
                    f"{where} in body should match '{node.pattern_source}'",
                )
            )
        check = FORMAT_CHECKS.get(node.format) if node.format else None
        if check is not None and not check(value):
            where = render_path(path, openapi=True)
            errors.append(
                fielderrors.type_invalid(
                    render_path(path),
                    value,
                    f"{where} in body must be of type {node.format}: {json.dumps(value)}",
                )
            )

    def _number(self, node: SchemaNode, value: float, path: Path) -> None:
        errors = self.errors
        where = None
        if node.minimum is not None and (
            value < node.minimum or (node.exclusive_minimum and value == node.minimum)
        ):
            where = render_path(path, openapi=True)
            relation = "greater than" if node.exclusive_minimum else "greater than or equal to"
            errors.append(
                fielderrors.invalid(
                    render_path(path),
                    value,
                    f"{where} in body should be {relation} {_number_text(node.minimum)}",
                )
            )
        if node.maximum is not None and (
            value > node.maximum or (node.exclusive_maximum and value == node.maximum)
        ):
            where = render_path(path, openapi=True)
            relation = "less than" if node.exclusive_maximum else "less than or equal to"
            errors.append(
                fielderrors.invalid(
                    render_path(path),
                    value,
                    f"{where} in body should be {relation} {_number_text(node.maximum)}",
                )
            )
        if node.multiple_of and not math.isclose(
            value / node.multiple_of, round(value / node.multiple_of)
        ):
            where = render_path(path, openapi=True)
            errors.append(
                fielderrors.invalid(
                    render_path(path),
                    value,
                    f"{where} in body should be a multiple of {_number_text(node.multiple_of)}",
                )
            )
        # The server decodes integers as int64; the controllers behind int32 fields cannot
        # hold more, so strict validation reports that range too.
        if node.type == "integer" or node.int_or_string:
            low, high = (
                (INT32_MIN, INT32_MAX)
                if node.format == "int32" and self.strict
                else (INT64_MIN, INT64_MAX)
            )
            if not low <= value <= high:
                where = render_path(path, openapi=True)
                bound, relation = (
                    (high, "less than or equal to")
                    if value > high
                    else (low, "greater than or equal to")
                )
                errors.append(
                    fielderrors.invalid(
                        render_path(path), value, f"{where} in body should be {relation} {bound}"
                    )
                )

    def _object(self, node: SchemaNode, value: dict, path: Path) -> None:
        errors = self.errors
        for name in node.required:
            if name not in value:
                errors.append(fielderrors.required(render_path(child(path, name))))
        if node.embedded:
            for name in ("apiVersion", "kind"):
                if not value.get(name):
                    errors.append(fielderrors.required(render_path(child(path, name)),
                                                       "must not be empty"))
        if node.max_properties is not None and len(value) > node.max_properties:
            errors.append(
                fielderrors.too_many(render_path(path), len(value), node.max_properties)
            )
        if node.min_properties is not None and len(value) < node.min_properties:
            where = render_path(path, openapi=True)
            errors.append(
                fielderrors.invalid(
                    render_path(path),
                    node.min_properties,
                    f"{where} in body should have at least {node.min_properties} properties",
                )
            )
        properties = node.properties
        additional = node.additional
        if properties is None and additional is None:
            return
        for name, item in value.items():
            sub = properties.get(name) if properties is not None else None
            if sub is not None:
                self.check(sub, item, child(path, name))
            elif additional is not None:
                self.check(additional, item, key(path, name))

    def _array(self, node: SchemaNode, value: list, path: Path) -> None:
        errors = self.errors
        if node.max_items is not None and len(value) > node.max_items:
            errors.append(fielderrors.too_many(render_path(path), len(value), node.max_items))
        if node.min_items is not None and len(value) < node.min_items:
            where = render_path(path, openapi=True)
            errors.append(
                fielderrors.invalid(
                    render_path(path),
                    len(value),
                    f"{where} in body should have at least {node.min_items} items",
                )
            )
        if node.unique_items and len({canonical(item) for item in value}) != len(value):
            where = render_path(path, openapi=True)
            errors.append(
                fielderrors.invalid(
                    render_path(path), value, f"{where} in body shouldn't contain duplicates"
                )
            )
        items = node.items
        if items is not None:
            for position, item in enumerate(value):
                self.check(items, item, index(path, position))
        if node.list_type == "set":
            self._duplicates(value, path, value)
        elif node.list_type == "map":
            self._list_map(node, value, path)

    def _duplicates(self, keys: list[Any], path: Path, shown: list[Any]) -> None:
        seen: dict[str, int] = {}
        for position, item in enumerate(keys):
            marker = canonical(item)
            times = seen.get(marker, 0)
            seen[marker] = times + 1
            if times == 1:
                self.list_errors.append(
                    fielderrors.duplicate(render_path(index(path, position)), shown[position])
                )

    def _list_map(self, node: SchemaNode, value: list, path: Path) -> None:
        for position, item in enumerate(value):
            if item is not None and type(item) is not dict:
                self.list_errors.append(
                    fielderrors.invalid(
                        render_path(index(path, position)),
                        item,
                        "must be an object for an array of list-type map",
                    )
                )
                return
        if len(value) <= 1:
            return
        key_fields = node.list_map_keys
        keys = []
        for item in value:
            present = item or {}
            keys.append({name: present[name] for name in key_fields if name in present})
        self._duplicates(keys, path, keys)

    def _composition(self, node: SchemaNode, value: Any, path: Path) -> None:
        errors = self.errors
        where = render_path(path, openapi=True) or "."
        shown = node.type_name or _json_type(value)
        if node.all_of:
            failed = 0
            for sub in node.all_of:
                sub_errors = self._sub(sub, value, path)
                if sub_errors:
                    failed += 1
                    errors.extend(sub_errors)
            if failed:
                suffix = ". None validated" if failed == len(node.all_of) else ""
                errors.append(
                    fielderrors.invalid(
                        render_path(path),
                        shown,
                        f"{json.dumps(where)} must validate all the schemas (allOf){suffix}",
                    )
                )
        if node.any_of:
            best: list[FieldError] | None = None
            for sub in node.any_of:
                sub_errors = self._sub(sub, value, path)
                if not sub_errors:
                    best = None
                    break
                if best is None or len(sub_errors) < len(best):
                    best = sub_errors
            else:
                errors.append(
                    fielderrors.invalid(
                        render_path(path),
                        shown,
                        f"{json.dumps(where)} must validate at least one schema (anyOf)",
                    )
                )
                errors.extend(best or ())
        if node.one_of:
            valid = 0
            best = None
            for sub in node.one_of:
                sub_errors = self._sub(sub, value, path)
                if not sub_errors:
                    valid += 1
                elif valid == 0 and (best is None or len(sub_errors) < len(best)):
                    best = sub_errors
            if valid != 1:
                found = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
                errors.append(
                    fielderrors.invalid(
                        render_path(path),
                        shown,
                        f"{json.dumps(where)} must validate one and only one schema (oneOf). "
                        f"{found}",
                    )
                )
                if valid == 0:
                    errors.extend(best or ())
        if node.not_ is not None and not self._sub(node.not_, value, path):
            errors.append(
                fielderrors.invalid(
                    render_path(path),
                    shown,
                    f"{json.dumps(where)} must not validate the schema (not)",
                )
            )

    def _sub(self, node: SchemaNode, value: Any, path: Path) -> list[FieldError]:
        nested = Validator(strict=self.strict)
        nested.check(node, value, path)
        return nested.errors + nested.list_errors


def _in_enum(value: Any, options: tuple[Any, ...]) -> bool:
    # JSON equality: 1 and 1.0 are the same number, but true is not 1 (as Python has it).
    kind = type(value)
    numeric = kind is int or kind is float
    for option in options:
        option_kind = type(option)
        if option_kind is kind or (numeric and option_kind in (int, float)):
            if option == value:
                return True
    return False


def canonical(value: Any) -> str:
    if type(value) in (dict, list, tuple):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return f"{type(value).__name__}:{value!r}"


# Error types after which the server does not run CEL rules (apiextensions' hasBlockingErr).
BLOCKING_REASONS = frozenset(
    {
        fielderrors.NOT_SUPPORTED,
        fielderrors.REQUIRED,
        fielderrors.TOO_LONG,
        fielderrors.TOO_MANY,
        fielderrors.TYPE_INVALID,
    }
)
RULES_NOT_CHECKED = fielderrors.invalid(
    fielderrors.NO_FIELD,
    None,
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation",
)
