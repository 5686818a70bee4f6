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
- **A booking's time is its own.** An event more than `settle` behind its partition's time (history loaded late, a
  backlog after an outage) puts a booking that nothing has been sent for in catch-up: its events are kept and
  nothing is decided or sent for it until its partition's time has run `settle` past the last such arrival (or a
  live event of it comes); then it is decided whole, up to the partition's time. So a booking loaded years late gets
  exactly `decide`'s outputs, whatever order its events arrived in, and its deadlines never fire ahead of its own
  later events.
- **One booking's failure stops no one.** An event or a deadline that the law's code cannot decide (an instant out
  of range, a bug) leaves its booking as it was, and gives one `REVIEW` decision with outcome `HUMAN_REVIEW` that
  names it and why; a deadline that cannot be decided leaves nothing pending for its booking, so the review is the
  booking's last word until a human acts. Every other booking goes on. The caller learns of it in `Change.failed`.
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
from typing import NamedTuple

from streams.core import cases
from streams.core import events as ev
from streams.core.cases.state import ELIGIBLE, HOLD_END, OVERDUE, UNRECORDED, evolve
from streams.core.decisions import Deadline, Emitter, Output
from streams.core.law.regimes import regime_at
from streams.core.law.rulebook import RuleBook

#: What happens at one instant, in the order the law takes it. Facts about the person and the charges come
#: first, since every decision at that instant rests on them; then legal process and requests; then officers'
#: presence (and the person's answer to a request to interview them, which follows the request), so that ICE
#: arriving at the moment of release is there when the release moment is decided; then
#: the release falling due and the release moment itself (eligibility and hold ends, which are deadlines); then
#: the person leaving custody, after the directive that lets them leave; then the overdue check, so that leaving
#: exactly at the end of the grace is not late; last the clock, which completes the instant.
SAME_INSTANT_ORDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("facts", ("BookingRecorded", "ChargesAmended", "CriminalHistoryRecorded", "ConvictionRecorded",
               "ProbableCauseFound", "ChargeDismissed", "CitizenshipVerified", "FingerprintsSubmitted",
               "MatchReceived", "AgencyAgreementRecorded")),
    ("legal process", ("JudicialWarrantIssued", "CustodyBasisRecorded", "DetainerLodged", "DetainerAmended",
                       "DetainerLifted")),
    ("requests", ("IceInquiryReceived", "OutOfCustodyInquiryReceived", "InterviewRequested", "ReleaseInfoShared",
                  "StatusQuestionAsked", "CletsQueryMade")),
    ("officers present", ("IceArrived", "InterviewConsentRecorded")),
    ("release falls due", ("ReleaseBecameDue",)),
    ("release moment", (ELIGIBLE, HOLD_END)),
    ("leaving custody", ("Released", "Transferred")),
    ("overdue check", (OVERDUE, UNRECORDED)),
    ("clock", ("ClockTicked",)),
)
PHASE: dict[str, int] = {name: i for i, (_, names) in enumerate(SAME_INSTANT_ORDER) for name in names}
CLOCK_PHASE = PHASE["ClockTicked"]
#: how far behind its partition an event must be for its booking to catch up on its own time (0: never)
SETTLE = timedelta(minutes=5)
CORRECTION = "Correction"
CORRECTION_RULE = "correction.late-event"
REVIEW_RULE = "review.undecidable"

#: a place in time: instant, phase at that instant, tie-break (event id, or the deadline's kind and generation)
Position = tuple[datetime, int, str]


_PHASE_OF: dict[type, int] = {cls: PHASE[name] for name, cls in ev.EVENT_TYPES.items()}


def key(event: ev.Event) -> Position:
    """An event's place in time."""
    return event.occurred_at, _PHASE_OF[type(event)], event.event_id


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


