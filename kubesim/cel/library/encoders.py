"""cel-go's encoders extension: base64.encode and base64.decode."""

from __future__ import annotations

import base64
from typing import Any

from ..overloads import Overload
from ..values import CelError, no_overload, string_arg


def _base64_encode(value: Any) -> str:
    if type(value) is not bytes:
        raise no_overload("base64.encode", value)
    return base64.b64encode(value).decode("ascii")


def _base64_decode(value: Any) -> bytes:
    text = string_arg(value, "base64.decode")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise CelError(f"illegal base64 data in {text!r}") from None


FUNCTIONS: dict[str, Overload] = {
    "base64.encode": Overload(_base64_encode, 1, 1),
    "base64.decode": Overload(_base64_decode, 1, 1),
}
