"""Which assigned input partitions have unread messages but have made no progress for a while.

Faust's rebalance and recovery path can leave a partition it has just assigned unread for good (the worker
reports itself ready and never fetches it; faust-streaming #432, #597, #629, #651). A release due on that
partition would never be ordered. The worker's watchdog asks this class which partitions are stalled, and acts.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from streams.worker.faust_compat import committed_offsets, fetch_position

log = logging.getLogger(__name__)
#: how long an assigned partition may sit behind with nothing read (recovery of a large table included)
PATIENCE_SECONDS = 45.0
CHECK_SECONDS = 5.0


class StallWatch:
    """Progress per partition, judged against the partitions' end offsets, on a monotonic clock."""

    def __init__(self, patience: float) -> None:
        """A partition is stalled after `patience` seconds with unread messages and nothing handled."""
        self.patience = patience
        self._next: dict[Hashable, int] = {}
        self._since: dict[Hashable, float] = {}
        self._healed: set[Hashable] = set()
        #: each partition's fetch position at the last check
        self._fetched: dict[Hashable, int] = {}

    def assigned(self, partitions: Iterable[Hashable], now: float) -> None:
        """A new assignment: every partition's clock starts again (recovery may take a while)."""
        self._since = {tp: now for tp in partitions}
        self._next = {tp: n for tp, n in self._next.items() if tp in self._since}
        self._healed &= set(self._since)
        self._fetched = {}

    def progressed(self, partition: Hashable, offset: int, now: float) -> None:
        """A message of the partition was handled."""
        self._next[partition] = offset + 1
        self._since[partition] = now
        self._healed.discard(partition)

    def fetched(self, partition: Hashable, position: int | None, now: float) -> None:
        """The consumer's fetch position of the partition: when it has moved, the partition is being read.

        The event-time merge holds fetched records back until the partition's other topics catch up in time (on a
        backlog, a court topic whose first event comes a simulated day after the first bookings waits minutes):
        such a partition is read, not stalled.
        """
        if position is None:
            return
        before = self._fetched.get(partition)
        if before is not None and position > before:  # forward only: a seek back (healing) is no progress
            self._since[partition] = now
        self._fetched[partition] = position

    def stalled(self, ends: Mapping[Hashable, int], starts: Mapping[Hashable, int], now: float) -> list[Hashable]:
        """Partitions with messages past what was handled and no progress for `patience` seconds.

        `starts` says where reading a partition begins when nothing of it was handled since the assignment: its
        committed offset, or the start of the log when that is later (or nothing was committed).
        """
        out = []
        for tp, since in self._since.items():
            position = max(self._next.get(tp, 0), self._fetched.get(tp, 0), starts.get(tp) or 0)
            if ends.get(tp, 0) > position and now - since > self.patience:
                out.append(tp)
        return out

    def heal_tried(self, partition: Hashable) -> bool:
        """True when the watchdog already tried to heal this stall once (and nothing came of it)."""
        return partition in self._healed

    def healing(self, partition: Hashable, now: float) -> None:
        """The watchdog is trying to heal the partition: give it another `patience` seconds."""
        self._healed.add(partition)
        self._since[partition] = now


def add_watchdog(app: Any, topics: Iterable[str], metrics: Any, patience: float = PATIENCE_SECONDS,
                 every: float = CHECK_SECONDS) -> StallWatch:
    """Watch the app's input partitions of `topics`; heal a stall once, then stop the worker.

    Healing resumes the partition and seeks it to its committed offset (what was handled again is repeated
    with the same ids, and dropped by the output-tail check). A partition still stalled after that stops the
    worker with an error: its partitions then move to the other workers, or to this one when it is restarted.
    """
    watch = StallWatch(patience)
    names = set(topics)

    def ours(tps: Iterable[Any]) -> list[Any]:
        return [tp for tp in tps if tp.topic in names]

    @app.on_partitions_assigned.connect
    async def on_assigned(app_: Any, assigned: Any, **_: Any) -> None:
        watch.assigned(ours(assigned), time.monotonic())

    @app.timer(every, name="stall-watchdog")
    async def check() -> None:
        consumer = app.consumer
        if app.rebalancing or getattr(app, "in_recovery", False):
            return
        tps = ours(consumer.assignment())
        if not tps:
            return
        ends, earliest = await consumer.highwaters(*tps), await consumer.earliest_offsets(*tps)
        committed = committed_offsets(consumer)
        starts = {tp: max(committed.get(tp) or 0, earliest.get(tp) or 0) for tp in tps}
        now = time.monotonic()
        for tp in tps:
            watch.fetched(tp, fetch_position(app, tp), now)
        for tp in watch.stalled(ends, starts, now):
            if watch.heal_tried(tp):
                metrics.stalls.labels("stopped").inc()
                log.critical("partition %s[%d] is still not read (from %s to %s): stopping the worker so that its "
                             "partitions move", tp.topic, tp.partition, starts[tp], ends.get(tp))
                os.kill(os.getpid(), signal.SIGTERM)
                return
            metrics.stalls.labels("resumed").inc()
            log.error("partition %s[%d] is assigned with messages %s to %s unread, and nothing was read for "
                      "%.0f s: resuming it from its committed offset", tp.topic, tp.partition, starts[tp],
                      ends.get(tp), watch.patience)
            watch.healing(tp, time.monotonic())
            consumer.resume_partitions({tp})
            await consumer.seek(tp, starts[tp])
            app.flow_control.resume()
            consumer.resume_flow()

    return watch
