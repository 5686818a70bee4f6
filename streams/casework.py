"""The case processor's step, independent of Faust: one raw message in, encoded outputs out, state updated.

Per partition it keeps stream time (the latest event or tick time seen) and a heap of pending deadlines. Before
an event is applied, every deadline due at or before the partition's stream time fires, and after it every
deadline the event set that is due already, in the same step, so their outputs join the same commit as the input.
The durable state is the store (the Faust table): each booking's case with its pending deadlines; the heaps are
rebuilt from it when a partition is (re)assigned.
"""

from __future__ import annotations

import heapq
import itertools
import pickle
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from streams import cases
from streams import events as ev
from streams.codec import Codec, Coordinates, DeadLetter, Encoded, Headers
from streams.decisions import Deadline, Output
from streams.law.rulebook import RuleBook

STATE_VERSION = 1
HOUR = timedelta(hours=1)
Store = MutableMapping[bytes, Any]


@dataclass
class Result:
    """What one step produced: messages to send, and what happened (for metrics and logs)."""

    messages: list[Encoded] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    #: the stream instant each output was decided at (its event's time, or its deadline's), as `decide` stamps it
    decided: list[datetime] = field(default_factory=list)
    writes: dict[bytes, bytes] = field(default_factory=dict)
    dead_letter: DeadLetter | None = None
    event_type: str | None = None
    event: ev.Event | None = None
    #: the outputs that deadlines fired (a subset of `outputs`), for the lateness metric
    fired: list[Output] = field(default_factory=list)
    #: the county of each booking the step touched, for the metrics' county label
    counties: dict[str, str] = field(default_factory=dict)
    #: bookings that left custody in this step after a release deadline: True when later than the deadline plus
    #: the rule book's grace period (the same measure as the OVERDUE_RELEASE violation)
    left_late: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Standing:
    """What the gauges need of one case: in custody or not, and the instants that matter."""

    in_custody: bool
    hold_until: datetime | None
    release_deadline: datetime | None

    @classmethod
    def of(cls, case: cases.Case) -> Standing:
        """The standing of a case."""
        return cls(case.left_custody is None, case.hold_until, case.release_deadline)


@dataclass(frozen=True)
class Gauges:
    """Cases in custody, holds in force, releases due within the hour and overdue, each by its partition's time."""

    open_cases: int = 0
    active_holds: int = 0
    releases_due_next_hour: int = 0
    releases_overdue: int = 0


def dump(case: cases.Case, pending: tuple[Deadline, ...]) -> bytes:
    """A case and its pending deadlines as table bytes."""
    return pickle.dumps((STATE_VERSION, case, pending), protocol=pickle.HIGHEST_PROTOCOL)


def load(raw: bytes) -> tuple[cases.Case, tuple[Deadline, ...]]:
    """The inverse of dump."""
    version, case, pending = pickle.loads(raw)  # noqa: S301 - our own table, written only by dump()
    if version != STATE_VERSION:
        raise ValueError(f"case state version {version} is not {STATE_VERSION}")
    return case, pending


