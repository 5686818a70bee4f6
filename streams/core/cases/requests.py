"""Requests from immigration authorities and what the jail does about them.

Detainers, arrivals, inquiries, interviews, information shared, and the person leaving custody.
"""

from __future__ import annotations

from datetime import datetime

from streams.core import events as ev
from streams.core.cases import custody
from streams.core.cases.state import Case, Interview, Transition, evolve
from streams.core.decisions import COMMAND, Emitter, Output
from streams.core.law import rulings
from streams.core.law.detainers import Detainer
from streams.core.law.regimes import regime_at
from streams.core.law.rulebook import RuleBook

CIVIL_WARRANTS = ("I200", "I205")
RELEASE_ITEMS = ("RELEASE_DATE", "RELEASE_TIME")
ADDRESS_ITEMS = ("HOME_ADDRESS", "WORK_ADDRESS")
PERSON_AND_COUNSEL = ("PERSON", "ATTORNEY_OR_DESIGNEE")


def _regime(book: RuleBook, case: Case, at: datetime) -> str:
    return regime_at(book, case.facts.state, at).id


def detainer_lodged(book: RuleBook, case: Case, e: ev.DetainerLodged) -> Transition:
    """A request arrives: answer its notification part, owe the TRUTH copy, refuse civil arrests (S09, S14)."""
    emit, at = Emitter(book, case.booking_id), e.occurred_at
    if case.left_custody and case.left_custody[0] <= at:
        out = emit.decision(at, _regime(book, case, at), "HOLD", "DENIED", "hold.not-in-custody",
                            (e.event_id, case.left_custody[1]))
        return Transition(case, (out,))
    detainer = Detainer(e.detainer_id, e.form, e.authority, at, e.event_id, e.served_at, e.federal_felony_warrant)
    facts = case.facts
    if e.federal_felony_warrant:
        facts = evolve(facts, federal_warrant_event=e.event_id)
    case = evolve(case, detainers=case.detainers + (detainer,), facts=facts)
    outputs: list[Output] = []
    notify = None
    if "NOTIFY" in book.forms.get(e.form, book.forms["OTHER"]).requests:
        notify = rulings.notification(book, case.facts, at, custody.zone(book, case))
        outputs.append(emit.decision(at, notify.regime, "NOTIFICATION", notify.outcome, notify.rule_id,
                                     notify.evidence + (e.event_id,), notify.reason, discriminator=e.event_id))
        outputs.extend(emit.unsettled(at, notify.regime, "NOTIFICATION", notify.unsettled, e.event_id))
    if custody.truth_act(book, case, at):
        parts = _answers(book, case, at, notify, book.forms.get(e.form, book.forms["OTHER"]).requests)
        outputs.append(emit.notice(at, _regime(book, case, at), "REQUEST_COPY", "truth.request-copy", (e.event_id,),
                                   ("PERSON",), will_comply=any(comply for _, comply in parts), parts=parts))
    if e.authority in CIVIL_WARRANTS:
        arrest = rulings.civil_arrest(book, case.facts, at)
        if arrest:
            outputs.append(emit.decision(at, arrest.regime, "CIVIL_ARREST", arrest.outcome, arrest.rule_id,
                                         (e.event_id,)))
    return Transition(case, tuple(outputs))


def _answers(book: RuleBook, case: Case, at: datetime, notify: rulings.Ruling | None,
             asked: frozenset[str] | tuple[str, ...]) -> tuple[tuple[str, bool], ...]:
    """Whether the jail intends to comply with each part the request asks, judged on the facts known at receipt."""
    answers = []
    for part in ("HOLD", "NOTIFY", "TRANSFER"):
        if part not in asked:
            continue
        if part == "NOTIFY":
            comply = notify is not None and notify.permitted
        elif part == "HOLD":
            held = rulings.hold(book, case.facts, case.detainers, at, custody.zone(book, case), case.judicial)
            comply = held is not None and held.permitted
        else:
            comply = rulings.transfer(book, case.facts, at, custody.zone(book, case), case.judicial, False).permitted
        answers.append((part, comply))
    return tuple(answers)


def detainer_amended(book: RuleBook, case: Case, e: ev.DetainerAmended) -> Transition:
    """An amendment changes the form or authority; it never restarts the hold clock."""
    changed = tuple(evolve(d, form=e.form, authority=e.authority, served_at=e.served_at or d.served_at)
                    if d.detainer_id == e.detainer_id else d for d in case.detainers)
    return Transition(evolve(case, detainers=changed))


