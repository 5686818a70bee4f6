"""The case processor's step, independent of Faust: one raw message in, encoded outputs out, state updated.

Time is the engine's (`streams.core.engine`): one `Engine` per partition this worker owns keeps the partition's
position and the queue of bookings waiting for a deadline; each booking's state (its case, pending deadlines,
events and live outputs) is in the store (the Faust table), from which a partition's queue is rebuilt when it
is (re)assigned. A clock tick completes its instant; an event is taken in its place in time, and one that sorts
before what its booking had been decided becomes a correction. An event from beyond the wall clock plus the
tolerance is a dead letter: one wrong clock must never move anyone's deadlines.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.config import REPO_ROOT
from streams.core import admission, cases, engine
from streams.core import events as ev
from streams.core.decisions import Output
from streams.core.law.rulebook import RuleBook
from streams.wire.codec import Codec, Coordinates, DeadLetter, Encoded, Headers, headers_dict
from streams.wire.schemas import SchemaRegistry
from streams.wire.state import StateCodec
from streams.wire.topics import partition_of

#: bookings kept decoded per partition, the most recently used: a live booking's next event skips decoding its state
CACHED_PER_PARTITION = 5_000
HOUR = timedelta(hours=1)
#: how far past the worker's wall clock an event may be and still be taken (clocks drift; jail systems stamp late)
FUTURE_TOLERANCE = timedelta(minutes=5)
#: the earliest occurred_at taken (DT_EARLIEST_EVENT's default)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: the largest output message sent; the broker's default limit is 1 MiB
MAX_OUTPUT_BYTES = 512 * 1024
log = logging.getLogger(__name__)
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
    #: bookings decided again because a late event sorted before what had been decided
    redecided: list[str] = field(default_factory=list)
    #: bookings an event or deadline of which could not be decided, and why (each has a review output)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Standing:
    """What the gauges need of one case: in custody or not, and the instants that matter."""

    in_custody: bool
    hold_until: datetime | None
    release_deadline: datetime | None
    #: the county of its booking record ("unknown" before one is seen)
    county: str = "unknown"

    @classmethod
    def of(cls, case: cases.Case) -> Standing:
        """The standing of a case."""
        return cls(case.left_custody is None, case.hold_until, case.release_deadline, case.facts.county or "unknown")


@dataclass(frozen=True)
class Gauges:
    """Cases in custody, holds in force, releases due within the hour and overdue, each by its partition's time."""

    open_cases: int = 0
    active_holds: int = 0
    releases_due_next_hour: int = 0
    releases_overdue: int = 0
    #: the same four by county: (open cases, holds in force, releases due within the hour, releases overdue)
    by_county: Mapping[str, tuple[int, int, int, int]] = field(default_factory=dict)


_STATES: StateCodec | None = None


def _states() -> StateCodec:
    global _STATES
    if _STATES is None:
        _STATES = StateCodec(SchemaRegistry(REPO_ROOT / "schemas"))
    return _STATES


def dump(booking: engine.Booking) -> bytes:
    """A booking's engine state as table bytes: its `CaseState` record (`streams.wire.state`)."""
    return _states().dump(booking)


def load(raw: bytes) -> engine.Booking:
    """The inverse of dump; reads every `CaseState` version, and the pickle of the release before."""
    return _states().load(raw)


class _Decoded:
    """The bookings of one partition most recently read or written, decoded, each with the bytes it came from.

    One is used only while the store still holds exactly those bytes, so it can never be staler than the store.
    """

    def __init__(self, size: int, load: Callable[[bytes], engine.Booking]) -> None:
        self.size, self.load = size, load
        self._items: OrderedDict[bytes, tuple[bytes, engine.Booking]] = OrderedDict()

    def get(self, key: bytes, raw: bytes) -> engine.Booking:
        held = self._items.get(key)
        if held is not None and (held[0] is raw or held[0] == raw):
            self._items.move_to_end(key)
            return held[1]
        booking = self.load(raw)
        self.put(key, raw, booking)
        return booking

    def put(self, key: bytes, raw: bytes, booking: engine.Booking) -> None:
        self._items[key] = (raw, booking)
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)


