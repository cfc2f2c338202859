"""Structural OpenAPI v3 schemas compiled once into `SchemaNode`s, the form the API server's
stages walk (normalize.py: pruning and defaulting; openapivalidation.py: value validation;
rules.py: `x-kubernetes-validations`), with field paths rendered as the server prints them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..cel import CelCompileError, CelError, Program, compile_program
from ..cel.library.regex import compile_regex
from . import fielderrors

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