def detainer_lifted(book: RuleBook, case: Case, e: ev.DetainerLifted) -> Transition:
    """A lifted detainer ends a hold that rests on it: release at once (S16)."""
    at = e.occurred_at
    lifted = tuple(evolve(d, lifted_at=at) if d.detainer_id == e.detainer_id else d for d in case.detainers)
    case = evolve(case, detainers=lifted)
    in_hold = case.hold_until is not None and case.left_custody is None and at < case.hold_until
    if not in_hold or rulings.hold_requested(book, case.detainers, at, "HOLD"):
        return Transition(case)
    case = evolve(case, generation=case.generation + 1)
    step = custody.release_or_transfer(book, case, at, "release.detainer-lifted")
    return step


def ice_arrived(book: RuleBook, case: Case, e: ev.IceArrived) -> Transition:
    """Officers are present: hand over during a permitted hold; after the deadline custody is not extended."""
    at = e.occurred_at
    case = evolve(case, ice=(at, e.authority, e.event_id))
    if case.left_custody:
        return Transition(case)
    if case.hold_until is not None and at < case.hold_until:
        return custody.transfer(book, case, at, in_hold=True)
    if case.release_deadline is not None and at > case.release_deadline:
        regime = _regime(book, case, at)
        late = Emitter(book, case.booking_id).decision(at, regime, "TRANSFER", "DENIED", "transfer.after-deadline",
                                                       (e.event_id,))
        return Transition(case, (late,))
    return Transition(case)


def judicial_warrant(book: RuleBook, case: Case, e: ev.JudicialWarrantIssued) -> Transition:
    """Federal judicial process is recorded; it permits a transfer under 7284.6(a)(4) (S10)."""
    return Transition(evolve(case, judicial=case.judicial + (e.event_id,)))


def inquiry(book: RuleBook, case: Case, e: ev.IceInquiryReceived) -> Transition:
    """Answer each item asked: status always (1373), release information and addresses per the regime (S32, S34)."""
    outputs: list[Output] = []
    for item in dict.fromkeys(e.items):
        outputs.extend(_answer(book, case, e, item, item in e.public_items))
    return Transition(case, tuple(outputs))


def out_of_custody_inquiry(book: RuleBook, case: Case, e: ev.OutOfCustodyInquiryReceived) -> Transition:
    """An inquiry about a person the agency does not hold (a roadside stop, a past contact).

    There is no booking, so the jurisdiction is the agency's as the event names it; each item is answered as for a
    person in custody (status under 1373, addresses under 7284.6(a)(1)(D)), but a release date or time, of which
    there is none, is never given.
    """
    if case.facts.state is None:
        state = book.places.state(e.state) or e.state
        county = book.places.county(state, e.county) or e.county
        case = evolve(case, facts=evolve(case.facts, state=state, county=county))
    emit, at = Emitter(book, case.booking_id), e.occurred_at
    outputs: list[Output] = []
    for item in dict.fromkeys(e.items):
        if item in RELEASE_ITEMS:
            outputs.append(emit.decision(at, _regime(book, case, at), "NOTIFICATION", "DENIED",
                                         "notify.not-in-custody", (e.event_id,), discriminator=item))
        else:
            outputs.extend(_answer(book, case, e, item, item in e.public_items))
    return Transition(case, tuple(outputs))


def _answer(book: RuleBook, case: Case, e: ev.IceInquiryReceived | ev.OutOfCustodyInquiryReceived, item: str,
            public: bool) -> list[Output]:
    emit, at, evidence = Emitter(book, case.booking_id), e.occurred_at, (e.event_id,)
    regime = _regime(book, case, at)
    unknown = rulings.unknown_jurisdiction(regime)
    if unknown is not None:  # nothing is disclosed for a booking whose jurisdiction is not known
        return [emit.decision(at, regime, "STATUS_DISCLOSURE" if item == "CITIZENSHIP_STATUS" else
                              "PERSONAL_INFO_DISCLOSURE", unknown.outcome, unknown.rule_id, evidence,
                              discriminator=item)]
    if item == "CITIZENSHIP_STATUS":
        status, status_event = case.status or ("UNKNOWN", e.event_id)
        return [emit.decision(at, regime, "STATUS_DISCLOSURE", "PERMITTED", "status.1373", evidence,
                              discriminator=item),
                emit.status(at, regime, case.person_id, status, (status_event, e.event_id))]
    if item in RELEASE_ITEMS:
        ruling = rulings.notification(book, case.facts, at, custody.zone(book, case), public)
        kind = "NOTIFICATION"
    elif item in ADDRESS_ITEMS:
        ruling, kind = rulings.personal_information(book, case.facts, at, public), "PERSONAL_INFO_DISCLOSURE"
    elif item == "CRIMINAL_HISTORY":
        ruling, kind = rulings.Ruling("PERMITTED", "criminal-history.permitted", regime), "PERSONAL_INFO_DISCLOSURE"
    else:
        ruling, kind = rulings.Ruling("DENIED", "personal-info.values-denied", regime, "unrecognised item"), "OTHER"
    reason = f"{item.lower().replace('_', ' ')}: {ruling.reason or book.rule(ruling.rule_id).in_regime(regime)[1]}"
    return [emit.decision(at, ruling.regime, kind, ruling.outcome, ruling.rule_id, ruling.evidence + evidence,
                          reason, discriminator=item),
            *emit.unsettled(at, ruling.regime, kind, ruling.unsettled, f"{e.event_id}:{item}")]


