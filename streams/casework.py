"""The case processor's step, independent of Faust: one raw message in, encoded outputs out, state updated.

Per partition it keeps stream time (the latest event or tick time seen) and a heap of pending deadlines. Before
an event is applied, every deadline due at or before the partition's stream time fires, in the same step, so
its outputs join the same commit as the input. The durable state is the store (the Faust table): each
booking's case with its pending deadlines; the heaps are rebuilt from it when a partition is (re)assigned.
"""

from __future__ import annotations

import heapq
import itertools
import pickle
from collections.abc import Collection, Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from streams import cases
from streams import events as ev
from streams.codec import Codec, Coordinates, DeadLetter, Encoded, Headers
from streams.decisions import Deadline, Output
from streams.law.rulebook import RuleBook

STATE_VERSION = 1
HOUR = timedelta(hours=1)
#: the time of a topic-partition that has unread messages but none read yet: holds stream time back
NEVER = datetime.min.replace(tzinfo=UTC)
#: events held back on one partition, or for how long, before the oldest goes through regardless
MAX_HELD = 50_000
MAX_WAIT = timedelta(seconds=10)
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
    #: states written by earlier results of the same batch, not yet in the store
    overlay: dict[bytes, bytes] = field(default_factory=dict, repr=False)
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
        self._seen: dict[tuple[str, int], datetime] = {}
        self._held: dict[int, list[tuple[datetime, int, ev.Event, str, Any, datetime]]] = {}
        self._seq = itertools.count()

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop in-memory state of partitions this worker no longer owns (rebuilt if they come back)."""
        for p in partitions:
            self._heaps.pop(p, None)
            self._standing.pop(p, None)
            self.stream_time.pop(p, None)
            self._held.pop(p, None)  # never acknowledged: the partition's next owner reads them again
            for key in [k for k in self._seen if k[1] == p]:
                del self._seen[key]

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

    def pending(self, partition: int) -> int:
        """Deadlines pending on a partition."""
        return len(self._heaps.get(partition, ()))

    def handle(self, store: Store, coordinates: Coordinates, key: bytes | None, value: bytes | None,
               headers: Headers, now: datetime) -> Result:
        """One message, when nothing else is being read: decode, fire what is due, apply, encode (see `receive`)."""
        ((_, result),) = self.receive(store, coordinates, key, value, headers, now)
        return result

    def receive(self, store: Store, coordinates: Coordinates, key: bytes | None, value: bytes | None,
                headers: Headers, now: datetime, lagging: Collection[str] = (),
                token: Any = None) -> list[tuple[Any, Result]]:
        """Take one message; return the (token, result) of every event this lets through, in event-time order.

        Kafka keeps order within a topic-partition only. A worker reading a backlog (after an outage, say) gets
        the topics of a partition in no particular order: a tick written an hour ago, or a court event, can come
        long before the earlier bookings of the same partition. `lagging` names the topics whose partition (this
        one) still holds messages the caller has not handed in; an event is held until every lagging topic has
        been read up to its time, then applied in event-time order, with the deadlines due before it fired first,
        as `decide` does. When nothing lags (live), the event goes through at once. Ticks are held like events, but
        the clock never holds anything back: its ticks are wall-clock time, and events may be stamped ahead of it
        (a simulation, a jail system's clock); so callers leave the clock out of `lagging`. A message that cannot
        be read becomes a dead letter at once. Held events are not acknowledged by the caller until they come back
        with their `token`, so a crash loses none of them. More than MAX_HELD held on a partition, or one held
        longer than MAX_WAIT (wall clock, `now`): the oldest goes through anyway (a stalled topic must not stop
        every release).

        The Faust worker hands messages in as it reads them and names no lagging topics yet (README, "Order across
        topics"): it does not know reliably, at the moment a partition is assigned, where it starts on each topic.

        The store is only read: the new states are in each `Result.writes`, for the caller to store (in order)
        after it has sent that result's outputs, so that a crash can repeat an output but never record a state
        whose outputs were not sent.
        """
        decoded = self.codec.decode(value, headers, coordinates, key)
        if isinstance(decoded, DeadLetter):
            record = decoded.to_record(self.source, now)
            return [(token, Result([self.codec.encode("DeadLetter", record, validate=False)], dead_letter=decoded))]
        event = ev.from_record(decoded.type_name, decoded.record)
        p, topic = coordinates.partition, coordinates.topic
        if event.occurred_at > self._seen.get((topic, p), NEVER):
            self._seen[(topic, p)] = event.occurred_at
        held = self._held.setdefault(p, [])
        heapq.heappush(held, (event.occurred_at, next(self._seq), event, decoded.type_name, token, now))
        limit = min((self._seen.get((t, p), NEVER) for t in lagging), default=None)
        out: list[tuple[Any, Result]] = []
        overlay: dict[bytes, bytes] = {}
        while held and (limit is None or held[0][0] <= limit or len(held) > MAX_HELD or now - held[0][5] > MAX_WAIT):
            _, _, item, type_name, item_token, _ = heapq.heappop(held)
            result = Result(event_type=type_name, event=item)
            self._step(store, overlay, p, item, result)
            for output, at in zip(result.outputs, result.decided, strict=True):
                result.messages.append(self.codec.encode(output.type_name, output.to_record(now), False, at))
            overlay.update(result.writes)
            out.append((item_token, result))
        return out

    def held(self) -> int:
        """Events received and not yet let through, on every partition."""
        return sum(len(h) for h in self._held.values())

    def _step(self, store: Store, overlay: dict[bytes, bytes], p: int, event: ev.Event, result: Result) -> None:
        self._heaps.setdefault(p, [])
        if p not in self.stream_time or event.occurred_at > self.stream_time[p]:
            self.stream_time[p] = event.occurred_at
        result.overlay = overlay
        self._fire_due(store, p, result)
        if isinstance(event, ev.BookingEvent):
            self._apply(store, p, event, result)

    def _case(self, store: Store, booking_id: str, result: Result) -> tuple[cases.Case, tuple[Deadline, ...]]:
        key = booking_id.encode()
        raw = result.writes.get(key) or result.overlay.get(key) or store.get(key)
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
