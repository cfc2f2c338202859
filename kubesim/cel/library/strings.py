"""cel-go's strings extension as Kubernetes enables it: charAt, indexOf, lastIndexOf,
lowerAscii, upperAscii, replace, split, substring, trim, join, reverse, strings.quote and
``format`` (the ``%s %d %f ...`` string formatting)."""

from __future__ import annotations

import math
import re
from typing import Any

from ..overloads import Overload
from ..values import CelError, CelType, CelUint, cel_type_name, int_arg, no_overload, string_arg
from .standard import to_string

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _lower_ascii(text: Any) -> str:
    return string_arg(text, "lowerAscii").translate(_ASCII_LOWER)


def _upper_ascii(text: Any) -> str:
    return string_arg(text, "upperAscii").translate(_ASCII_UPPER)


def _trim(text: Any) -> str:
    return string_arg(text, "trim").strip()


def _split(text: Any, separator: Any, limit: Any = -1) -> list[str]:
    text = string_arg(text, "split")
    separator = string_arg(separator, "split")
    limit = int_arg(limit, "split")
    if limit == 0:
        return []
    if separator == "":
        parts = list(text)
        if 0 < limit < len(parts):
            parts = [*parts[: limit - 1], "".join(parts[limit - 1 :])]
        return parts
    return text.split(separator, limit - 1 if limit > 0 else -1)


def _join(items: Any, separator: Any = "") -> str:
    if type(items) not in (list, tuple) or any(type(item) is not str for item in items):
        raise no_overload("join", items)
    return string_arg(separator, "join").join(items)


def _replace(text: Any, old: Any, new: Any, limit: Any = -1) -> str:
    text = string_arg(text, "replace")
    limit = int_arg(limit, "replace")
    return text.replace(string_arg(old, "replace"), string_arg(new, "replace"), limit)


def _index_of(text: Any, needle: Any, offset: Any = 0) -> int:
    text = string_arg(text, "indexOf")
    needle = string_arg(needle, "indexOf")
    offset = int_arg(offset, "indexOf")
    if offset < 0 or offset > len(text):
        raise CelError(f"index out of range: {offset}")
    return text.find(needle, offset)


def _last_index_of(text: Any, needle: Any, offset: Any = None) -> int:
    text = string_arg(text, "lastIndexOf")
    needle = string_arg(needle, "lastIndexOf")
    if offset is None:
        return text.rfind(needle)
    offset = int_arg(offset, "lastIndexOf")
    if offset < 0 or (text and offset >= len(text)):
        raise CelError(f"index out of range: {offset}")
    return text.rfind(needle, 0, offset + len(needle))


def _substring(text: Any, start: Any, end: Any = None) -> str:
    text = string_arg(text, "substring")
    start = int_arg(start, "substring")
    stop = len(text) if end is None else int_arg(end, "substring")
    if start < 0 or start > len(text):
        raise CelError(f"index out of range: {start}")
    if stop < start or stop > len(text):
        raise CelError(f"index out of range: {stop}")
    return text[start:stop]


def _char_at(text: Any, position: Any) -> str:
    text = string_arg(text, "charAt")
    position = int_arg(position, "charAt")
    if position < 0 or position > len(text):
        raise CelError(f"index out of range: {position}")
    return text[position : position + 1]


def _reverse(text: Any) -> str:
    return string_arg(text, "reverse")[::-1]


def _quote(text: Any) -> str:
    text = string_arg(text, "strings.quote")
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    escapes |= {"\v": "\\v", "\\": "\\\\", '"': '\\"'}
    return '"' + "".join(escapes.get(char, char) for char in text) + '"'


def _format_value(value: Any) -> str:
    """`%s` rendering in the strings extension's `format`."""
    kind = type(value)
    if kind is list or kind is tuple:
        return "[" + ", ".join(_format_value(item) for item in value) + "]"
    if kind is dict:
        items = sorted((_format_value(key), _format_value(item)) for key, item in value.items())
        return "{" + ", ".join(f"{key}: {item}" for key, item in items) + "}"
    if value is None:
        return "null"
    if kind is CelType:
        return value.name
    return to_string(value)


_FORMAT_VERB = re.compile(r"%(?:\.(\d+))?([sdfeEbBoxX%])")


def _format(template: Any, arguments: Any) -> str:
    template = string_arg(template, "format")
    if type(arguments) not in (list, tuple):
        raise no_overload("format", template, arguments)
    remaining = list(arguments)

    def render(match: re.Match[str]) -> str:
        verb = match.group(2)
        if verb == "%":
            return "%"
        if not remaining:
            raise CelError("index 0 out of range")
        value = remaining.pop(0)
        precision = int(match.group(1)) if match.group(1) else None
        kind = type(value)
        if verb == "s":
            return _format_value(value)
        if verb == "d":
            if kind not in (int, CelUint):
                raise CelError(f"error during formatting: decimal clause can only be used on "
                               f"integers, was given {cel_type_name(value)}")
            return str(int(value))
        if verb in "feE":
            if kind not in (int, CelUint, float):
                raise CelError("error during formatting: fixed-point clause can only be used on "
                               f"doubles, was given {cel_type_name(value)}")
            number = float(value)
            if math.isnan(number):
                return "NaN"
            if math.isinf(number):
                return "Infinity" if number > 0 else "-Infinity"
            return f"{number:.{6 if precision is None else precision}{verb}}"
        if verb in "bB" and kind in (int, CelUint, bool):
            return format(int(value), "b")
        if verb == "o" and kind in (int, CelUint):
            return format(int(value), "o")
        if verb in "xX":
            if kind in (int, CelUint):
                text = format(int(value), "x")
            elif kind in (str, bytes):
                text = (value.encode() if kind is str else value).hex()
            else:
                raise CelError(f"error during formatting: only integers, byte buffers, and "
                               f"strings can be formatted as hex, was given {cel_type_name(value)}")
            return text.upper() if verb == "X" else text
        raise CelError(f"error during formatting: unsupported clause %{verb} "
                       f"for {cel_type_name(value)}")

    return _FORMAT_VERB.sub(render, template)


FUNCTIONS: dict[str, Overload] = {"strings.quote": Overload(_quote, 1, 1)}

METHODS: dict[str, Overload] = {
    "lowerAscii": Overload(_lower_ascii, 0, 0),
    "upperAscii": Overload(_upper_ascii, 0, 0),
    "trim": Overload(_trim, 0, 0),
    "split": Overload(_split, 1, 2),
    "join": Overload(_join, 0, 1),
    "replace": Overload(_replace, 2, 3),
    "indexOf": Overload(_index_of, 1, 2, (str,)),
    "lastIndexOf": Overload(_last_index_of, 1, 2, (str,)),
    "substring": Overload(_substring, 1, 2),
    "charAt": Overload(_char_at, 1, 1),
    "reverse": Overload(_reverse, 0, 0),
    "format": Overload(_format, 1, 1),
}
