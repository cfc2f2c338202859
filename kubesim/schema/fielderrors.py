"""Field errors shaped like the API server's `field.Error`, and the 422 Status that carries them.

Messages follow k8s.io/apimachinery's `ErrorBody()` so a test can compare them with what a
real API server answers (value rendering included: strings quoted, Go maps as `%#v`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The API server's cause types (metav1.CauseType values), by field.ErrorType.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
TYPE_INVALID = "FieldValueTypeInvalid"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"

# The "<nil>" path is what the API server prints for errors not tied to one field.
NO_FIELD = "<nil>"


@dataclass(frozen=True)
class FieldError:
    """One validation failure: the field's path, the Kubernetes cause type and its message."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


_OMIT = object()


def go_value(value: Any) -> str:
    """Render a decoded JSON value the way Go's `%#v` prints an unstructured value."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_number(value)
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, dict):
        # Go prints map keys sorted.
        inner = ", ".join(f"{_go_quote(str(k))}:{go_value(v)}" for k, v in sorted(value.items()))
        return "map[string]interface {}{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[]interface {}{" + ", ".join(go_value(v) for v in value) + "}"
    return _go_quote(str(value))


def _go_number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _go_quote(text: str) -> str:
    # strconv.Quote keeps printable non-ASCII characters, as json.dumps does with ensure_ascii off.
    return json.dumps(text, ensure_ascii=False)


def _body(kind: str, value: Any, detail: str) -> str:
    """field.Error.ErrorBody(): the error type, the bad value when shown, then the detail."""
    if value is _OMIT:
        text = kind
    elif value is None:
        text = f'{kind}: "null"'
    elif isinstance(value, bool):
        text = f"{kind}: {'true' if value else 'false'}"
    elif isinstance(value, int | float):
        text = f"{kind}: {_go_number(value)}"
    elif isinstance(value, str):
        text = f"{kind}: {_go_quote(value)}"
    else:
        text = f"{kind}: {go_value(value)}"
    return f"{text}: {detail}" if detail else text


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, REQUIRED, _body("Required value", _OMIT, detail))


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, INVALID, _body("Invalid value", value, detail))


def type_invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, TYPE_INVALID, _body("Invalid value", value, detail))


def not_supported(path: str, value: Any, supported: list[Any] | tuple[Any, ...]) -> FieldError:
    quoted = []
    for allowed in supported:
        text = allowed if isinstance(allowed, str) else json.dumps(allowed, separators=(",", ":"))
        quoted.append(_go_quote(text))
    detail = "supported values: " + ", ".join(quoted) if quoted else ""
    return FieldError(path, NOT_SUPPORTED, _body("Unsupported value", value, detail))


def too_long(path: str, max_length: int) -> FieldError:
    unit = "byte" if max_length == 1 else "bytes"
    return FieldError(path, TOO_LONG, f"Too long: may not be more than {max_length} {unit}")


def too_many(path: str, actual: int, maximum: int) -> FieldError:
    unit = "item" if maximum == 1 else "items"
    return FieldError(path, TOO_MANY, f"Too many: {actual}: must have at most {maximum} {unit}")


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, DUPLICATE, _body("Duplicate value", value, ""))


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, FORBIDDEN, _body("Forbidden", _OMIT, detail))


def unknown_field(path: str) -> FieldError:
    """A field the schema does not declare: the server's strict-decoding wording."""
    return FieldError(path, FORBIDDEN, f"unknown field {_go_quote(path)}")


def invalid_status(group: str, kind: str, name: str, errors: list[FieldError]) -> dict:
    """The 422 `Status` a real API server answers for an object that fails validation."""
    qualified = f"{kind}.{group}" if group else kind
    rendered = [str(error) for error in errors]
    aggregate = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"{qualified} {_go_quote(name)} is invalid: {aggregate}",
        "reason": "Invalid",
        "details": {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": error.reason, "message": error.message, "field": error.field}
                for error in errors
            ],
        },
        "code": 422,
    }
