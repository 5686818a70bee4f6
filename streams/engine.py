"""The one engine for time, pure: the deadline queue, the order of what happens at one instant, and the step.

`decide`, replay and the live worker all drive bookings through `Engine`; nothing else keeps deadlines or
stream time. The contract it keeps:

- **A booking's outputs depend only on its own events, the rule book and how far time has advanced.** Each
  booking's events and deadlines are taken in one order, `key`: by instant, then by legal meaning at the same
  instant (`SAME_INSTANT_ORDER`), then by event id. For every arrival order the outputs net of corrections are
  `decide`'s for the same events, decided up to the same time.
- **Time advances by position.** An event at instant t moves its partition to t: other bookings' deadlines before
  t fire, its own booking's deadlines are ordered around it by meaning. A clock tick at T completes instant T:
  every deadline due at or before T fires.
- **A booking's time is its own.** An event more than `settle` behind its partition's time (history loaded
  late, a backlog after an outage) puts its booking in catch-up: its deadlines fire only as far as its own events
  go, until its partition's time has run `settle` past the last such arrival. So a booking loaded years late
  gets exactly `decide`'s outputs, and its deadlines never fire ahead of its own later events.
- **Late events are corrected.** An event that sorts before something already decided for its booking is put
  in its place: the booking is decided again from all its events up to where it had been decided, outputs that
  no longer follow are superseded by one `Correction` naming them, the late event and the rule, and outputs that
  now follow and were not sent are sent.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from streams import cases
from streams import events as ev
from streams.cases.state import ELIGIBLE, HOLD_END, OVERDUE, evolve
from streams.decisions import Deadline, Emitter, Output
from streams.law.regimes import regime_at
from streams.law.rulebook import RuleBook

#: What happens at one instant, in the order the law takes it. Facts about the person and the charges come
#: first, since every decision at that instant rests on them; then legal process and requests; then officers'
#: presence, so that ICE arriving at the moment of release is there when the release moment is decided; then
#: the release falling due and the release moment itself (eligibility and hold ends, which are deadlines); then
#: the person leaving custody, after the directive that lets them leave; then the overdue check, so that leaving
#: exactly at the end of the grace is not late; last the clock, which completes the instant.
SAME_INSTANT_ORDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("facts", ("BookingRecorded", "ChargesAmended", "CriminalHistoryRecorded", "ConvictionRecorded",
               "ProbableCauseFound", "ChargeDismissed", "CitizenshipVerified", "FingerprintsSubmitted",
               "MatchReceived", "AgencyAgreementRecorded")),
    ("legal process", ("JudicialWarrantIssued", "CustodyBasisRecorded", "DetainerLodged", "DetainerAmended",
                       "DetainerLifted")),
    ("requests", ("IceInquiryReceived", "InterviewRequested", "ReleaseInfoShared", "CletsQueryMade")),
    ("officers present", ("IceArrived",)),
    ("release falls due", ("ReleaseBecameDue",)),
    ("release moment", (ELIGIBLE, HOLD_END)),
    ("leaving custody", ("Released", "Transferred")),
    ("overdue check", (OVERDUE,)),
    ("clock", ("ClockTicked",)),
)
PHASE: dict[str, int] = {name: i for i, (_, names) in enumerate(SAME_INSTANT_ORDER) for name in names}
CLOCK_PHASE = PHASE["ClockTicked"]
#: how far behind its partition an event must be for its booking to catch up on its own time
SETTLE = timedelta(minutes=5)
CORRECTION = "Correction"
CORRECTION_RULE = "correction.late-event"

#: a place in time: instant, phase at that instant, tie-break (event id, or the deadline's kind and generation)
Position = tuple[datetime, int, str]


def key(event: ev.Event) -> Position:
    """An event's place in time."""
    return event.occurred_at, PHASE[type(event).__name__], event.event_id


def deadline_key(deadline: Deadline) -> Position:
    """A deadline's place in time: after every event of its phase's predecessors at its instant."""
    return deadline.due_at, PHASE[deadline.kind], f"\uffff{deadline.kind}{deadline.generation:09d}"


def order(events: Iterable[ev.Event]) -> list[ev.Event]:
    """Events in the engine's order: by instant, then by meaning, then by id (never by file or topic order)."""
    return sorted(events, key=key)


def end_of(instant: datetime) -> Position:
    """The position that completes an instant: everything at or before it."""
    return instant, CLOCK_PHASE + 1, ""


def start_of(instant: datetime) -> Position:
    """The position before everything at an instant."""
    return instant, -1, ""


@dataclass(frozen=True, slots=True)
class Stamped:
    """One output with the stream instant it was decided at (its event's time, or its deadline's)."""

    output: Output
    at: datetime
    fired: bool = False


