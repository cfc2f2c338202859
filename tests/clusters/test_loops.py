"""clusters.loops.PerLoop: one object per event loop, released when replaced or when its loop
has closed."""

from __future__ import annotations

import asyncio

from clusters.loops import PerLoop


def test_one_object_per_loop_released_once_its_loop_has_closed():
    released = []
    objects: PerLoop[list] = PerLoop(release=released.append)

    async def get() -> list:
        return objects.get(lambda loop: [loop])

    async def twice() -> tuple[list, list]:
        return await get(), await get()

    first, again = asyncio.run(twice())
    assert first is again
    second = asyncio.run(get())  # a new loop gets its own; the first loop has closed
    assert second is not first
    assert objects.all() == []  # both loops are closed now
    assert released == [first, second]


def test_an_outdated_object_is_released_and_made_anew():
    released = []
    objects: PerLoop[dict] = PerLoop(release=released.append)

    async def run() -> tuple[dict, dict, dict]:
        old = objects.get(lambda loop: {"version": 1})
        same = objects.get(lambda loop: {"version": 1}, outdated=lambda item: item["version"] != 1)
        new = objects.get(lambda loop: {"version": 2}, outdated=lambda item: item["version"] != 2)
        return old, same, new

    old, same, new = asyncio.run(run())
    assert same is old and new is not old
    assert released == [old]
    objects.clear()
    assert released == [old, new]