class Stamped(NamedTuple):
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
    #: while set, the booking is catching up (its events arrived behind its partition's time): it is decided
    #: whole, and what it decides is sent, when the partition's time reaches this instant or a live event comes
    settle_at: datetime | None = None
    #: the first event that arrived behind, the evidence of a correction its catching up may make
    caught_up_by: str | None = None
    #: when the person left custody and the release deadline then in force, when one was
    departed: tuple[datetime, datetime] | None = None

    def wake(self) -> Position | None:
        """The earliest position at which the booking has something to do, or None."""
        if self.settle_at is not None:
            return start_of(self.settle_at)
        if not self.pending:
            return None
        return min(deadline_key(d) for d in self.pending)


class Change(NamedTuple):
    """What one booking became, and what it emitted, in order."""

    booking: Booking
    outputs: tuple[Stamped, ...] = ()
    #: the event that sorted before what had been decided and made the booking be decided again
    late: ev.BookingEvent | None = None
    #: why the event or deadline could not be decided (the booking is as it was, but for its review output)
    failed: str | None = None


Lookup = Callable[[str], "Booking | None"]


class Engine:
    """Time for a set of bookings: one partition of the worker, or a whole `decide` run.

    The caller keeps the bookings (a dict, a Faust table) and stores every `Change.booking` it is given; the
    engine keeps only the partition's position and the queue of when each booking next wakes.
    """

    def __init__(self, book: RuleBook, state: str | None = None, county: str | None = None,
                 settle: timedelta = SETTLE) -> None:
        """Bind the rule book and the jurisdiction of bookings whose booking record is not seen."""
        self.book, self.state, self.county, self.settle = book, state, county, settle
        self.position: Position | None = None
        self._queue: list[tuple[Position, int, str]] = []
        self._seq = itertools.count()
        # what the last step took from the queue and where it started, so that `undo` can put them back
        self._popped: list[tuple[Position, int, str]] = []
        self._was: Position | None = None

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

    def undo(self) -> None:
        """Forget the last `take` or `tick`: its caller could not store what it changed.

        The queue and the position are as before it; what it queued anew is stale against the stored bookings,
        and skipped.
        """
        for entry in self._popped:
            heapq.heappush(self._queue, entry)
        self._popped, self.position = [], self._was

    def tick(self, at: datetime, lookup: Lookup) -> list[Change]:
        """A clock tick: instant `at` is complete; every deadline due by then that may fire fires."""
        self._popped, self._was = [], self.position
        return self._advance(end_of(at), lookup)

    def take(self, event: ev.Event, lookup: Lookup) -> list[Change]:
        """One event: what is due before it fires, then it is applied to its booking in its place in time."""
        here = key(event)
        before = self._was = self.position
        self._popped = []
        queue = self._queue
        changes = self._advance(start_of(event.occurred_at), lookup) if queue and queue[0][0] < here else []
        if before is None or here > before:
            self.position = here
        if not isinstance(event, ev.BookingEvent):
            return changes
        prior = None
        for c in changes:
            if c.booking.case.booking_id == event.booking_id:
                prior = c
        booking = prior.booking if prior else lookup(event.booking_id) or self.new_booking(event.booking_id)
        try:
            change = self._apply(booking, event, here, before)
        except Exception as exc:  # noqa: BLE001 - one booking's failure must not stop its partition
            change = self._failed(booking, event.occurred_at, f"{type(event).__name__} {event.event_id}",
                                  (event.event_id,), exc)
        if change is None:
            return changes
        if prior is not None:
            changes.remove(prior)
            change = Change(change.booking, prior.outputs + change.outputs, change.late)
        now = change.booking
        if now.pending is not booking.pending or now.settle_at != booking.settle_at:
            if now.wake() != booking.wake():  # the queue holds the old wake already; it goes stale
                self._enqueue(now)
        changes.append(change)
        return changes

    def _move(self, position: Position) -> None:
        if self.position is None or position > self.position:
            self.position = position

    def _enqueue(self, booking: Booking) -> None:
        wake = booking.wake()
        if wake is not None:
            heapq.heappush(self._queue, (wake, next(self._seq), booking.case.booking_id))

    def _advance(self, bound: Position, lookup: Lookup) -> list[Change]:
        if not self._queue or self._queue[0][0] > bound:
            self._move(bound)
            return []
        changes: dict[str, Change] = {}
        while self._queue and self._queue[0][0] <= bound:
            entry = heapq.heappop(self._queue)
            self._popped.append(entry)
            wake, _, booking_id = entry
            prior = changes.get(booking_id)
            booking = prior.booking if prior else lookup(booking_id)
            if booking is None or booking.wake() != wake:
                continue  # the booking changed since: its current wake is queued too
            try:
                if booking.settle_at is not None:
                    change = self._decide_again(booking, bound, self._caught_up_by(booking))
                else:
                    change = Change(*self._fire(booking, bound, []))
            except Exception as exc:  # noqa: BLE001 - one booking's failure must not stop its partition
                change = self._failed(evolve(booking, pending=(), settle_at=None), wake[0],
                                      f"the deadline due {wake[0].isoformat()}", (), exc)
            booking = change.booking
            changes[booking_id] = change._replace(outputs=(prior.outputs if prior else ()) + tuple(change.outputs),
                                                  failed=change.failed or (prior.failed if prior else None))
            self._enqueue(booking)
        self._move(bound)
        return list(changes.values())

    def _apply(self, booking: Booking, event: ev.BookingEvent, here: Position,
               before: Position | None) -> Change | None:
        if event.event_id in booking.case.seen or (booking.settle_at is not None and any(
                e.event_id == event.event_id for e in booking.events)):
            return None  # a duplicate changes nothing (events kept while catching up are not in the case yet)
        behind = self.settle > _ZERO and before is not None and before[0] - event.occurred_at > self.settle
        if behind and (booking.settle_at is not None or not booking.live):  # nothing sent yet: catch up first
            assert before is not None
            return Change(evolve(booking, events=_insert(booking.events, event), settle_at=before[0] + self.settle,
                                 caught_up_by=booking.caught_up_by or event.event_id))
        bound = max(here, before) if before is not None else here
        if booking.settle_at is not None:  # a live event: the booking has caught up
            booking = evolve(booking, events=_insert(booking.events, event))
            return self._decide_again(booking, bound, self._caught_up_by(booking))
        if booking.through is not None and here <= booking.through:
            return self._decide_again(evolve(booking, events=_insert(booking.events, event)),
                                      max(bound, booking.through), event)
        booking, outputs = self._run(booking, event, [], here)
        if booking.pending and bound > here:
            booking, outputs = self._fire(booking, bound, outputs)  # and what the partition's time has passed
        return Change(booking, tuple(outputs))

    def _caught_up_by(self, booking: Booking) -> ev.BookingEvent:
        return next((e for e in booking.events if e.event_id == booking.caught_up_by), booking.events[-1])

    def _run(self, booking: Booking, event: ev.BookingEvent, outputs: list[Stamped],
             here: Position | None = None) -> tuple[Booking, list]:
        """The booking's deadlines before the event, the event, and what it set that is due at once."""
        here = here or key(event)
        if booking.pending:
            booking, outputs = self._fire(booking, here, outputs)
        booking, outputs = self._step(booking, event, outputs, here)
        if booking.pending:
            booking, outputs = self._fire(booking, here, outputs)
        return booking, outputs

    def _step(self, booking: Booking, event: ev.BookingEvent, outputs: list[Stamped],
              here: Position) -> tuple[Booking, list]:
        before = booking.case
        step = cases.apply(self.book, before, event)
        case = step.case
        new = object.__new__(Booking)
        state = new.__dict__
        state.update(booking.__dict__)
        # in its place: after everything the booking has taken (a late event goes through _decide_again, in order)
        state["case"], state["events"] = case, (*booking.events, event)
        state["through"] = here if booking.through is None or here > booking.through else booking.through
        if step.outputs:
            at = event.occurred_at
            outputs += [Stamped(o, at) for o in step.outputs]
            state["live"] = booking.live + _ids(step.outputs)
        if step.deadlines or case.generation != before.generation or case.left_custody != before.left_custody:
            state["pending"] = _pending(case, booking.pending + step.deadlines)
        if case.left_custody and not before.left_custody and before.release_deadline:
            state["departed"] = (event.occurred_at, before.release_deadline)
        return new, outputs

    def _fire(self, booking: Booking, bound: Position, outputs: list[Stamped]) -> tuple[Booking, list[Stamped]]:
        """Fire, in order, the booking's deadlines at or before `bound` (no deadline sits at an event's place)."""
        while booking.pending:
            deadline = min(booking.pending, key=deadline_key)
            place = deadline_key(deadline)
            if place > bound:
                break
            step = cases.fire(self.book, booking.case, deadline)
            outputs += [Stamped(o, deadline.due_at, True) for o in step.outputs]
            rest = tuple(d for d in booking.pending if d != deadline)
            booking = evolve(booking, case=step.case, live=booking.live + _ids(step.outputs),
                             pending=_pending(step.case, rest + step.deadlines),
                             through=max(booking.through, place) if booking.through else place)
        return booking, outputs

    def _decide_again(self, booking: Booking, bound: Position, cause: ev.BookingEvent) -> Change:
        """Decide the booking whole from its events up to `bound`, and send the difference with what was sent.

        What was not sent is sent; what was sent and no longer follows is withdrawn by a correction naming `cause`.
        """
        fresh, outputs = self.new_booking(booking.case.booking_id), []
        for event in booking.events:
            fresh, outputs = self._run(fresh, event, outputs)
        fresh, outputs = self._fire(fresh, bound, outputs)
        sent, now = set(booking.live), {s.output.output_id for s in outputs}
        superseded = tuple(i for i in booking.live if i not in now)
        emitted = [s for s in outputs if s.output.output_id not in sent]
        if superseded:
            emitted.insert(0, Stamped(self._correction(fresh, cause, superseded), cause.occurred_at))
        return Change(fresh, tuple(emitted), cause if superseded else None)

    def review(self, booking: Booking, at: datetime, what: str, evidence: tuple[str, ...], exc: Exception) -> Output:
        """The review decision for a booking something of which could not be decided (see `Change.failed`)."""
        return self._failed(booking, at, what, evidence, exc).outputs[0].output

    def _failed(self, booking: Booking, at: datetime, what: str, evidence: tuple[str, ...],
                exc: Exception) -> Change:
        """The booking as it was, with a review decision saying what could not be decided and why."""
        why = f"{type(exc).__name__}: {exc}"[:500]
        try:
            regime = regime_at(self.book, booking.case.facts.state, at).id
        except Exception:  # noqa: BLE001 - an instant out of range has no regime
            regime = "NONE"
        review = Emitter(self.book, booking.case.booking_id).decision(
            at, regime, "REVIEW", "HUMAN_REVIEW", REVIEW_RULE, evidence,
            f"{what} could not be decided ({why}); nothing is permitted on it until a human has reviewed the case")
        return Change(booking, (Stamped(review, at),), failed=why)

    def _correction(self, booking: Booking, late: ev.BookingEvent, superseded: tuple[str, ...]) -> Output:
        at = late.occurred_at
        regime = regime_at(self.book, booking.case.facts.state, at).id
        reason = (f"{type(late).__name__} {late.event_id} occurred {at.isoformat()}, before what had been decided: "
                  f"{len(superseded)} output(s) no longer follow from the booking's events")
        return Emitter(self.book, booking.case.booking_id).correction(at, regime, CORRECTION_RULE, (late.event_id,),
                                                                     superseded, reason)


_ZERO = timedelta(0)


def _insert(events: tuple[ev.BookingEvent, ...], event: ev.BookingEvent) -> tuple[ev.BookingEvent, ...]:
    """The events with one more, in the engine's order."""
    if not events or key(events[-1]) < key(event):
        return (*events, event)
    return tuple(order((*events, event)))


def _ids(outputs: tuple[Output, ...]) -> tuple[str, ...]:
    return tuple(o.output_id for o in outputs)


def _pending(case: cases.Case, deadlines: tuple[Deadline, ...]) -> tuple[Deadline, ...]:
    """The deadlines that can still do something: of the case's current generation, while in custody."""
    if case.left_custody is not None:
        return ()
    return tuple(d for d in deadlines if d.generation == case.generation)