@dataclass(frozen=True)
class Booking:
    """The engine's state of one booking: its case, pending deadlines, events, live outputs, how far decided."""

    case: cases.Case
    pending: tuple[Deadline, ...] = ()
    events: tuple[ev.BookingEvent, ...] = ()
    #: ids of the outputs sent for the booking and not superseded
    live: tuple[str, ...] = ()
    through: Position | None = None
    #: while set, deadlines past the booking's own latest event wait until the partition's time reaches it
    settle_at: datetime | None = None
    #: when the person left custody and the release deadline then in force, when one was
    departed: tuple[datetime, datetime] | None = None

    @property
    def latest(self) -> datetime | None:
        """The instant of the booking's latest event."""
        return self.events[-1].occurred_at if self.events else None

    def may_fire(self, deadline: Deadline, bound: Position, own: bool) -> bool:
        """True when the deadline is at or before `bound` and the booking's own time lets it fire.

        `own` says `bound` is one of the booking's own events, which always moves its own time.
        """
        if deadline_key(deadline) > bound:
            return False
        if own or self.settle_at is None or self.latest is None or deadline.due_at <= self.latest:
            return True
        return bound >= start_of(self.settle_at)

    def wake(self) -> Position | None:
        """The earliest position at which a pending deadline may fire, or None."""
        if not self.pending:
            return None
        first = min(self.pending, key=deadline_key)
        at = deadline_key(first)
        if self.settle_at is not None and self.latest is not None and first.due_at > self.latest:
            at = max(at, start_of(self.settle_at))
        return at


@dataclass(frozen=True)
class Change:
    """What one booking became, and what it emitted, in order."""

    booking: Booking
    outputs: tuple[Stamped, ...] = ()
    #: the event that sorted before what had been decided and made the booking be decided again
    late: ev.BookingEvent | None = None


Lookup = Callable[[str], "Booking | None"]


