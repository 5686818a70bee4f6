"""Facts, custody and the release moment: T_elig, holds, release or hand-over, and overdue releases."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from streams.core import events as ev
from streams.core.cases.state import ELIGIBLE, HOLD_END, OVERDUE, UNRECORDED, Case, Transition, evolve
from streams.core.decisions import Deadline, Emitter, Output
from streams.core.law import rulings
from streams.core.law.detainers import hold_deadline
from streams.core.law.facts import Finding
from streams.core.law.regimes import overlay_active, regime_at
from streams.core.law.rulebook import RuleBook

JUDICIAL = ("JUDICIAL_WARRANT", "JUDICIAL_PROBABLE_CAUSE")


# --- facts ------------------------------------------------------------------------------------------------------


def set_facts(case: Case, **changes: object) -> Transition:
    """Replace some facts of the case."""
    return Transition(evolve(case, facts=evolve(case.facts, **changes)))


def booked(book: RuleBook, case: Case, e: ev.BookingRecorded) -> Transition:
    """The booking record fixes the jurisdiction, the person and the current charges."""
    # as the jail wrote them ("CALIFORNIA", "SANTA CLARA") to the codes and names the rule book knows
    state = book.places.state(e.state) or e.state
    county = book.places.county(state, e.county) or e.county
    facts = evolve(case.facts, state=state, county=county, charges=e.charges, charges_event=e.event_id)
    return Transition(evolve(case, person_id=e.person_id, facts=facts))


def history(book: RuleBook, case: Case, e: ev.CriminalHistoryRecorded) -> Transition:
    """Prior convictions are added; registration is as of the latest record."""
    known = {c for c, _ in case.facts.convictions}
    added = tuple((c, e.event_id) for c in e.convictions if c not in known)
    registrant = e.event_id if (e.sex_registrant or e.arson_registrant) else None
    return Transition(evolve(case, person_id=case.person_id or e.person_id,
                              facts=evolve(case.facts, convictions=case.facts.convictions + added,
                                            registrant_event=registrant,
                                            history_events=case.facts.history_events + (e.event_id,))))


def dismissed(book: RuleBook, case: Case, e: ev.ChargeDismissed) -> Transition:
    """A dismissed charge and any PC 872 finding on it no longer count (A7, S27)."""
    return set_facts(case, findings=tuple(f for f in case.facts.findings if f.charge.statute != e.statute),
                  charges=tuple(c for c in case.facts.charges if c.statute != e.statute))


def citizenship(book: RuleBook, case: Case, e: ev.CitizenshipVerified) -> Transition:
    """A recorded status is a fact 1373 lets the jail share; a verified citizen is never held (S17)."""
    citizen = e.event_id if e.status == "US_CITIZEN" else None
    case = evolve(case, person_id=case.person_id or e.person_id, status=(e.status, e.event_id),
                   facts=evolve(case.facts, citizen_event=citizen))
    regime = regime_at(book, case.facts.state, e.occurred_at).id
    fact = Emitter(book, case.booking_id).status(e.occurred_at, regime, case.person_id, e.status, (e.event_id,))
    return Transition(case, (fact,))


# --- custody and eligibility (T_elig) --------------------------------------------------------------------------


def custody_basis(book: RuleBook, case: Case, e: ev.CustodyBasisRecorded) -> Transition:
    """Another custody basis stops the immigration clock until it clears (S25)."""
    others = tuple(b for b in case.other_custody if b[0] != e.basis_id)
    if e.active:
        return reschedule(evolve(case, other_custody=others + ((e.basis_id, e.event_id),)))
    return reschedule(evolve(case, other_custody=others, basis_cleared=(e.occurred_at, e.event_id)))


def release_due(book: RuleBook, case: Case, e: ev.ReleaseBecameDue) -> Transition:
    """Release on the charges falls due (or is rescheduled)."""
    return reschedule(evolve(case, release_due=(e.release_at, e.event_id)))


def reschedule(case: Case) -> Transition:
    """Recompute T_elig: release due on the charges and no other custody basis left (7282(b); S25)."""
    eligible = None
    if case.release_due and not case.other_custody:
        eligible = case.release_due[0]
        if case.basis_cleared and case.basis_cleared[0] > eligible:
            eligible = case.basis_cleared[0]
    if eligible == case.eligible_at or case.left_custody:
        return Transition(case)
    case = evolve(case, eligible_at=eligible, generation=case.generation + 1, hold_until=None,
                   release_deadline=None)
    deadlines = (Deadline(eligible, case.booking_id, ELIGIBLE, case.generation),) if eligible else ()
    return Transition(case, (), deadlines)


def eligibility_evidence(case: Case) -> tuple[str, ...]:
    """The events that made the person eligible for release."""
    ids = [case.release_due[1]] if case.release_due else []
    if case.basis_cleared:
        ids.append(case.basis_cleared[1])
    return tuple(ids)


def zone(book: RuleBook, case: Case) -> ZoneInfo:
    """The zone the case's deadlines are computed in."""
    return book.zone(case.facts.state, case.facts.county)