class CaseWork:
    """Stream time, deadlines and cases for the partitions this worker owns."""

    def __init__(self, book: RuleBook, codec: Codec, source: str, state: str = "CA") -> None:
        """Bind the rule book, the codec and the name written into dead letters."""
        self.book, self.codec, self.source, self.state = book, codec, source, state
        self.stream_time: dict[int, datetime] = {}
        self._heaps: dict[int, list[tuple[datetime, int, Deadline]]] = {}
        self._standing: dict[int, dict[str, Standing]] = {}
        self._seq = itertools.count()

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop in-memory state of partitions this worker no longer owns (rebuilt if they come back)."""
        for p in partitions:
            self._heaps.pop(p, None)
            self._standing.pop(p, None)
            self.stream_time.pop(p, None)

    def partitions_owned(self) -> int:
        """How many partitions' deadlines are loaded."""
        return len(self._heaps)

    def has_partition(self, partition: int) -> bool:
        """True when the partition's deadlines are loaded."""
        return partition in self._heaps

    def load_partition(self, partition: int, items: Iterable[tuple[bytes, bytes]]) -> int:
        """Rebuild a partition's deadline heap from its cases in the store; returns how many are pending."""
        heap: list[tuple[datetime, int, Deadline]] = []
        standing = self._standing.setdefault(partition, {})
        for key, raw in items:
            case, pending = load(raw)
            heap.extend((d.due_at, next(self._seq), d) for d in pending)
            standing[key.decode()] = Standing.of(case)
        heapq.heapify(heap)
        self._heaps[partition] = heap
        return len(heap)

    def gauges(self) -> Gauges:
        """The case gauges over every partition this worker owns, each judged by its own stream time."""
        open_cases = holds = due = overdue = 0
        for p, standing in self._standing.items():
            now = self.stream_time.get(p)
            for s in standing.values():
                if not s.in_custody:
                    continue
                open_cases += 1
                if now is None:
                    continue
                holds += s.hold_until is not None and s.hold_until > now
                if s.release_deadline is not None:
                    due += now <= s.release_deadline < now + HOUR
                    overdue += s.release_deadline < now
        return Gauges(open_cases, holds, due, overdue)

    def earliest_due(self) -> dict[int, datetime]:
        """The earliest pending deadline of each partition that has one (possibly one already fired)."""
        return {p: heap[0][0] for p, heap in self._heaps.items() if heap}

    def pending(self, partition: int) -> int:
        """Deadlines pending on a partition."""
        return len(self._heaps.get(partition, ()))

    def handle(self, store: Store, coordinates: Coordinates, key: bytes | None, value: bytes | None,
               headers: Headers, now: datetime) -> Result:
        """One message: decode, fire what is due by its time, apply it, encode the outputs (decided at `now`).

        Messages come in event-time order across a partition's topics (`streams.scheduling` merges them), so a
        partition's stream time is the latest event or tick time seen. A message that cannot be read becomes a
        dead letter. The store is only read: the new states are in `Result.writes`, for the caller to store
        after it has sent the outputs, so that a crash can repeat an output but never record a state whose
        outputs were not sent.
        """
        decoded = self.codec.decode(value, headers, coordinates, key)
        if isinstance(decoded, DeadLetter):
            record = decoded.to_record(self.source, now)
            return Result([self.codec.encode("DeadLetter", record, validate=False)], dead_letter=decoded)
        event = ev.from_record(decoded.type_name, decoded.record)
        result = Result(event_type=decoded.type_name, event=event)
        self._step(store, coordinates.partition, event, result)
        for output, at in zip(result.outputs, result.decided, strict=True):
            result.messages.append(self.codec.encode(output.type_name, output.to_record(now), False, at))
        return result

    def _step(self, store: Store, p: int, event: ev.Event, result: Result) -> None:
        self._heaps.setdefault(p, [])
        if p not in self.stream_time or event.occurred_at > self.stream_time[p]:
            self.stream_time[p] = event.occurred_at
        self._fire_due(store, p, result)
        if isinstance(event, ev.BookingEvent):
            self._apply(store, p, event, result)
            self._fire_due(store, p, result)  # what the event set that is due already (a release due at once)

    def _case(self, store: Store, booking_id: str, result: Result) -> tuple[cases.Case, tuple[Deadline, ...]]:
        key = booking_id.encode()
        raw = result.writes.get(key) or store.get(key)
        return load(raw) if raw is not None else (cases.new_case(booking_id, self.state), ())

    def _save(self, result: Result, p: int, step: cases.Transition, pending: tuple[Deadline, ...]) -> None:
        self._standing.setdefault(p, {})[step.case.booking_id] = Standing.of(step.case)
        result.counties[step.case.booking_id] = step.case.facts.county or "unknown"
        for deadline in step.deadlines:
            heapq.heappush(self._heaps[p], (deadline.due_at, next(self._seq), deadline))
        result.writes[step.case.booking_id.encode()] = dump(step.case, pending + step.deadlines)

    def _apply(self, store: Store, p: int, event: ev.BookingEvent, result: Result) -> None:
        case, pending = self._case(store, event.booking_id, result)
        step = cases.apply(self.book, case, event)
        if step.case is case:
            return  # a duplicate: nothing changed, nothing to store
        if case.left_custody is None and step.case.left_custody is not None and case.release_deadline is not None:
            grace = timedelta(minutes=self.book.overdue_grace_minutes)
            result.left_late[case.booking_id] = event.occurred_at > case.release_deadline + grace
        result.outputs.extend(step.outputs)
        result.decided.extend(event.occurred_at for _ in step.outputs)
        self._save(result, p, step, pending)

    def _fire_due(self, store: Store, p: int, result: Result) -> None:
        heap, now = self._heaps[p], self.stream_time[p]
        while heap and heap[0][0] <= now:
            _, _, deadline = heapq.heappop(heap)
            case, pending = self._case(store, deadline.booking_id, result)
            if deadline not in pending:
                continue  # already fired before a restart replayed it into the heap
            step = cases.fire(self.book, case, deadline)
            result.outputs.extend(step.outputs)
            result.decided.extend(deadline.due_at for _ in step.outputs)
            result.fired.extend(step.outputs)
            self._save(result, p, step, tuple(d for d in pending if d != deadline))
