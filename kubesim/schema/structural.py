"""Structural OpenAPI v3 schemas as the API server applies them to an object.

A schema is compiled once into `SchemaNode`s; an object then goes through the server's stages:
pruning of unknown fields and of nulls, defaulting, OpenAPI value validation (kube-openapi's
messages), list-type set/map uniqueness, and `x-kubernetes-validations` CEL rules.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..cel.compiler import (
    CelCompileError,
    CelError,
    Duration,
    Optional,
    Program,
    compile_program,
    compile_regex,
    parse_go_duration,
    parse_rfc3339,
)
from ..jsonvalue import copy_json
from . import fielderrors
from .fielderrors import FieldError

# A path is a linked tuple (parent, kind, value), rendered only when an error needs it:
# kind "p" is a property, "i" an array index, "k" a map key.
Path = tuple | None

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def child(path: Path, name: str) -> Path:
    return (path, "p", name)


def index(path: Path, position: int) -> Path:
    return (path, "i", position)


def key(path: Path, name: str) -> Path:
    return (path, "k", name)


def render_path(path: Path, *, openapi: bool = False) -> str:
    """field.Path's string form; with openapi=True, kube-openapi's (map keys as `.key`)."""
    segments = []
    while path is not None:
        path, kind, value = path
        segments.append((kind, value))
    text = ""
    for kind, value in reversed(segments):
        if kind == "p" or (openapi and kind == "k"):
            text = f"{text}.{value}" if text else str(value)
        else:
            text = f"{text}[{value}]"
    # The API server prints the root (a nil field.Path) as "<nil>".
    return text or ("" if openapi else fielderrors.NO_FIELD)


class UnsupportedRule(NamedTuple):
    """A CEL rule that could not be compiled, with where it sits and why."""

    crd: str
    json_path: str
    rule: str
    why: str


@dataclass(frozen=True)
class CompiledRule:
    rule: str
    program: Program
    message: str
    message_program: Program | None
    field_path: tuple[tuple[str, str], ...]
    reason: str | None
    optional_old_self: bool

    def error_string(self) -> str:
        return self.message.strip() if self.message else self.rule.strip()


class SchemaNode:
    """One compiled schema node. Attributes mirror the OpenAPI keywords they come from."""

    __slots__ = (
        "type",
        "nullable",
        "int_or_string",
        "preserve_unknown",
        "embedded",
        "properties",
        "additional",
        "additional_allowed",
        "items",
        "required",
        "enum",
        "pattern",
        "pattern_source",
        "format",
        "minimum",
        "maximum",
        "exclusive_minimum",
        "exclusive_maximum",
        "multiple_of",
        "min_length",
        "max_length",
        "min_items",
        "max_items",
        "min_properties",
        "max_properties",
        "unique_items",
        "all_of",
        "any_of",
        "one_of",
        "not_",
        "list_type",
        "list_map_keys",
        "map_atomic",
        "has_default",
        "default",
        "defaulted",
        "rules",
        "rules_below",
        "cel_convert",
        "type_name",
    )

    def __init__(self) -> None:
        self.type: str | None = None
        self.nullable = False
        self.int_or_string = False
        self.preserve_unknown = False
        self.embedded = False
        self.properties: dict[str, SchemaNode] | None = None
        self.additional: SchemaNode | None = None
        self.additional_allowed = False
        self.items: SchemaNode | None = None
        self.required: tuple[str, ...] = ()
        self.enum: tuple[Any, ...] | None = None
        self.pattern: Any = None
        self.pattern_source = ""
        self.format: str | None = None
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.exclusive_minimum = False
        self.exclusive_maximum = False
        self.multiple_of: float | None = None
        self.min_length: int | None = None
        self.max_length: int | None = None
        self.min_items: int | None = None
        self.max_items: int | None = None
        self.min_properties: int | None = None
        self.max_properties: int | None = None
        self.unique_items = False
        self.all_of: tuple[SchemaNode, ...] = ()
        self.any_of: tuple[SchemaNode, ...] = ()
        self.one_of: tuple[SchemaNode, ...] = ()
        self.not_: SchemaNode | None = None
        self.list_type: str | None = None
        self.list_map_keys: tuple[str, ...] = ()
        self.map_atomic = False
        self.has_default = False
        self.default: Any = None
        # Properties that carry a default, so defaulting does not scan all of them.
        self.defaulted: tuple[tuple[str, SchemaNode], ...] = ()
        self.rules: tuple[CompiledRule, ...] = ()
        # Whether any descendant has CEL rules, so the CEL pass can skip rule-free subtrees.
        self.rules_below = False
        # Whether CEL sees this value differently from its JSON (timestamps, bytes, doubles).
        self.cel_convert = False
        self.type_name = ""


_CEL_FORMATS = frozenset({"date-time", "datetime", "date", "duration", "byte"})


class SchemaCompiler:
    """Compiles OpenAPI schema dicts; rules that fail to compile are kept in `unsupported`."""

    def __init__(self, crd_name: str) -> None:
        self.crd_name = crd_name
        self.unsupported: list[UnsupportedRule] = []

    def compile(self, schema: dict, json_path: str = "") -> SchemaNode:
        node = SchemaNode()
        node.type = schema.get("type")
        node.nullable = bool(schema.get("nullable"))
        node.int_or_string = bool(schema.get("x-kubernetes-int-or-string"))
        node.preserve_unknown = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        node.embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        node.type_name = node.type or ""
        properties = schema.get("properties")
        if node.embedded:
            properties = {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                **(properties or {}),
            }
        if properties:
            node.properties = {
                name: self.compile(sub, f"{json_path}.{name}") for name, sub in properties.items()
            }
            node.defaulted = tuple(
                (name, sub) for name, sub in node.properties.items() if sub.has_default
            )
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            node.additional = self.compile(additional, f"{json_path}[*]")
        elif additional is True:
            node.additional_allowed = True
        if isinstance(schema.get("items"), dict):
            node.items = self.compile(schema["items"], f"{json_path}[*]")
        node.required = tuple(schema.get("required") or ())
        if "enum" in schema:
            node.enum = tuple(schema["enum"])
        if "pattern" in schema:
            node.pattern_source = schema["pattern"]
            try:
                node.pattern = compile_regex(schema["pattern"])
            except CelError as exc:
                # The API server rejects such a CRD; say which schema node is at fault.
                raise ValueError(f"{self.crd_name} {json_path or '.'}: {exc}") from None
        node.format = schema.get("format")
        node.minimum = schema.get("minimum")
        node.maximum = schema.get("maximum")
        node.exclusive_minimum = bool(schema.get("exclusiveMinimum"))
        node.exclusive_maximum = bool(schema.get("exclusiveMaximum"))
        node.multiple_of = schema.get("multipleOf")
        node.min_length = schema.get("minLength")
        node.max_length = schema.get("maxLength")
        node.min_items = schema.get("minItems")
        node.max_items = schema.get("maxItems")
        node.min_properties = schema.get("minProperties")
        node.max_properties = schema.get("maxProperties")
        node.unique_items = bool(schema.get("uniqueItems"))
        node.all_of = tuple(
            self.compile(sub, f"{json_path}<allOf[{i}]>")
            for i, sub in enumerate(schema.get("allOf") or ())
        )
        node.any_of = tuple(
            self.compile(sub, f"{json_path}<anyOf[{i}]>")
            for i, sub in enumerate(schema.get("anyOf") or ())
        )
        if node.int_or_string and _is_int_or_string_pair(schema.get("anyOf")):
            # The generated [integer, string] anyOf restates x-kubernetes-int-or-string.
            node.any_of = ()
        node.one_of = tuple(
            self.compile(sub, f"{json_path}<oneOf[{i}]>")
            for i, sub in enumerate(schema.get("oneOf") or ())
        )
        if isinstance(schema.get("not"), dict):
            node.not_ = self.compile(schema["not"], f"{json_path}<not>")
        node.list_type = schema.get("x-kubernetes-list-type")
        node.list_map_keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
        node.map_atomic = schema.get("x-kubernetes-map-type") == "atomic"
        if "default" in schema:
            node.has_default = True
            node.default = schema["default"]
        node.rules = tuple(
            rule
            for rule in (
                self._compile_rule(node, raw, json_path)
                for raw in schema.get("x-kubernetes-validations") or ()
            )
            if rule is not None
        )
        children = [*(node.properties or {}).values(), node.additional, node.items]
        children = [sub for sub in children if sub is not None]
        node.rules_below = any(sub.rules or sub.rules_below for sub in children) or any(
            sub.rules or sub.rules_below for sub in node.all_of
        )
        node.cel_convert = (
            node.format in _CEL_FORMATS
            or node.type == "number"
            or any(sub.cel_convert for sub in children)
        )
        return node

    def _compile_rule(self, node: SchemaNode, raw: dict, json_path: str) -> CompiledRule | None:
        rule = raw.get("rule", "")
        where = json_path or "."
        try:
            program = compile_program(rule)
            message_program = (
                compile_program(raw["messageExpression"]) if raw.get("messageExpression") else None
            )
            field_path = _parse_rule_field_path(raw.get("fieldPath") or "", node)
        except (CelCompileError, ValueError) as exc:
            self.unsupported.append(UnsupportedRule(self.crd_name, where, rule, str(exc)))
            return None
        return CompiledRule(
            rule=rule,
            program=program,
            message=raw.get("message") or "",
            message_program=message_program,
            field_path=field_path,
            reason=raw.get("reason"),
            optional_old_self=bool(raw.get("optionalOldSelf")),
        )


def _is_int_or_string_pair(any_of: Any) -> bool:
    if not isinstance(any_of, list) or len(any_of) != 2:
        return False
    return sorted(str(sub.get("type")) for sub in any_of if isinstance(sub, dict)) == [
        "integer",
        "string",
    ] and all(len(sub) == 1 for sub in any_of)


_FIELD_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\['((?:[^'\\]|\\.)*)'\]")


def _parse_rule_field_path(text: str, node: SchemaNode) -> tuple[tuple[str, str], ...]:
    """A rule's `fieldPath` (".a.b", "['k']") as path steps, checked against the schema."""
    steps: list[tuple[str, str]] = []
    position = 0
    current: SchemaNode | None = node
    while position < len(text):
        match = _FIELD_PATH_TOKEN.match(text, position)
        if not match or current is None:
            raise ValueError(f"invalid fieldPath {text!r}")
        name = match.group(1) if match.group(1) is not None else re.sub(
            r"\\(.)", r"\1", match.group(2)
        )
        if current.properties is not None:
            if name not in current.properties:
                raise ValueError(f"fieldPath {text!r} does not refer to a valid field")
            steps.append(("p", name))
            current = current.properties[name]
        elif current.additional is not None:
            steps.append(("k", name))
            current = current.additional
        else:
            raise ValueError(f"fieldPath {text!r} does not refer to a valid field")
        position = match.end()
    return tuple(steps)