def at_eligibility(book: RuleBook, case: Case, at: datetime) -> Transition:
    """At T_elig: a permitted hold until its end, else release or hand-over now."""
    emit = Emitter(book, case.booking_id)
    ruling = rulings.hold(book, case.facts, case.detainers, at, zone(book, case), case.judicial)
    if ruling is None or not ruling.permitted:
        first = () if ruling is None else (emit.decision(at, ruling.regime, "HOLD", ruling.outcome, ruling.rule_id,
                                                         ruling.evidence + eligibility_evidence(case), ruling.reason),
                                           *emit.unsettled(at, ruling.regime, "HOLD", ruling.unsettled))
        step = release_or_transfer(book, case, at, "release.eligible")
        return Transition(step.case, first + step.outputs, step.deadlines)
    evidence = ruling.evidence + eligibility_evidence(case)
    outputs = [emit.decision(at, ruling.regime, "HOLD", ruling.outcome, ruling.rule_id, evidence, ruling.reason,
                             until=ruling.until),
               emit.command(at, ruling.regime, "HOLD_UNTIL", ruling.rule_id, evidence, ruling.reason,
                            until=ruling.until)]
    case = evolve(case, hold_until=ruling.until, release_deadline=ruling.until)
    deadlines = [Deadline(ruling.until, case.booking_id, HOLD_END, case.generation)]
    if case.ice or rulings.hold_requested(book, case.detainers, at, "TRANSFER"):
        step = transfer(book, case, at, in_hold=True)
        case, outputs = step.case, outputs + list(step.outputs)
    return Transition(case, tuple(outputs), tuple(deadlines))


def release_or_transfer(book: RuleBook, case: Case, at: datetime, release_rule: str) -> Transition:
    """At a release moment: hand over if officers are present and the law permits, else release."""
    emit = Emitter(book, case.booking_id)
    outputs: list[Output] = []
    if case.ice or case.judicial or rulings.hold_requested(book, case.detainers, at, "TRANSFER"):
        step = transfer(book, case, at, in_hold=False)
        case, outputs = step.case, list(step.outputs)
        if case.transfer_permitted and case.ice:
            return with_overdue(book, evolve(case, hold_until=None, release_deadline=at), outputs, at)
    regime = regime_at(book, case.facts.state, at).id
    evidence = eligibility_evidence(case) + tuple(d.event_id for d in case.detainers if d.active(at))
    outputs.append(emit.decision(at, regime, "RELEASE", "REQUIRED", release_rule, evidence))
    outputs.append(emit.command(at, regime, "RELEASE", release_rule, evidence))
    return with_overdue(book, evolve(case, hold_until=None, release_deadline=at), outputs, at)


def with_overdue(book: RuleBook, case: Case, outputs: list[Output], at: datetime) -> Transition:
    """Schedule the overdue check for a release deadline."""
    check = Deadline(at + timedelta(minutes=book.overdue_grace_minutes), case.booking_id, OVERDUE, case.generation)
    return Transition(case, tuple(outputs), (check,))


def transfer(book: RuleBook, case: Case, at: datetime, in_hold: bool) -> Transition:
    """Decide a hand-over at `at`; a permitted one with officers present is directed."""
    emit = Emitter(book, case.booking_id)
    judicial = case.judicial + tuple(d.event_id for d in case.detainers if d.active(at) and d.authority in JUDICIAL)
    if case.ice and case.ice[1] in JUDICIAL:
        judicial += (case.ice[2],)
    ruling = rulings.transfer(book, case.facts, at, zone(book, case), judicial, in_hold)
    evidence = ruling.evidence + ((case.ice[2],) if case.ice else ()) + tuple(
        d.event_id for d in case.detainers if d.active(at))
    if judicial and not case.ice and ruling.permitted and regime_at(book, case.facts.state, at).id == "CA_VALUES":
        review = emit.decision(at, ruling.regime, "TRANSFER", "HUMAN_REVIEW", "transfer.judicial-warrant-review",
                               evidence)
        return Transition(case, (review,))
    outputs = [emit.decision(at, ruling.regime, "TRANSFER", ruling.outcome, ruling.rule_id, evidence, ruling.reason),
               *emit.unsettled(at, ruling.regime, "TRANSFER", ruling.unsettled)]
    if ruling.permitted and case.ice:
        outputs.append(emit.command(at, ruling.regime, "TRANSFER_TO_IMMIGRATION", ruling.rule_id, evidence))
        case = evolve(case, transfer_permitted=True)
    return Transition(case, tuple(outputs))


