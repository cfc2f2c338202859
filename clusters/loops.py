"""One object per asyncio event loop: the desired-state endpoint's wake-up hub, render cache
and agent reader each belong to the loop they were made on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """The objects of this process's event loops. Those of loops that have closed are forgotten
    (the test client runs one loop per request), after `release` has freed what they hold."""

    def __init__(self, release: Callable[[T], None] | None = None) -> None:
        self._items: dict[asyncio.AbstractEventLoop, T] = {}
        self._lock = threading.Lock()
        self._release = release

    def get(
        self,
        create: Callable[[asyncio.AbstractEventLoop], T],
        outdated: Callable[[T], bool] | None = None,
    ) -> T:
        """The running loop's object: made by `create` on first use, and made anew (the old one
        released) when `outdated` says so."""
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is not None and not (outdated and outdated(item)):
            return item
        with self._lock:
            self._forget_closed()
            item = self._items.get(loop)
            if item is None or (outdated and outdated(item)):
                if item is not None and self._release:
                    self._release(item)
                item = self._items[loop] = create(loop)
            return item

    def all(self) -> list[T]:
        """The objects of the loops that are still open."""
        with self._lock:
            self._forget_closed()
            return list(self._items.values())

    def clear(self) -> None:
        """Release and forget every object."""
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
        for item in items:
            if self._release:
                self._release(item)

    def _forget_closed(self) -> None:
        for loop in [loop for loop in self._items if loop.is_closed()]:
            item = self._items.pop(loop)
            if self._release:
                self._release(item)
