"""The case state machine, pure: what happens to one booking as its events arrive and its deadlines pass.

`apply(book, case, event)` and `fire(book, case, deadline)` return a Transition: the new case, the outputs and
the deadlines to schedule. The law acts at each event's own `occurred_at` and at each deadline's `due_at`, never
at the time a processor happens to run, so a live run and a replay give the same outputs.
"""

from __future__ import annotations

from streams.core import events as ev
from streams.core.cases import custody, requests
from streams.core.cases.state import ELIGIBLE, HOLD_END, OVERDUE, UNRECORDED, Case, Transition, evolve, new_case
from streams.core.decisions import Deadline, Emitter, Output
from streams.core.law.regimes import regime_at
from streams.core.law.rulebook import RuleBook

__all__ = ["Case", "Transition", "apply", "fire", "new_case", "ELIGIBLE", "HOLD_END", "OVERDUE", "UNRECORDED"]

_HANDLERS = {**custody.HANDLERS, **requests.HANDLERS}


def apply(book: RuleBook, case: Case, event: ev.Event) -> Transition:
    """Apply one input event to its booking's case; a duplicate event id changes nothing."""
    if event.event_id in case.seen:
        return Transition(case)
    first = not case.seen
    seen = case.seen | {event.event_id}
    handler = _HANDLERS.get(type(event))
    if handler is None:
        step = Transition(evolve(case, seen=seen))
    else:
        step = handler(book, case, event)
        step = Transition(evolve(step.case, seen=seen), step.outputs, step.deadlines)
    step = custody.watch_detainers_alone(book, step, event.occurred_at)
    if first and not isinstance(event, ev.BookingRecorded) and step.case.facts.state is None:
        return Transition(step.case, (_unknown_jurisdiction(book, step.case, event), *step.outputs), step.deadlines)
    return step


def _unknown_jurisdiction(book: RuleBook, case: Case, event: ev.Event) -> Output:
    """The review owed when a booking's first event is not its booking record: its jurisdiction is not known."""
    at = event.occurred_at
    return Emitter(book, case.booking_id).decision(
        at, regime_at(book, None, at).id, "REVIEW", "HUMAN_REVIEW", "review.jurisdiction-unknown", (event.event_id,),
        f"{type(event).__name__} {event.event_id} arrived before any booking record of {case.booking_id}: its "
        "state and county are not known, so nothing is permitted on it until a human has reviewed the case")


def fire(book: RuleBook, case: Case, deadline: Deadline) -> Transition:
    """Act on a deadline stream time has passed; a stale one (older generation, person gone) does nothing."""
    if deadline.generation != case.generation or case.left_custody is not None:
        return Transition(case)
    if deadline.kind == ELIGIBLE:
        return custody.at_eligibility(book, case, deadline.due_at)
    if deadline.kind == UNRECORDED:
        return custody.detainers_alone_review(book, case, deadline.due_at)
    if deadline.kind == HOLD_END:
        regime_start = regime_at(book, case.facts.state, deadline.due_at).start
        rule = "release.regime-ended" if regime_start == deadline.due_at else "release.hold-ended"
        return custody.release_or_transfer(book, case, deadline.due_at, rule)
    return custody.overdue(book, case, deadline.due_at)