def overdue(book: RuleBook, case: Case, due: datetime) -> Transition:
    """Still in custody after the deadline plus grace: a violation."""
    deadline = case.release_deadline or due
    regime = regime_at(book, case.facts.state, deadline).id
    minutes = book.overdue_grace_minutes
    violation = Emitter(book, case.booking_id).violation(
        deadline, regime, "OVERDUE_RELEASE", "violation.overdue-release", eligibility_evidence(case),
        f"still in custody {minutes} minutes after the release deadline "
        f"{deadline.astimezone(zone(book, case)).isoformat()}")
    return Transition(case, (violation,))



# --- custody on detainers alone --------------------------------------------------------------------------------


def held_on_detainers_alone(case: Case, at: datetime) -> bool:
    """In custody with a detainer active, no charges, no other custody basis and no release ever recorded as due.

    Nothing the case knows holds the person but the detainers, and a detainer is never a basis for custody past the
    hold it asks for (8 CFR 287.7(d)); the jail has not said when the person's release falls due.
    """
    return (case.left_custody is None and case.release_due is None and not case.other_custody
            and not case.facts.charges and any(d.active(at) for d in case.detainers))


def detainers_alone_review_at(book: RuleBook, case: Case) -> datetime | None:
    """When custody on detainers alone has lasted longer than the longest hold they could allow, plus the grace."""
    since = case.detainers_alone_since
    if since is None:
        return None
    active = [d for d in case.detainers if d.active(since)]
    ends = [hold_deadline(book, d, since, zone(book, case)) for d in active]
    return max([since, *ends]) + timedelta(minutes=book.overdue_grace_minutes)


def watch_detainers_alone(book: RuleBook, step: Transition, at: datetime) -> Transition:
    """Start (or stop) the clock of custody on detainers alone after an event changed the case."""
    case = step.case
    alone = held_on_detainers_alone(case, at)
    if alone == (case.detainers_alone_since is not None):
        return step
    case = evolve(case, detainers_alone_since=at if alone else None)
    review_at = detainers_alone_review_at(book, case)
    deadlines = (Deadline(review_at, case.booking_id, UNRECORDED, case.generation),) if review_at else ()
    return Transition(case, step.outputs, step.deadlines + deadlines)


def detainers_alone_review(book: RuleBook, case: Case, due: datetime) -> Transition:
    """Still held on detainers alone past the longest hold they allow: a human must find out why (no guessing)."""
    if detainers_alone_review_at(book, case) != due or not held_on_detainers_alone(case, due):
        return Transition(case)
    since, local = case.detainers_alone_since or due, zone(book, case)
    evidence = tuple(d.event_id for d in case.detainers if d.active(due))
    review = Emitter(book, case.booking_id).decision(
        due, regime_at(book, case.facts.state, due).id, "REVIEW", "HUMAN_REVIEW", "review.detainers-alone", evidence,
        f"held since {since.astimezone(local).isoformat()} with a detainer and no charges, no other custody basis "
        f"and no release recorded as due; the longest hold the detainers allow ended by "
        f"{(due - timedelta(minutes=book.overdue_grace_minutes)).astimezone(local).isoformat()}: a human must "
        "check why the person is still in custody")
    return Transition(case, (review,))



def truth_act(book: RuleBook, case: Case, at: datetime) -> bool:
    """True when the TRUTH Act's notice duties apply to this booking at `at` (from 2017-01-01)."""
    return overlay_active(book, case.facts.state, "CA_TRUTH", at)


HANDLERS = {
    ev.BookingRecorded: booked,
    ev.ChargesAmended: lambda b, c, e: set_facts(c, charges=e.charges, charges_event=e.event_id),
    ev.CriminalHistoryRecorded: history,
    ev.ConvictionRecorded: lambda b, c, e: set_facts(
        c, convictions=c.facts.convictions + ((e.conviction, e.event_id),)),
    ev.ProbableCauseFound: lambda b, c, e: set_facts(c, findings=c.facts.findings + (
        Finding(e.charge, e.finding_date, e.event_id),)),
    ev.ChargeDismissed: dismissed,
    ev.CitizenshipVerified: citizenship,
    ev.CustodyBasisRecorded: custody_basis,
    ev.ReleaseBecameDue: release_due,
}
