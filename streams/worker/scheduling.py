"""The order the worker takes fetched records in: each partition's case topics and clock merged by event time.

Kafka orders records within a topic-partition only. Faust's default hands fetched records over round-robin by
topic, so a worker catching up on a backlog may apply a booking's court event before the earlier booking event
on another topic, or let a tick fire a deadline before an input that precedes it. The engine corrects what
arrives out of order, but a correction is a directive withdrawn, so this scheduler hands records over in the
engine's order as far as it can see it, as Kafka Streams merges the partitions of a task: the records of
partition p of the case topics and the clock are buffered, and the one that comes first is handed over (by
`occurred_at`, read from the Avro bytes whatever the record's timestamp; then by the engine's order of events at one
instant, from the `dt-type` header), but only while every case topic of p either has a record buffered or has
nothing more to fetch (its consumer position has reached its high watermark; a topic-partition just assigned, whose
first fetch has not come back, may have records and is waited for). Each topic-partition keeps its own
order. When a topic whose records are awaited has not been fetched any further for MAX_HOLD seconds, the others go
on without it: a topic that stops being fetched must not stop every release (what comes of it later is corrected by
the engine); a worker that is merely slow keeps the order. Buffered records are not yet handed to the agent, so they
are not acknowledged and a crash or a rebalance loses none (the consumer reads them again from the committed
offsets).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.utils import DefaultSchedulingStrategy
from faust.types import TP

from streams.core.engine import PHASE
from streams.wire.codec import HEADER_TYPE, peek_occurred_at
from streams.worker.faust_compat import BriefFetchWaitThread, assigned_fetch_state

#: how long an awaited topic may go without being fetched further before the others go on without it
MAX_HOLD = 30.0
#: the fetch position of a topic-partition assigned but not fetched yet, whose high watermark is still unknown
UNFETCHED = -1


class EventTimeScheduler(DefaultSchedulingStrategy):
    """Faust's consumer scheduler, merging each partition's case topics and clock by record timestamp."""

    #: set on each app's own subclass (`merged_for`): the app (for the consumer's positions), the clock topic and
    #: the case input topics
    app: ClassVar[Any] = None
    clock_topic: ClassVar[str] = ""
    case_topics: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        """Nothing buffered yet."""
        self._buffers: dict[Any, deque[tuple[Any, float]]] = {}
        self._generation: Any = None
        #: each awaited topic-partition's fetch position and when it last moved (monotonic clock)
        self._moved: dict[Any, tuple[int, float]] = {}

    def iterate(self, records: Mapping[Any, list]) -> Iterator[tuple[Any, Any]]:
        """Every record that may go now: other topics' at once, the merged partitions' in event-time order."""
        self._new_generation()
        now = time.monotonic()
        merged = {*self.case_topics, self.clock_topic}
        touched: set[int] = set()
        for tp, batch in records.items():
            if tp.topic not in merged:
                for record in batch:
                    yield tp, record
                continue
            self._buffers.setdefault(tp, deque()).extend((r, now) for r in batch)
            touched.add(tp.partition)
        for partition in sorted(touched | {tp.partition for tp, q in self._buffers.items() if q}):
            yield from self._drain(partition, now)

    def _new_generation(self) -> None:
        # after a rebalance the consumer starts again from the committed offsets: what was buffered is read again
        generation = getattr(self.app, "consumer_generation_id", None)
        if generation != self._generation:
            self._buffers.clear()
            self._moved.clear()
            self._generation = generation

    def _drain(self, partition: int, now: float) -> Iterator[tuple[Any, Any]]:
        tps = [TP(t, partition) for t in (*self.case_topics, self.clock_topic)]
        while True:
            heads = [(self._buffers[tp][0], i, tp) for i, tp in enumerate(tps) if self._buffers.get(tp)]
            if not heads:
                return
            (record, _), _, tp = min(heads, key=lambda h: (*_place(h[0][0]), h[1]))
            if any(self._awaited(t, now) for t in tps[:-1] if not self._buffers.get(t)):
                return  # a case topic of this partition has records not fetched yet: wait for them
            self._buffers[tp].popleft()
            yield tp, record

    def _awaited(self, tp: Any, now: float) -> bool:
        """True when the topic-partition may have records not yet fetched and its fetch has moved in MAX_HOLD.

        After a restart or a rebalance each topic-partition's position is looked up from its committed offset and
        its high watermark comes with its first fetch; they do not come back together, so until both are known
        the topic-partition is awaited as one with records to fetch.

        A slow worker fetches every topic slowly, and waiting keeps the order; a topic whose fetch has not moved
        for MAX_HOLD is stalled, and the records of the others go on without it.
        """
        state = assigned_fetch_state(self.app, tp)
        if state is None:  # not assigned (any more), or no consumer: nothing to wait for
            return False
        if state.highwater is None or not state.has_valid_position:
            position = UNFETCHED  # just assigned: its committed offset or its first fetch has not come back yet
        elif state.position >= state.highwater:
            return False
        else:
            position = state.position
        moved = self._moved.get(tp)
        if moved is None or moved[0] != position:
            self._moved[tp] = moved = (position, now)
        return now - moved[1] < MAX_HOLD


def _place(record: Any) -> tuple[int, int]:
    """Where a record comes in the engine's order: its event time, then its type's place at one instant."""
    headers = dict(record.headers or ())
    phase = PHASE.get(headers.get(HEADER_TYPE, b"").decode("utf-8", "replace"), -1)
    at = peek_occurred_at(record.value)
    return (at if at is not None else 0), phase  # an unreadable record goes first, to the dead letters


class SteadyFetchConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer, except that a full queue never takes a merged topic-partition out of the fetch.

    Faust stops fetching the topic-partition whose record finds its agent's queue 80% full, and lets it back one
    at a time as the queue drains below 40%. The case agent has one queue for all its topic-partitions, so on a
    backlog the others keep it full and a topic-partition can wait minutes, while the event-time merge holds
    back the other topics of its partition for it. Here the merged topics (the case topics and the clock) stay in
    the fetch: the consumer is held back by the full queue itself (Faust waits for room before it reads on),
    which bounds memory just the same and slows all of them alike. Other topics keep Faust's way, so that a
    slow agent of theirs does not hold the case processor up. Its consumer thread is a BriefFetchWaitThread.
    After a rebalance it also reads every input partition with nothing committed from its start
    (`seek_to_committed`).
    """

    def _new_consumer_thread(self) -> BriefFetchWaitThread:
        return BriefFetchWaitThread(self, loop=self.loop, beacon=self.beacon)

    #: the merged topics, set on each app's own subclass (`merged_for`)
    merged: ClassVar[frozenset[str]] = frozenset()

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek every assigned partition to its committed offset, an input partition with none to its log start.

        aiokafka seeks only the partitions whose committed offset is above 0 (aiokafka #1003) and leaves the
        others where they are. A fetch that comes back while a rebalance stops the flow moves that position past
        records which Faust then drops unhandled; with no commit to seek back to, they were never read again (a
        tick, a first booking of a partition, lost until the worker restarted). With auto.offset.reset earliest
        (the worker's setting), nothing committed means "read from the start", and so it is here.
        """
        committed = await super().seek_to_committed()
        if self.app.conf.consumer_auto_offset_reset == "earliest":
            unread = never_committed(committed, self.app.tables.changelog_topics)
            if unread:
                starts = await self.earliest_offsets(*unread)
                for tp in unread:
                    await self.seek(tp, starts.get(tp) or 0)
        return committed

    def on_buffer_full(self, tp: TP) -> None:
        """Keep fetching a merged topic-partition: the wait for room in the queue is its back-pressure."""
        if tp.topic in self.merged:
            return
        super().on_buffer_full(tp)


def never_committed(committed: Mapping[Any, int | None], changelogs: Iterable[str]) -> list[Any]:
    """The input partitions (not a table's changelog, which recovery seeks itself) with no offset past 0 committed."""
    skip = set(changelogs)
    return sorted((tp for tp, offset in committed.items() if tp.topic not in skip and (offset is None or offset <= 0)),
                  key=lambda tp: (tp.topic, tp.partition))


def merged_for(case_topics: tuple[str, ...], clock_topic: str) -> tuple[type[EventTimeScheduler],
                                                                      type[SteadyFetchConsumer]]:
    """An app's own scheduler and consumer classes for its merged topics; its scheduler's `app` is set later.

    Faust makes both from classes, so each app gets subclasses of its own and nothing process-wide is set.
    """
    scheduler = type("CaseScheduler", (EventTimeScheduler,), {"case_topics": case_topics, "clock_topic": clock_topic})
    consumer = type("CaseConsumer", (SteadyFetchConsumer,), {"merged": frozenset((*case_topics, clock_topic))})
    return scheduler, consumer
