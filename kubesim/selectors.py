"""Label and field selectors with the syntax and semantics of k8s.io/apimachinery.

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``,
``!k``, ``k>1``, ``k<1``, comma-separated and all required. Field selectors: ``f=v``, ``f==v``
and ``f!=v`` over the fields a resource supports.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")
_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


class SelectorError(ValueError):
    """The selector does not parse; the message is what the API server would say."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # in, notin, exists, !exists, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "in":
            return present and value in self.values
        if self.operator == "notin":
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!exists":
            return not present
        if not present:
            return False
        try:
            number, limit = int(value or ""), int(self.values[0])
        except ValueError:
            return False
        return number > limit if self.operator == "gt" else number < limit


def parse_label_selector(text: str) -> list[Requirement]:
    tokens = [t for t in _TOKEN.findall(text or "") if t]
    if "".join(tokens) != re.sub(r"\s+", "", text or ""):
        raise SelectorError(f"unable to parse requirement: invalid selector {text!r}")
    requirements: list[Requirement] = []
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise SelectorError("unable to parse requirement: unexpected end of selector")
        token = tokens[position]
        position += 1
        return token

    while position < len(tokens):
        word = take()
        if word == "!":
            key = _check_key(take())
            requirements.append(Requirement(key, "!exists"))
        else:
            key = _check_key(word)
            operator = peek()
            if operator in (None, ","):
                requirements.append(Requirement(key, "exists"))
            elif operator in ("=", "==", "!="):
                take()
                value = peek()
                if value in (None, ","):
                    value = ""
                else:
                    value = _check_value(take())
                requirements.append(
                    Requirement(key, "notin" if operator == "!=" else "in", (value,))
                )
            elif operator in ("in", "notin"):
                take()
                if take() != "(":
                    raise SelectorError(
                        f"unable to parse requirement: found {tokens[position - 1]!r}, "
                        "expected: '('"
                    )
                values: list[str] = []
                while True:
                    item = take()
                    if item == ")":
                        break
                    if item == ",":
                        continue
                    values.append(_check_value(item))
                requirements.append(Requirement(key, operator, tuple(values)))
            elif operator in (">", "<"):
                take()
                limit = take()
                if not re.fullmatch(r"-?\d+", limit):
                    raise SelectorError(
                        f"unable to parse requirement: for 'gt', 'lt' operators, the value "
                        f"must be an integer: {limit!r}"
                    )
                requirements.append(Requirement(key, "gt" if operator == ">" else "lt",
                                                (limit,)))
            else:
                raise SelectorError(
                    f"unable to parse requirement: found {operator!r}, expected: "
                    "in, notin, =, ==, !=, gt, lt"
                )
        following = peek()
        if following is not None:
            if following != ",":
                raise SelectorError(
                    f"found {following!r}, expected: ',' or 'end of string'"
                )
            take()
    return requirements


def _check_key(key: str) -> str:
    if not _KEY.match(key) or len(key.rpartition("/")[2]) > 63:
        raise SelectorError(
            f"unable to parse requirement: invalid label key {key!r}: name part must consist "
            "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character"
        )
    return key


def _check_value(value: str) -> str:
    if not _VALUE.match(value):
        raise SelectorError(
            f"unable to parse requirement: invalid label value: {value!r}: a valid label must "
            "be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
            "must start and end with an alphanumeric character"
        )
    return value


def labels_match(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in requirements)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    negated: bool


def parse_field_selector(text: str, supported: Mapping[str, Callable]) -> list[FieldRequirement]:
    """Parse ``text``; every field must be one that ``supported`` can read."""
    requirements: list[FieldRequirement] = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        match = re.fullmatch(r"([^!=]+?)\s*(!=|==|=)\s*(.*)", part)
        if match is None:
            raise SelectorError(f"invalid selector: '{part}'; can't understand '{part}'")
        name, operator, value = match.groups()
        if name not in supported:
            known = ", ".join(f'"{f}"' for f in sorted(supported))
            raise SelectorError(f'"{name}" is not a known field selector: only {known}')
        requirements.append(FieldRequirement(name, value, operator == "!="))
    return requirements


def fields_match(
    requirements: list[FieldRequirement], obj: dict, supported: Mapping[str, Callable]
) -> bool:
    for requirement in requirements:
        actual = supported[requirement.field](obj)
        actual = "" if actual is None else _field_string(actual)
        if (actual == requirement.value) == requirement.negated:
            return False
    return True


def _field_string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
