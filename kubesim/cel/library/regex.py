"""Regular expressions with RE2's (Go's) syntax and semantics: standard CEL's ``matches`` and
the Kubernetes regex library's ``find`` and ``findAll`` (apiserver pkg/cel/library/regex.go)."""

from __future__ import annotations

import functools
from typing import Any

import re2

from ..overloads import Overload
from ..values import CelError, int_arg, string_arg


@functools.lru_cache(maxsize=4096)
def compile_regex(pattern: str) -> Any:
    """An RE2 regex (Go's syntax and semantics), compiled once per pattern."""
    try:
        return re2.compile(pattern)
    except re2.error as exc:
        raise CelError(f"invalid regex {pattern!r}: {exc}") from None


def _matches(text: Any, pattern: Any) -> bool:
    text = string_arg(text, "matches")
    return compile_regex(string_arg(pattern, "matches")).search(text) is not None


def _find(text: Any, pattern: Any) -> str:
    match = compile_regex(string_arg(pattern, "find")).search(string_arg(text, "find"))
    return match.group(0) if match else ""


def _find_all(text: Any, pattern: Any, limit: Any = -1) -> list[str]:
    regex = compile_regex(string_arg(pattern, "findAll"))
    limit = int_arg(limit, "findAll")
    if limit == 0:
        return []
    found = [match.group(0) for match in regex.finditer(string_arg(text, "findAll"))]
    return found if limit < 0 else found[:limit]


FUNCTIONS: dict[str, Overload] = {"matches": Overload(_matches, 2, 2)}

METHODS: dict[str, Overload] = {
    "matches": Overload(_matches, 1, 1),
    "find": Overload(_find, 1, 1),
    "findAll": Overload(_find_all, 1, 2),
}
