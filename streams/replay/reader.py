"""Reading a selection back from Kafka: group-less, read_committed, seeking by time with Kafka's own time index.

Record timestamps are event times (an input's `occurred_at`, the stream instant an output was decided at), so
`offsets_for_times` finds where a window begins on every partition. The replay never joins a consumer group: it
assigns partitions itself and commits nothing, so the live workers never see it.

Two passes. The first reads the bookings topic and decodes only booking records, to learn which bookings match a
person, facility or county. The second reads the case inputs and the outputs, and decodes only the records whose
key is a selected booking; the rest are counted, not decoded. For listed booking ids, only the partitions their
keys map to are read, and the first pass is skipped.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streams.core import events as ev
from streams.errors import KafkaUnavailable
from streams.replay.capture import Capture, Recorded
from streams.replay.selection import Selection
from streams.wire.codec import HEADER_TYPE, Codec, Coordinates, DeadLetter
from streams.wire.reach import check
from streams.wire.topics import CASE_INPUTS, CASE_OUTPUTS, Topics, partition_of

OUTPUTS = CASE_OUTPUTS
BOOKING = "BookingRecorded"
#: how long a partition may give nothing while short of its end before the replay gives up
STALL_SECONDS = 60.0
Progress = Callable[[int, int], None]


class Reader:
    """Reads selections from one cluster's topics (one prefix)."""

    def __init__(self, client_config: dict[str, Any], topics: Topics, codec: Codec,
                 progress: Progress | None = None, max_records: int = 5000) -> None:
        """Bind the cluster and the codec; `progress(done, total)` hears how far the reading is."""
        self.client_config, self.topics, self.codec = client_config, topics, codec
        self.progress, self.max_records = progress, max_records
        self._done = self._total = 0
        self._stream_ms: dict[int, int] = {}
        self._seen: set[bytes] = set()
        self._selected: set[bytes] = set()

    def read(self, selection: Selection) -> Capture:
        """Read what the selection names (see the module docstring).

        The cyclic garbage collector is paused while reading: every record kept stays alive to the end of the
        read, so its passes over the growing capture would find nothing to free (the read makes no reference
        cycles that outlive it; the collector runs again, on whatever there is, when the read is over).
        """
        with collector_paused():
            return self._read(selection)

    def _read(self, selection: Selection) -> Capture:
        began = time.monotonic()
        capture = Capture(selection)
        self._done, self._stream_ms, self._seen, self._selected = 0, {}, set(), set()
        consumer = self._consumer()
        try:
            partitions = self._partitions(consumer, selection)
            capture.partitions = tuple(partitions)
            rest = [t for t in CASE_INPUTS if t != "bookings" or not selection.by_attributes]
            first = self._ranges(consumer, ["bookings"], partitions, selection) if selection.by_attributes else {}
            second = self._ranges(consumer, [*rest, *OUTPUTS], partitions, selection)
            self._total = sum(end - start for start, end in (*first.values(), *second.values()))
            pending: list[Any] = []
            if first:
                self._scan(consumer, first, lambda tid, rs: self._bookings(capture, pending, tid, rs), capture)
            keys = self._keys(selection)
            self._records(capture, keys, "bookings", pending)  # read before their booking record (out of order)
            self._scan(consumer, second, lambda tid, rs: self._records(capture, keys, tid, rs), capture)
            self._last_ticks(consumer, partitions, capture)
        except KafkaError as exc:
            raise KafkaUnavailable(f"cannot read from Kafka at {self.client_config.get('bootstrap_servers')}: "
                                   f"{exc}") from exc
        finally:
            consumer.close()
        capture.stream_time = {p: _instant(ms) for p, ms in self._stream_ms.items()}
        capture.seconds = time.monotonic() - began
        return capture

    def _consumer(self) -> KafkaConsumer:
        check(self.client_config)
        try:
            return KafkaConsumer(group_id=None, enable_auto_commit=False, isolation_level="read_committed",
                                 max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
                                 client_id="detainer-tracker-replay", **self.client_config)
        except KafkaError as exc:
            raise KafkaUnavailable(f"cannot reach Kafka at {self.client_config.get('bootstrap_servers')}: "
                                   f"{exc}") from exc

    def _partitions(self, consumer: KafkaConsumer, selection: Selection) -> list[int]:
        name = self.topics.name("bookings")
        found = consumer.partitions_for_topic(name)
        if not found:
            raise KafkaUnavailable(f"topic {name} does not exist (is the topic prefix right?)")
        if selection.only_listed:
            return sorted({partition_of(b.encode(), len(found)) for b in selection.booking_ids})
        return sorted(found)

    def _ranges(self, consumer: KafkaConsumer, topic_ids: Iterable[str], partitions: list[int],
                selection: Selection) -> dict[TopicPartition, tuple[int, int]]:
        tps = [TopicPartition(self.topics.name(t), p) for t in topic_ids for p in partitions]
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        start, stop = dict(begin), dict(end)
        if selection.read_from is not None:
            start = self._offsets_at(consumer, tps, selection.read_from, end)
        if selection.read_to is not None:
            stop = self._offsets_at(consumer, tps, selection.read_to, end)
        return {tp: (max(start[tp], begin[tp]), max(stop[tp], start[tp], begin[tp])) for tp in tps}

    @staticmethod
    def _offsets_at(consumer: KafkaConsumer, tps: list[TopicPartition], at: datetime,
                    end: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        # the first offset whose record timestamp is at or after `at`; none such: the partition's end
        found = consumer.offsets_for_times({tp: int(at.timestamp() * 1000) for tp in tps})
        return {tp: (found[tp].offset if found.get(tp) is not None else end[tp]) for tp in tps}

    def _scan(self, consumer: KafkaConsumer, ranges: dict[TopicPartition, tuple[int, int]],
              visit: Callable[[str, list[Any]], None], capture: Capture) -> None:
        live = {tp for tp, (start, end) in ranges.items() if end > start}
        for tp, (start, end) in ranges.items():
            capture.ranges[(self._topic_id(tp.topic), tp.partition)] = (start, end)
        if not live:
            return
        consumer.assign(sorted(live))
        for tp in live:
            consumer.seek(tp, ranges[tp][0])
        ids = {tp.topic: self._topic_id(tp.topic) for tp in live}
        quiet_since = time.monotonic()
        while live:
            batch = consumer.poll(timeout_ms=1000, max_records=self.max_records, update_offsets=True)
            for tp, records in batch.items():
                end, topic_id = ranges[tp][1], ids[tp.topic]
                inside = [r for r in records if r.offset < end] if records[-1].offset >= end else records
                visit(topic_id, inside)
                capture.records_read[topic_id] += len(inside)
                self._advance(len(inside))
            done = {tp for tp in live if consumer.position(tp) >= ranges[tp][1]}
            if done:
                live -= done
                consumer.pause(*done)
            if batch or done:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > STALL_SECONDS:
                short = ", ".join(f"{tp.topic}[{tp.partition}] at {consumer.position(tp)} of {ranges[tp][1]}"
                                  for tp in sorted(live))
                raise KafkaUnavailable(f"reading stalled for {STALL_SECONDS:.0f} s short of the end: {short}")
        consumer.unsubscribe()

    def _advance(self, n: int) -> None:
        self._done += n
        if self.progress is not None:
            self.progress(self._done, self._total)

    def _topic_id(self, name: str) -> str:
        topic = self.topics.by_name(name)
        return topic.spec.id if topic else name

    def _bookings(self, capture: Capture, pending: list[Any], topic_id: str, records: list[Any]) -> None:
        # The first pass: booking records say which bookings are selected. A booking's other events on this
        # topic follow its booking record (one key, one partition, in order), so they are kept or skipped at
        # once; any read before their booking record wait in `pending` until the pass is over.
        self._stream(records)
        seen, selected, matches = self._seen, self._selected, capture.selection.matches
        for r in records:
            if _type_of(r) != BOOKING:
                if r.key in selected:
                    self._keep(capture, topic_id, r)
                elif r.key not in seen:
                    pending.append(r)
                continue
            seen.add(r.key)
            decoded = self._decode(capture, topic_id, r)
            if decoded is not None and matches(decoded.record):
                selected.add(r.key)
                self._keep(capture, topic_id, r, decoded)

    def _keys(self, selection: Selection) -> frozenset[bytes] | None:
        if selection.by_attributes:
            return frozenset(self._selected | {b.encode() for b in selection.booking_ids})
        if selection.booking_ids:
            return frozenset(b.encode() for b in selection.booking_ids)
        return None  # every booking

    def _records(self, capture: Capture, keys: frozenset[bytes] | None, topic_id: str, records: list[Any]) -> None:
        # the second pass: every record of a selected booking is kept; the rest only move stream time on
        if topic_id not in OUTPUTS:
            self._stream(records)
        for r in records:
            if keys is None or r.key in keys:
                self._keep(capture, topic_id, r)

    def _stream(self, records: list[Any]) -> None:
        # the latest input record timestamp of each partition
        latest = self._stream_ms
        for r in records:
            if r.timestamp is not None and r.timestamp > latest.get(r.partition, -1):
                latest[r.partition] = r.timestamp

    def _keep(self, capture: Capture, topic_id: str, r: Any, decoded: Any = None) -> None:
        if decoded is None:
            decoded = self._decode(capture, topic_id, r)
            if decoded is None:
                return
        record = decoded.record
        booking_id = str(record.get("booking_id") or r.key.decode(errors="replace"))
        kept = Recorded(topic_id, r.partition, r.offset, _instant(r.timestamp), decoded.type_name, record)
        (capture.outputs if topic_id in OUTPUTS else capture.inputs)[booking_id].append(kept)
        if decoded.type_name == BOOKING and booking_id not in capture.bookings:
            capture.bookings[booking_id] = ev.from_record(BOOKING, record)  # type: ignore[assignment]

    def _decode(self, capture: Capture, topic_id: str, r: Any) -> Any:
        decoded = self.codec.decode(r.value, r.headers, Coordinates(r.topic, r.partition, r.offset, r.timestamp),
                                    r.key)
        if isinstance(decoded, DeadLetter):
            capture.unreadable.append(decoded)
            return None
        capture.decoded += 1
        return decoded

    def _last_ticks(self, consumer: KafkaConsumer, partitions: list[int], capture: Capture) -> None:
        # the clock's last tick on each partition is where live stream time stood (ticks are wall-clock time)
        tps = [TopicPartition(self.topics.name("clock"), p) for p in partitions]
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        tps = [tp for tp in tps if end[tp] > begin[tp]]
        if not tps:
            return
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, end[tp] - 1)
        waiting, deadline = set(tps), time.monotonic() + 10
        while waiting and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                self._stream(records)
                waiting.discard(tp)
            waiting = {tp for tp in waiting if consumer.position(tp) < end[tp]}
        consumer.unsubscribe()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the block (as it was after it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _type_of(r: Any) -> str | None:
    for name, value in r.headers or ():
        if name == HEADER_TYPE:
            return value.decode(errors="replace")
    return None


def _instant(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


