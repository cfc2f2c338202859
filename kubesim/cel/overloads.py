"""Function tables: each library declares its global functions and receiver-style methods
as ``Overload``s (an implementation and how many arguments it takes); ``merge`` joins the
libraries' tables, dispatching a method two libraries declare on the receiver's type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Overload:
    implementation: Callable[..., Any]
    min_args: int
    max_args: int
    # The receiver types this overload is for (methods only); None: any.
    receivers: tuple[type, ...] | None = None


def merge(*tables: dict[str, Overload]) -> dict[str, Overload]:
    """One table from several; a name declared twice dispatches on the receiver's type."""
    merged: dict[str, list[Overload]] = {}
    for table in tables:
        for name, overload in table.items():
            merged.setdefault(name, []).append(overload)
    return {name: overloads[0] if len(overloads) == 1 else _dispatch(overloads)
            for name, overloads in merged.items()}


def _dispatch(overloads: list[Overload]) -> Overload:
    def implementation(receiver: Any, *arguments: Any) -> Any:
        for overload in overloads:
            if overload.receivers is None or type(receiver) in overload.receivers:
                return overload.implementation(receiver, *arguments)
        return overloads[-1].implementation(receiver, *arguments)

    return Overload(implementation, min(o.min_args for o in overloads),
                    max(o.max_args for o in overloads))