# ---------------------------------------------------------------------------------------------
# Pruning, null handling and defaulting


class Normalizer:
    """The server's decode-time stages in one copying pass: drop fields the schema does not
    know (reported when strict), drop nulls of non-nullable fields, apply defaults."""

    def __init__(self, *, prune: bool, defaults: bool, strict: bool) -> None:
        self.prune = prune
        self.defaults = defaults
        self.strict = strict
        self.errors: list[FieldError] = []
        self.result: Any = None

    def run(self, node: SchemaNode | None, value: Any, path: Path) -> Any:
        if node is None:
            return copy_json(value)
        kind = type(value)
        if kind is dict:
            return self._object(node, value, path)
        if kind is list or kind is tuple:
            items = node.items
            if items is None:
                return copy_json(value)
            return [self.run(items, item, index(path, i)) for i, item in enumerate(value)]
        return value

    def _object(self, node: SchemaNode, value: dict, path: Path) -> dict:
        properties = node.properties
        additional = node.additional
        if properties is None and additional is None:
            # Free-form (preserve-unknown-fields or untyped) or a scalar slot holding an
            # object: nothing below to prune or default.
            if node.preserve_unknown or node.type is None or node.additional_allowed:
                return copy_json(value)
            if node.type == "object" and self.prune:
                for name in value:
                    self._unknown(child(path, name))
                return {}
            return copy_json(value)
        out: dict[str, Any] = {}
        for name, item in value.items():
            sub = properties.get(name) if properties is not None else None
            if sub is not None:
                item_path = child(path, name)
            elif additional is not None:
                sub = additional
                item_path = key(path, name)
            elif node.preserve_unknown or node.additional_allowed or not self.prune:
                out[name] = copy_json(item)
                continue
            else:
                self._unknown(child(path, name))
                continue
            if item is None and not sub.nullable and self.defaults:
                if sub.has_default:
                    out[name] = self.run(sub, copy_json(sub.default), item_path)
                elif self.strict and not _under_metadata(item_path):
                    # ObjectMeta nulls ("creationTimestamp: null" from kubectl) are normal.
                    self.errors.append(_type_error(sub, None, item_path))
                continue
            out[name] = self.run(sub, item, item_path)
        if self.defaults:
            for name, sub in node.defaulted:
                if name not in out:
                    out[name] = self.run(sub, copy_json(sub.default), child(path, name))
        return out

    def _unknown(self, path: Path) -> None:
        if self.strict:
            self.errors.append(fielderrors.unknown_field(render_path(path)))


