"""The Kubernetes format library (apiserver pkg/cel/library/format.go): named string formats
for rules and messageExpressions, ``format.named(name)`` (an optional) and ``format.<name>()``,
each with ``validate(string)``: optional.none() when the string is valid, else the list of
its problems.

    format.dns1123Label().validate(self.metadata.name).hasValue()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ... import formats, names
from ..overloads import Overload
from ..values import CelError, Format, Optional, no_overload, string_arg
from .url import parse_url


def _mask_trailing_dash(name: str) -> str:
    # apimachinery pkg/api/validation/generic.go maskTrailingDash, as written there.
    return name[:-2] + "a" if len(name) > 1 and name.endswith("-") else name


def _prefixed(check: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    return lambda text: check(_mask_trailing_dash(text))


def _uri(text: str) -> list[str]:
    try:
        parse_url(text, "format.uri")
    except CelError:
        return [f'parse "{text}": invalid URI for request']
    return []


def _strfmt(name: str, problem: str) -> Callable[[str], list[str]]:
    check = formats.FORMAT_CHECKS[name]
    return lambda text: [] if check(text) else [problem]


# ConstantFormats: the library's names, what apiserver calls them, and their checks.
FORMATS: dict[str, Format] = {
    "dns1123Label": Format("DNS1123Label", names.dns1123_label),
    "dns1123Subdomain": Format("DNS1123Subdomain", names.dns1123_subdomain),
    "dns1035Label": Format("DNS1035Label", names.dns1035_label),
    "qualifiedName": Format("QualifiedName", names.qualified_name),
    "dns1123LabelPrefix": Format("DNS1123LabelPrefix", _prefixed(names.dns1123_label)),
    "dns1123SubdomainPrefix": Format("DNS1123SubdomainPrefix",
                                     _prefixed(names.dns1123_subdomain)),
    "dns1035LabelPrefix": Format("DNS1035LabelPrefix", _prefixed(names.dns1035_label)),
    "labelValue": Format("LabelValue", names.label_value),
    "uri": Format("URI", _uri),
    "uuid": Format("uuid", _strfmt("uuid", "does not match the UUID format")),
    "byte": Format("byte", _strfmt("byte", "invalid base64")),
    "date": Format("date", _strfmt("date", "invalid date")),
    "datetime": Format("datetime", _strfmt("datetime", "invalid datetime")),
}


def _named(name: Any) -> Optional:
    found = FORMATS.get(string_arg(name, "format.named"))
    return Optional(True, found) if found is not None else Optional(False)


def _validate(fmt: Any, text: Any) -> Optional:
    if type(fmt) is not Format:
        raise no_overload("validate", fmt, text)
    problems = fmt.validate(string_arg(text, "validate"))
    return Optional(True, list(problems)) if problems else Optional(False)


def _constant(fmt: Format) -> Callable[[], Format]:
    return lambda: fmt


FUNCTIONS: dict[str, Overload] = {
    "format.named": Overload(_named, 1, 1),
    **{f"format.{name}": Overload(_constant(fmt), 0, 0) for name, fmt in FORMATS.items()},
}

METHODS: dict[str, Overload] = {"validate": Overload(_validate, 1, 1)}