def info_shared(book: RuleBook, case: Case, e: ev.ReleaseInfoShared) -> Transition:
    """The jail told immigration authorities something: judge it, and owe the TRUTH notice (S11, S36)."""
    emit, at = Emitter(book, case.booking_id), e.occurred_at
    zone = custody.zone(book, case)
    release_items = [i for i in e.items if i in RELEASE_ITEMS]
    answers = []
    if release_items or not any(i in ADDRESS_ITEMS for i in e.items):
        answers.append(rulings.notification(book, case.facts, at, zone, e.already_public))
    if any(i in ADDRESS_ITEMS for i in e.items):
        answers.append(rulings.personal_information(book, case.facts, at, e.already_public))
    ruling = next((r for r in answers if not r.permitted), answers[0])
    evidence = ruling.evidence + (e.event_id,)
    outputs = [emit.decision(at, ruling.regime, "NOTIFICATION", ruling.outcome, ruling.rule_id, evidence,
                             ruling.reason, discriminator=e.event_id)]
    if not ruling.permitted:
        outputs.append(emit.violation(at, ruling.regime, "UNAUTHORIZED_NOTIFICATION",
                                      "violation.unauthorized-notification", evidence,
                                      f"shared {', '.join(e.items)} with {e.recipient_agency}"))
        outputs.extend(emit.unsettled(at, ruling.regime, "NOTIFICATION", ruling.unsettled, e.event_id))
    if release_items and custody.truth_act(book, case, at):
        outputs.append(emit.notice(at, ruling.regime, "RELEASE_INFO_SHARED", "truth.release-info", (e.event_id,),
                                   PERSON_AND_COUNSEL))
    return Transition(case, tuple(outputs))


def interview(book: RuleBook, case: Case, e: ev.InterviewRequested) -> Transition:
    """From 2017 an interview needs the written consent form first, and the person's consent (S33).

    Until the person's answer is recorded the interview is denied and the form is owed; an answer recorded before
    the request (the same instant, or a feed out of order) decides it at once.
    """
    emit, at, regime = Emitter(book, case.booking_id), e.occurred_at, _regime(book, case, e.occurred_at)
    unknown = rulings.unknown_jurisdiction(regime)
    if unknown is not None:
        return Transition(case, (emit.decision(at, regime, "INTERVIEW", unknown.outcome, unknown.rule_id,
                                               (e.event_id,)),))
    if not custody.truth_act(book, case, at):
        return Transition(case, (emit.decision(at, regime, "INTERVIEW", "PERMITTED", "interview.permitted",
                                               (e.event_id,)),))
    known = next((i for i in case.interviews if i.request_id == e.request_id), None)
    if known is not None and known.requested_at is not None:
        return Transition(case)  # the same request again: the form is owed once
    request = Interview(e.request_id, e.agency, at, e.event_id)
    if known is not None:  # the answer came first
        request = evolve(known, agency=e.agency, requested_at=at, request_event=e.event_id)
    case = evolve(case, interviews=(*(i for i in case.interviews if i.request_id != e.request_id), request))
    if request.answer is not None:
        return Transition(case, (_consent_decision(book, case, request, at),))
    return Transition(case, (
        emit.decision(at, regime, "INTERVIEW", "DENIED", "interview.awaiting-consent", (e.event_id,),
                      discriminator=e.request_id),
        emit.notice(at, regime, "INTERVIEW_CONSENT", "truth.interview-consent", (e.event_id,), ("PERSON",))))


def interview_consent(book: RuleBook, case: Case, e: ev.InterviewConsentRecorded) -> Transition:
    """The person's answer on the consent form decides the request it answers; a later answer replaces it."""
    known = next((i for i in case.interviews if i.request_id == e.request_id), None)
    answered = evolve(known or Interview(e.request_id), answer=e.answer, language=e.language,
                      answer_event=e.event_id)
    case = evolve(case, interviews=(*(i for i in case.interviews if i.request_id != e.request_id), answered))
    if answered.requested_at is None:
        return Transition(case)  # kept for the request it answers
    if not custody.truth_act(book, case, answered.requested_at):
        return Transition(case)  # the interview was decided when asked, before the form was the law
    return Transition(case, (_consent_decision(book, case, answered, e.occurred_at),))


