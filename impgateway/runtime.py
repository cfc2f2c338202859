"""Settings of the Python runtime for the long-running processes: the web server and the agent.

CPython's cyclic garbage collector runs a full pass over every tracked object each time the
number of objects that survived younger passes grows by a quarter. A process that builds a large
structure of plain data (an agent rendering the manifests of 500 publishes, the control plane
snapshotting them) triggers several full passes on the way, each over the whole heap, including
the tens of thousands of objects Django and the app modules allocated at start-up and never
free. Measured with `bench/render.py`, those passes were two thirds of the render time.

So once a process has loaded its code it freezes that start-up heap (moves it to a generation
the collector never scans: the objects are still freed when no longer referenced, but reference
cycles among them are not collected) and collects young objects less often. The young threshold
is a trade: each request leaves a few thousand objects in reference cycles (model instances and
their caches, serializer trees), and a young pass over 50,000 objects took long enough to show
in the API's p95 (`bench/api_lists.py`: 47 ms against 34 ms at 10,000), while 2,000 left
rendering slow (`bench/render.py`: 0.89 s against 0.67 s at 10,000).
"""

from __future__ import annotations

import gc

# A young collection every 10,000 net allocations (CPython's default is 700, 2,000 since 3.13),
# a middle-generation pass every 10 of those, a full pass considered every 10 of those.
GC_THRESHOLDS = (10_000, 10, 10)

_tuned = False


def tune_garbage_collector() -> None:
    """Freeze the objects allocated so far and raise the collection thresholds. Call once the
    process has imported its code and before it serves; later calls do nothing."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