def _under_metadata(path: Path) -> bool:
    top = None
    while path is not None:
        path, _, top = path
    return top == "metadata"


# ---------------------------------------------------------------------------------------------
# OpenAPI value validation (kube-openapi semantics, apiextensions' error conversion)


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


def _type_error(node: SchemaNode, value: Any, path: Path) -> FieldError:
    expected = "integer,string" if node.int_or_string else node.type
    actual = _json_type(value)
    where = render_path(path, openapi=True)
    return fielderrors.type_invalid(
        render_path(path), actual, f'{where} in body must be of type {expected}: "{actual}"'
    )


def _valid_date_time(text: str) -> bool:
    try:
        parse_rfc3339(text.replace(" ", "T", 1) if " " in text else text)
    except ValueError:
        return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?", text))
    return True


def _valid_byte(text: str) -> bool:
    try:
        base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _valid_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _valid_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def _valid_duration(text: str) -> bool:
    # strfmt's duration also takes days and weeks ("1d", "2w") besides Go's units.
    if re.fullmatch(r"(\d+\s*(d|w|day|days|week|weeks)\s*)+", text):
        return True
    try:
        parse_go_duration(text)
    except ValueError:
        return False
    return True


_HOSTNAME = re.compile(
    r"(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}")
_FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "date-time": _valid_date_time,
    "datetime": _valid_date_time,
    "date": lambda text: bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text)),
    "byte": _valid_byte,
    "ipv4": lambda text: _valid_ip(text, 4) and "." in text,
    "ipv6": lambda text: _valid_ip(text, 6) and ":" in text,
    "cidr": _valid_cidr,
    "duration": _valid_duration,
    "hostname": lambda text: bool(_HOSTNAME.fullmatch(text)),
    "uuid": lambda text: bool(_UUID.fullmatch(text)),
    "uri": lambda text: bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*:\S*", text)),
    "mac": lambda text: bool(
        re.fullmatch(r"[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}", text)
    ),
    "email": lambda text: bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text)),
}


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
                errors.append(_type_error(node, value, path))
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
            errors.append(_type_error(node, value, path))
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
        check = _FORMAT_CHECKS.get(node.format) if node.format else None
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
        if node.unique_items and len({_canonical(item) for item in value}) != len(value):
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
            marker = _canonical(item)
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


def _canonical(value: Any) -> str:
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


# ---------------------------------------------------------------------------------------------
# CEL rules


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
            return _canonical([present.get(name) for name in keys])

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