class Engine:
    """Time for a set of bookings: one partition of the worker, or a whole `decide` run.

    The caller keeps the bookings (a dict, a Faust table) and stores every `Change.booking` it is given; the
    engine keeps only the partition's position and the queue of when each booking next wakes.
    """

    def __init__(self, book: RuleBook, state: str = "CA", county: str | None = None,
                 settle: timedelta = SETTLE) -> None:
        """Bind the rule book and the jurisdiction of bookings whose booking record is not seen."""
        self.book, self.state, self.county, self.settle = book, state, county, settle
        self.position: Position | None = None
        self._queue: list[tuple[Position, int, str]] = []
        self._seq = itertools.count()

    @property
    def time(self) -> datetime | None:
        """How far time has advanced here: the latest event or tick instant."""
        return self.position[0] if self.position else None

    def new_booking(self, booking_id: str) -> Booking:
        """An unseen booking, in the default jurisdiction until its booking record tells the real one."""
        return Booking(cases.new_case(booking_id, self.state, self.county))

    def load(self, bookings: Iterable[tuple[str, Booking]]) -> int:
        """Rebuild the queue from stored bookings (a partition assigned again); returns how many wait."""
        self._queue = []
        for booking_id, booking in bookings:
            wake = booking.wake()
            if wake is not None:
                self._queue.append((wake, next(self._seq), booking_id))
        heapq.heapify(self._queue)
        return len(self._queue)

    def earliest(self) -> datetime | None:
        """The instant of the earliest wake in the queue (possibly of a booking that changed since)."""
        return self._queue[0][0][0] if self._queue else None

    def queued(self) -> int:
        """Entries in the queue (stale ones included)."""
        return len(self._queue)

    def tick(self, at: datetime, lookup: Lookup) -> list[Change]:
        """A clock tick: instant `at` is complete; every deadline due by then that may fire fires."""
        return self._advance(end_of(at), lookup)

    def take(self, event: ev.Event, lookup: Lookup) -> list[Change]:
        """One event: what is due before it fires, then it is applied to its booking in its place in time."""
        here = key(event)
        before = self.position
        changes = self._advance(start_of(event.occurred_at), lookup)
        if not isinstance(event, ev.BookingEvent):
            self._move(here)
            return changes
        touched = {c.booking.case.booking_id: c for c in changes}
        prior = touched.get(event.booking_id)
        booking = prior.booking if prior else lookup(event.booking_id) or self.new_booking(event.booking_id)
        change = self._apply(booking, event, before)
        self._move(here)
        if change is None:
            return changes
        if prior is not None:
            changes.remove(prior)
            change = Change(change.booking, prior.outputs + change.outputs, change.late)
        self._enqueue(change.booking)
        return [*changes, change]

    def _move(self, position: Position) -> None:
        if self.position is None or position > self.position:
            self.position = position

    def _enqueue(self, booking: Booking) -> None:
        wake = booking.wake()
        if wake is not None:
            heapq.heappush(self._queue, (wake, next(self._seq), booking.case.booking_id))

    def _advance(self, bound: Position, lookup: Lookup) -> list[Change]:
        changes: dict[str, Change] = {}
        while self._queue and self._queue[0][0] <= bound:
            wake, _, booking_id = heapq.heappop(self._queue)
            prior = changes.get(booking_id)
            booking = prior.booking if prior else lookup(booking_id)
            if booking is None or booking.wake() != wake:
                continue  # the booking changed since: its current wake is queued too
            booking, outputs = self._fire(booking, bound, [], own=False)
            changes[booking_id] = Change(booking, (prior.outputs if prior else ()) + tuple(outputs))
            self._enqueue(booking)
        self._move(bound)
        return list(changes.values())

    def _apply(self, booking: Booking, event: ev.BookingEvent, before: Position | None) -> Change | None:
        if any(e.event_id == event.event_id for e in booking.events):
            return None  # a duplicate changes nothing
        here = key(event)
        behind = before is not None and before[0] - event.occurred_at > self.settle
        settle_at = before[0] + self.settle if behind and before is not None else None
        if booking.through is not None and here <= booking.through:
            change = self._redecide(booking, event, settle_at if behind else booking.settle_at)
            booking, outputs = change.booking, list(change.outputs)
        else:
            booking, outputs = self._run(evolve(booking, settle_at=settle_at), event, [])
            change = None
        if not behind and before is not None and before > here:
            booking, outputs = self._fire(booking, before, outputs, own=False)  # where the partition's time is
        return Change(booking, tuple(outputs), change.late if change else None)

    def _run(self, booking: Booking, event: ev.BookingEvent, outputs: list[Stamped]) -> tuple[Booking, list]:
        """The booking's deadlines before the event, the event, and what it set that is due at once."""
        here = key(event)
        booking, outputs = self._fire(booking, here, outputs, own=True)
        booking, outputs = self._step(booking, event, outputs)
        return self._fire(booking, here, outputs, own=True)

    def _step(self, booking: Booking, event: ev.BookingEvent, outputs: list[Stamped]) -> tuple[Booking, list]:
        step = cases.apply(self.book, booking.case, event)
        if step.case.left_custody and not booking.case.left_custody and booking.case.release_deadline:
            booking = evolve(booking, departed=(event.occurred_at, booking.case.release_deadline))
        events = booking.events + (event,)
        if booking.events and key(booking.events[-1]) > key(event):
            events = tuple(order(events))
        outputs += [Stamped(o, event.occurred_at) for o in step.outputs]
        booking = evolve(booking, case=step.case, events=events, live=booking.live + _ids(step.outputs),
                         pending=_pending(step.case, booking.pending + step.deadlines),
                         through=max(booking.through, key(event)) if booking.through else key(event))
        return booking, outputs

    def _fire(self, booking: Booking, bound: Position, outputs: list[Stamped],
              own: bool) -> tuple[Booking, list[Stamped]]:
        """Fire, in order, the booking's deadlines that may fire by `bound` (no deadline sits at an event's place)."""
        while booking.pending:
            deadline = min(booking.pending, key=deadline_key)
            place = deadline_key(deadline)
            if not booking.may_fire(deadline, bound, own):
                break
            step = cases.fire(self.book, booking.case, deadline)
            outputs += [Stamped(o, deadline.due_at, True) for o in step.outputs]
            rest = tuple(d for d in booking.pending if d != deadline)
            booking = evolve(booking, case=step.case, live=booking.live + _ids(step.outputs),
                             pending=_pending(step.case, rest + step.deadlines),
                             through=max(booking.through, place) if booking.through else place)
        return booking, outputs

    def _redecide(self, booking: Booking, late: ev.BookingEvent, settle_at: datetime | None) -> Change:
        """Decide the booking again from all its events, up to where it had been decided; correct the difference."""
        assert booking.through is not None
        fresh, outputs = self.new_booking(booking.case.booking_id), []
        for event in order((*booking.events, late)):
            fresh, outputs = self._run(fresh, event, outputs)
        fresh, outputs = self._fire(fresh, booking.through, outputs, own=True)
        fresh = evolve(fresh, through=max(booking.through, fresh.through), settle_at=settle_at)
        sent, now = set(booking.live), {s.output.output_id for s in outputs}
        superseded = tuple(i for i in booking.live if i not in now)
        emitted = [s for s in outputs if s.output.output_id not in sent]
        if superseded:
            emitted.insert(0, Stamped(self._correction(fresh, late, superseded), late.occurred_at))
        return Change(fresh, tuple(emitted), late)

    def _correction(self, booking: Booking, late: ev.BookingEvent, superseded: tuple[str, ...]) -> Output:
        at = late.occurred_at
        regime = regime_at(self.book, booking.case.facts.state, at).id
        reason = (f"{type(late).__name__} {late.event_id} occurred {at.isoformat()}, before what had been decided: "
                  f"{len(superseded)} output(s) no longer follow from the booking's events")
        return Emitter(self.book, booking.case.booking_id).correction(at, regime, CORRECTION_RULE, (late.event_id,),
                                                                     superseded, reason)


def _ids(outputs: tuple[Output, ...]) -> tuple[str, ...]:
    return tuple(o.output_id for o in outputs)


def _pending(case: cases.Case, deadlines: tuple[Deadline, ...]) -> tuple[Deadline, ...]:
    """The deadlines that can still do something: of the case's current generation, while in custody."""
    if case.left_custody is not None:
        return ()
    return tuple(d for d in deadlines if d.generation == case.generation)
