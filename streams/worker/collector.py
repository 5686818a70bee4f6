"""How the worker uses Python's cyclic garbage collector: the started heap set aside, full collections on a timer.

A full collection walks every object the collector tracks and stops the event loop while it does. A running
worker tracks a great many that live long and hold no garbage: what startup built (modules, Faust's, aiokafka's
and the worker's services, the rulebook, the schemas) and the decoded cases it keeps at hand (`step._Decoded`,
hundreds of thousands of objects). Left to the interpreter, a full collection comes each time a quarter more
objects have survived into the oldest generation, which the kept cases' turnover brings every few seconds at
1,000 events/s; each took 0.1 to 0.5 s on a machine of 2 cores, and those pauses were the slowest events' latency.

So the worker
- sets aside what is alive once the app has started and its tables are recovered (`gc.freeze`, after one full
  collection, so nothing already garbage is set aside); what startup built is still freed by reference counting
  when let go, only a reference cycle among it that dies later stays;
- leaves the young generations to the interpreter (they hold what one event makes and find most cycles), and
  makes the full collection its own, every `FULL_EVERY_SECONDS`: the reference cycles that outlive the young
  generations wait that long at most to be freed.
"""

from __future__ import annotations

import gc
import logging
import time

import faust

log = logging.getLogger(__name__)

#: seconds between two full collections of a running worker
FULL_EVERY_SECONDS = 600.0
#: the oldest generation's threshold while the worker makes its own full collections: never reached
NEVER = 2**31 - 1


def schedule_collections(app: faust.App) -> None:
    """Set the started worker's heap aside once its tables are recovered; then a full collection on a timer."""

    @app.task
    async def set_aside_started_heap() -> None:
        set_aside()

    @app.timer(FULL_EVERY_SECONDS)
    async def collect_everything() -> None:
        collect()


def set_aside() -> None:
    """One full collection, everything alive then set aside from later ones, and no automatic full collection."""
    freed = collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)
    log.info("%d objects of the started worker set aside from garbage collection (%d freed first)",
             gc.get_freeze_count(), freed)


def collect() -> int:
    """A full collection, logged with what it freed and how long it held the event loop; returns what it freed."""
    began = time.perf_counter()
    freed = gc.collect()
    log.info("full garbage collection: %d unreachable objects freed in %.0f ms", freed,
             (time.perf_counter() - began) * 1000)
    return freed