class CaseWork:
    """The engines and case standings of the partitions this worker owns."""

    def __init__(self, book: RuleBook, codec: Codec, source: str, state: str | None = None,
                 settle: timedelta = engine.SETTLE, future_tolerance: timedelta = FUTURE_TOLERANCE,
                 earliest: datetime = EARLIEST, partitions: int | None = None) -> None:
        """Bind the rule book, the codec, the name written into dead letters and the engine's settings.

        `partitions`, when given, is the case topics' partition count: an event on another partition than its
        key's is refused.
        """
        self.book, self.codec, self.source, self.state = book, codec, source, state
        self.settle, self.future_tolerance, self.earliest = settle, future_tolerance, earliest
        self.partitions = partitions
        self.states = StateCodec(codec.registry)
        self._engines: dict[int, engine.Engine] = {}
        self._standing: dict[int, dict[str, Standing]] = {}
        self._decoded: dict[int, _Decoded] = {}

    @property
    def stream_time(self) -> dict[int, datetime]:
        """How far time has advanced on each partition."""
        return {p: e.time for p, e in self._engines.items() if e.time is not None}

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop in-memory state of partitions this worker no longer owns (rebuilt if they come back)."""
        for p in partitions:
            self._engines.pop(p, None)
            self._standing.pop(p, None)
            self._decoded.pop(p, None)

    def partitions_owned(self) -> int:
        """How many partitions' queues are loaded."""
        return len(self._engines)

    def has_partition(self, partition: int) -> bool:
        """True when the partition's queue is loaded."""
        return partition in self._engines

    def _engine(self, partition: int) -> engine.Engine:
        if partition not in self._engines:
            self._engines[partition] = engine.Engine(self.book, self.state, settle=self.settle)
        return self._engines[partition]

    def load_partition(self, partition: int, items: Iterable[tuple[bytes, bytes]]) -> int:
        """Rebuild a partition's queue from its bookings in the store; returns how many wait for a deadline."""
        standing = self._standing.setdefault(partition, {})
        bookings = []
        for key, raw in items:
            booking = self.states.load(raw)
            bookings.append((key.decode(), booking))
            standing[key.decode()] = Standing.of(booking.case)
        return self._engine(partition).load(bookings)

    def gauges(self) -> Gauges:
        """The case gauges over every partition this worker owns, each judged by its own stream time."""
        counts: dict[str, list[int]] = {}
        times = self.stream_time
        for p, standing in self._standing.items():
            now = times.get(p)
            for s in standing.values():
                if not s.in_custody:
                    continue
                county = counts.setdefault(s.county, [0, 0, 0, 0])
                county[0] += 1
                if now is None:
                    continue
                county[1] += s.hold_until is not None and s.hold_until > now
                if s.release_deadline is not None:
                    county[2] += now <= s.release_deadline < now + HOUR
                    county[3] += s.release_deadline < now
        totals = [sum(c[i] for c in counts.values()) for i in range(4)]
        return Gauges(*totals, by_county={k: (v[0], v[1], v[2], v[3]) for k, v in counts.items()})

    def earliest_due(self) -> dict[int, datetime]:
        """The earliest wake of each partition that has one (possibly of a booking that changed since)."""
        return {p: at for p, e in self._engines.items() if (at := e.earliest()) is not None}

    def earliest_due_on(self, partition: int) -> datetime | None:
        """The earliest wake of one partition, or None (see `earliest_due`)."""
        e = self._engines.get(partition)
        return e.earliest() if e else None

    def pending(self, partition: int) -> int:
        """Bookings waiting for a deadline on a partition (stale entries included)."""
        e = self._engines.get(partition)
        return e.queued() if e else 0

    def handle(self, store: Store, coordinates: Coordinates, key: bytes | None, value: bytes | None,
               headers: Headers, now: datetime) -> Result:
        """One message: admit it, take it in its place in time, encode the outputs (decided at `now`). Never raises.

        A message that cannot be read, that is larger than an event can be, whose key is not its booking, whose
        instants lie outside what history and the clock allow (`streams.core.admission`) becomes a dead letter. So does
        one whose deciding failed, in the engine or here: its booking gets a review decision, and this step
        changes nothing else (the engine's queue is as before it). The store is only read: the new states are in
        `Result.writes`, for the caller to store after it has sent the outputs, so that a crash can repeat an
        output but never record a state whose outputs were not sent.
        """
        p, booking_id, took = coordinates.partition, None, False
        try:
            admission.check_size(value)
            decoded = self.codec.decode(value, headers, coordinates, key)
            if isinstance(decoded, DeadLetter):
                return self._dead(decoded, now)
            record = decoded.record
            booking_id = record.get("booking_id") if isinstance(record.get("booking_id"), str) else None
            self._check_partition(coordinates.topic, key, p)
            admission.TimeWindow.around(now, self.earliest, self.future_tolerance).check(record)
            admission.check_fields(record)
            record = admission.check_jurisdiction(decoded.type_name, record, self.book.places) or record
            event = ev.from_record(decoded.type_name, record)
            result = Result(event_type=decoded.type_name, event=event)
            took = True
            self._step(store, p, event, result)
            for output, at in zip(result.outputs, result.decided, strict=True):
                message = self.codec.encode(output.type_name, output.to_record(now), False, at)
                if len(message.value) > MAX_OUTPUT_BYTES:
                    raise ValueError(f"{output.type_name} {output.output_id} would be {len(message.value):,} bytes, "
                                     f"more than the {MAX_OUTPUT_BYTES:,} an output may be")
                result.messages.append(message)
            failed = result.failed.get(booking_id) if booking_id and isinstance(event, ev.BookingEvent) else None
            if failed is not None:
                result.dead_letter = letter_for("PROCESSING_FAILED", f"{decoded.type_name} could not be decided: "
                                                  f"{failed}; its booking is marked for review", coordinates, key,
                                                  value, headers, booking_id)
                result.messages.append(self._encode_dead(result.dead_letter, now))
            return result
        except admission.Refused as refused:
            return self._dead(letter_for(refused.code, refused.reason, coordinates, key, value, headers,
                                           booking_id), now)
        except Exception as exc:  # noqa: BLE001 - whatever fails, the input is kept and the partition goes on
            if took:
                self._engine(p).undo()
            return self._failed_step(store, p, exc, coordinates, key, value, headers, booking_id, now)

    def _failed_step(self, store: Store, p: int, exc: Exception, coordinates: Coordinates, key: bytes | None,
                     value: bytes | None, headers: Headers, booking_id: str | None, now: datetime) -> Result:
        """A dead letter for an input whose deciding failed outside the engine, and its booking's review."""
        why = f"{type(exc).__name__}: {exc}"
        letter = letter_for("PROCESSING_FAILED", f"the message could not be decided ({why})"
                              + ("; its booking is marked for review" if booking_id else ""), coordinates, key,
                              value, headers, booking_id)
        result = self._dead(letter, now)
        if booking_id is None:
            return result
        try:
            raw = store.get(booking_id.encode())
            booking = self.states.load(raw) if raw is not None else self._engine(p).new_booking(booking_id)
            at = min(now, booking.through[0]) if booking.through else now
            review = self._engine(p).review(booking, at, f"the message at {coordinates.topic}:{p}:"
                                            f"{coordinates.offset}", (), exc)
            result.messages.insert(0, self.codec.encode(review.type_name, review.to_record(now), False, at))
            result.outputs.append(review)
            result.decided.append(at)
        except Exception:  # noqa: BLE001 - the dead letter alone still keeps the input
            log.exception("no review output for booking %s", booking_id)
        return result

    def _check_partition(self, topic: str, key: bytes | None, partition: int) -> None:
        """An event on another partition than its booking's is refused: its booking's case would never see it.

        (The clock's ticks are written to each partition by number, whatever their key.)
        """
        spec = self.codec.topics.by_name(topic)
        if self.partitions and key is not None and spec is not None and spec.spec.key_field == "booking_id":
            expected = partition_of(key, self.partitions)
            if expected != partition:
                raise admission.Refused("KEY_MISMATCH", f"the message is on partition {partition}, but its key "
                                                        f"belongs on partition {expected} of {self.partitions}: "
                                                        "its booking's case would never see it")

    def _encode_dead(self, letter: DeadLetter, now: datetime) -> Encoded:
        return self.codec.encode("DeadLetter", letter.to_record(self.source, now), validate=False)

    def _dead(self, letter: DeadLetter, now: datetime) -> Result:
        return dead_letter_result(self.codec, self.source, letter, now)


    def _step(self, store: Store, p: int, event: ev.Event, result: Result) -> None:
        decoded = self._decoded_of(p)

        def lookup(booking_id: str) -> engine.Booking | None:
            key = booking_id.encode()
            raw = result.writes.get(key) or store.get(key)
            return decoded.get(key, raw) if raw is not None else None

        work = self._engine(p)
        changes = work.tick(event.occurred_at, lookup) if isinstance(event, ev.ClockTicked) else work.take(event,
                                                                                                           lookup)
        for change in changes:
            self._save(result, p, change)

    def _save(self, result: Result, p: int, change: engine.Change) -> None:
        case = change.booking.case
        self._standing.setdefault(p, {})[case.booking_id] = Standing.of(case)
        result.counties[case.booking_id] = case.facts.county or "unknown"
        if change.failed is not None:
            result.failed[case.booking_id] = change.failed
            log.error("booking %s: %s; a review decision is sent", case.booking_id, change.failed)
        if change.late is not None:
            result.redecided.append(case.booking_id)
        elif change.booking.departed and _departs(result.event, change.booking):
            left, deadline = change.booking.departed
            result.left_late[case.booking_id] = left > deadline + timedelta(minutes=self.book.overdue_grace_minutes)
        for stamped in change.outputs:
            result.outputs.append(stamped.output)
            result.decided.append(stamped.at)
            if stamped.fired:
                result.fired.append(stamped.output)
        key, raw = case.booking_id.encode(), self.states.dump(change.booking)
        result.writes[key] = raw
        self._decoded_of(p).put(key, raw, change.booking)

    def _decoded_of(self, p: int) -> _Decoded:
        if p not in self._decoded:
            self._decoded[p] = _Decoded(CACHED_PER_PARTITION, self.states.load)
        return self._decoded[p]


def dead_letter_result(codec: Codec, source: str, letter: DeadLetter, now: datetime) -> Result:
    """A step whose only message is a dead letter."""
    return Result([codec.encode("DeadLetter", letter.to_record(source, now), validate=False)], dead_letter=letter)


def letter_for(code: str, reason: str, coordinates: Coordinates, key: bytes | None, value: bytes | None,
               headers: Headers, booking_id: str | None = None) -> DeadLetter:
    """A dead letter for a message refused after it was decoded."""
    return DeadLetter(code, reason, coordinates, key, value, headers_dict(headers), None, booking_id)

def _departs(event: ev.Event | None, booking: engine.Booking) -> bool:
    """True when the event is the one by which the booking left custody."""
    case = booking.case
    return (isinstance(event, ev.Released | ev.Transferred) and case.left_custody is not None
            and case.left_custody[1] == event.event_id)