#: the person's answer: the outcome and the rule
CONSENT_RULES = {"CONSENTED": ("PERMITTED", "interview.consented"),
                 "ONLY_WITH_COUNSEL": ("PERMITTED", "interview.only-with-counsel"),
                 "DECLINED": ("DENIED", "interview.declined")}


def _consent_decision(book: RuleBook, case: Case, request: Interview, at: datetime) -> Output:
    outcome, rule_id = CONSENT_RULES.get(request.answer or "", ("DENIED", "interview.declined"))
    regime = _regime(book, case, at)
    says = book.rule(rule_id).in_regime(regime)[1]
    reason = f"{says}; the form was given in {(request.language or 'a language not recorded').title()}"
    evidence = tuple(i for i in (request.request_event, request.answer_event) if i)
    return Emitter(book, case.booking_id).decision(at, regime, "INTERVIEW", outcome, rule_id, evidence, reason,
                                                   discriminator=f"{request.request_id}:{request.answer_event}")


def status_question(book: RuleBook, case: Case, e: ev.StatusQuestionAsked) -> Transition:
    """Staff asked the person about immigration status: judged, and a violation where the law forbids it."""
    emit, at = Emitter(book, case.booking_id), e.occurred_at
    ruling = rulings.status_question(book, case.facts, at, e.purpose)
    purpose = e.purpose.lower().replace("_", " ")
    reason = f"{book.rule(ruling.rule_id).in_regime(ruling.regime)[1]}; asked by {e.asked_by}, purpose {purpose}"
    outputs = [emit.decision(at, ruling.regime, "STATUS_QUESTION", ruling.outcome, ruling.rule_id, (e.event_id,),
                             reason, discriminator=e.question_id)]
    if not ruling.permitted:
        outputs.append(emit.violation(at, ruling.regime, "UNAUTHORIZED_STATUS_QUESTION",
                                      "violation.unauthorized-status-question", (e.event_id,),
                                      f"{e.asked_by} asked about immigration status ({purpose})"))
    return Transition(case, tuple(outputs))


def released(book: RuleBook, case: Case, e: ev.Released) -> Transition:
    """The person left custody: every pending deadline of the case goes stale."""
    return Transition(evolve(case, left_custody=(e.occurred_at, e.event_id), generation=case.generation + 1))


def transferred(book: RuleBook, case: Case, e: ev.Transferred) -> Transition:
    """A hand-over to immigration authorities needs a decision permitting it; otherwise it is a violation.

    A hand-over during a permitted hold that no arrival of officers preceded (a jail export records only the
    transfer) is judged on its own event, as the officers' arrival at that instant would have been.
    """
    at = e.occurred_at
    judged: tuple[Output, ...] = ()
    if (e.destination == "IMMIGRATION_AUTHORITY" and not case.transfer_permitted and case.ice is None
            and case.left_custody is None and case.hold_until is not None and at < case.hold_until):
        step = custody.transfer(book, evolve(case, ice=(at, e.authority, e.event_id)), at, in_hold=True)
        # the decision, not a directive: the hand-over has happened
        case, judged = step.case, tuple(o for o in step.outputs if o.type_name != COMMAND)
    case = evolve(case, left_custody=(at, e.event_id), generation=case.generation + 1)
    if e.destination != "IMMIGRATION_AUTHORITY" or case.transfer_permitted:
        return Transition(case, judged)
    regime = _regime(book, case, e.occurred_at)
    violation = Emitter(book, case.booking_id).violation(
        e.occurred_at, regime, "UNAUTHORIZED_TRANSFER", "violation.unauthorized-transfer", (e.event_id,),
        f"handed to {e.agency} without a decision permitting the transfer")
    return Transition(case, (*judged, violation))


HANDLERS = {
    ev.DetainerLodged: detainer_lodged,
    ev.DetainerAmended: detainer_amended,
    ev.DetainerLifted: detainer_lifted,
    ev.IceArrived: ice_arrived,
    ev.JudicialWarrantIssued: judicial_warrant,
    ev.IceInquiryReceived: inquiry,
    ev.OutOfCustodyInquiryReceived: out_of_custody_inquiry,
    ev.ReleaseInfoShared: info_shared,
    ev.InterviewRequested: interview,
    ev.InterviewConsentRecorded: interview_consent,
    ev.StatusQuestionAsked: status_question,
    ev.Released: released,
    ev.Transferred: transferred,
}
