"""Kubernetes name syntax as k8s.io/apimachinery pkg/util/validation checks it (object names,
label keys and values, config keys, port names), with the API server's messages."""

from __future__ import annotations

import re
from collections.abc import Callable

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + r")*"
_DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = r"(" + _QUALIFIED_NAME + r")?"
_CONFIG_KEY = r"[-._a-zA-Z0-9]+"

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL)
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE)
_CONFIG_KEY_RE = re.compile(_CONFIG_KEY)

NameCheck = Callable[[str], list[str]]


def _regex_message(what: str, pattern: str, *examples: str) -> str:
    shown = ",  or ".join(f"'{example}'" for example in examples)
    return f"{what} (e.g. {shown}, regex used for validation is '{pattern}')"


def _too_long(limit: int) -> str:
    return f"must be no more than {limit} characters"


def dns1123_label(value: str) -> list[str]:
    """IsDNS1123Label: namespace names, port names, hostnames."""
    problems = []
    if len(value) > 63:
        problems.append(_too_long(63))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        problems.append(
            _regex_message(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character",
                _DNS1123_LABEL,
                "my-name",
                "123-abc",
            )
        )
    return problems


def dns1123_subdomain(value: str) -> list[str]:
    """IsDNS1123Subdomain: most object names."""
    problems = []
    if len(value) > 253:
        problems.append(_too_long(253))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        problems.append(
            _regex_message(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN,
                "example.com",
            )
        )
    return problems


def dns1035_label(value: str) -> list[str]:
    """IsDNS1035Label: Service names."""
    problems = []
    if len(value) > 63:
        problems.append(_too_long(63))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        problems.append(
            _regex_message(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character",
                _DNS1035_LABEL,
                "my-name",
                "abc-123",
            )
        )
    return problems


def qualified_name(value: str) -> list[str]:
    """IsQualifiedName: label and annotation keys, finalizers (`prefix/name`)."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
        problems: list[str] = []
    elif len(parts) == 2:
        prefix, name = parts
        problems = []
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            problems.extend(f"prefix part {problem}" for problem in dns1123_subdomain(prefix))
    else:
        return [
            _regex_message(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character",
                _QUALIFIED_NAME,
                "MyName",
                "my.name",
                "123-abc",
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part " + _too_long(63))
    if name and not _QUALIFIED_NAME_RE.fullmatch(name):
        problems.append(
            _regex_message(
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                "start and end with an alphanumeric character",
                _QUALIFIED_NAME,
                "MyName",
                "my.name",
                "123-abc",
            )
        )
    return problems


def label_value(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append(_too_long(63))
    if not _LABEL_VALUE_RE.fullmatch(value):
        problems.append(
            _regex_message(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return problems


def config_key(value: str) -> list[str]:
    """IsConfigMapKey: keys of Secret and ConfigMap data."""
    problems = []
    if len(value) > 253:
        problems.append(_too_long(253))
    if not _CONFIG_KEY_RE.fullmatch(value):
        problems.append(
            _regex_message(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                _CONFIG_KEY,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    if value == ".":
        problems.append("must not be '.'")
    elif value == "..":
        problems.append("must not be '..'")
    elif value.startswith(".."):
        problems.append("must not start with '..'")
    return problems


def iana_service_name(value: str) -> list[str]:
    """IsValidPortName: named ports (Service targetPort, container ports)."""
    problems = []
    if len(value) > 15:
        problems.append(_too_long(15))
    if not re.fullmatch(r"[-a-z0-9]+", value):
        problems.append("must contain only alphanumeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        problems.append("must not contain consecutive hyphens")
    if not re.search(r"[a-z]", value):
        problems.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


def port_number(value: int) -> list[str]:
    if not 1 <= value <= 65535:
        return ["must be between 1 and 65535, inclusive"]
    return []
