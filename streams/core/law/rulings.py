"""The legal questions the case machine asks, answered per the regime in force at the instant they arise.

Each function returns a Ruling: outcome, the rule that decided it, a reason, the evidence, the regime and, for a
permitted hold, when it ends. When facts are missing or the law is unclear, the answer is the conservative one:
release, deny. Pure: every instant is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from streams.core.law.calendar import local_date
from streams.core.law.carve_outs import (
    Basis,
    california_statute,
    criteria_met,
    is_serious_or_violent,
    prop47_bar,
    unsettled,
)
from streams.core.law.detainers import Detainer, hold_deadline, in_effect, requests
from streams.core.law.facts import Facts
from streams.core.law.regimes import forbidding_policy, regime_at
from streams.core.law.rulebook import UNKNOWN_REGIME, RuleBook

PERMITTED, DENIED, REVIEW = "PERMITTED", "DENIED", "HUMAN_REVIEW"
PRE_VALUES = ("FED_BASE", "CA_PRE_TRUST", "CA_TRUST")


@dataclass(frozen=True)
class Ruling:
    """The answer to one legal question."""

    outcome: str
    rule_id: str
    regime: str
    reason: str = ""
    evidence: tuple[str, ...] = ()
    until: datetime | None = None
    #: for a denial: what on record the offense table could not classify (event id, what), for a human to settle
    unsettled: tuple[tuple[str, str], ...] = ()

    @property
    def permitted(self) -> bool:
        """True for PERMITTED."""
        return self.outcome == PERMITTED


def _evidence(bases: tuple[Basis, ...]) -> tuple[str, ...]:
    return tuple(e for b in bases for e in b.evidence)


def _explain(bases: tuple[Basis, ...]) -> str:
    return "; ".join(f"{b.criterion}: {b.detail}" for b in bases)


def unknown_jurisdiction(regime: str) -> Ruling | None:
    """The denial of anything asked of a booking whose jurisdiction is not known; None when it is known."""
    if regime != UNKNOWN_REGIME:
        return None
    return Ruling(DENIED, "jurisdiction.unknown", regime)


def _policy_denial(book: RuleBook, facts: Facts, kind: str, at: datetime, rule_id: str, regime: str,
                   judicial: tuple[str, ...] = ()) -> Ruling | None:
    policy = forbidding_policy(book, facts.state, facts.county, kind, at)
    if policy is not None and policy.unless:  # the exceptions are weighed only where a policy allows some
        policy = forbidding_policy(book, facts.state, facts.county, kind, at, _exceptions_met(book, facts, judicial))
    if policy is None:
        return None
    unmet = f" (none of its exceptions applies: {', '.join(sorted(policy.unless)).lower().replace('_', ' ')})" \
        if policy.unless else ""
    return Ruling(DENIED, rule_id, regime, f"{policy.id}: {policy.citation}{unmet}")


def _exceptions_met(book: RuleBook, facts: Facts, judicial: tuple[str, ...]) -> frozenset[str]:
    """The policy exceptions (rulebook.POLICY_EXCEPTIONS) the facts meet; tags and flags add, as everywhere."""
    met = {"JUDICIAL_WARRANT"} if judicial else set()
    if any(c.level == "FELONY" and is_serious_or_violent(book, california_statute(c), c.category_tags)
           for c, _ in facts.convictions):
        met.add("SERIOUS_OR_VIOLENT_CONVICTION")
    return frozenset(met)


def hold(book: RuleBook, facts: Facts, detainers: tuple[Detainer, ...], eligible_at: datetime,
         zone: ZoneInfo, judicial: tuple[str, ...] = ()) -> Ruling | None:
    """Whether the jail may keep the person past `eligible_at` on the detainers lodged; None if none asks."""
    span = regime_at(book, facts.state, eligible_at)
    regime = span.id
    active = [d for d in detainers if d.active(eligible_at)]
    asking = [d for d in active if requests(book, d, "HOLD")]
    if not asking:
        unknown = [d for d in active if d.form in ("OTHER", "I203")]
        if unknown:
            return Ruling(DENIED, "hold.unrecognised-form", regime, evidence=tuple(d.event_id for d in unknown))
        # a notification-only request (I-247N) asks for no detention: the person is not held on it, and says so
        return Ruling(DENIED, "hold.not-requested", regime, evidence=tuple(d.event_id for d in active)) \
            if active else None
    evidence = tuple(d.event_id for d in asking)
    if regime == UNKNOWN_REGIME:
        return Ruling(DENIED, "jurisdiction.unknown", regime, evidence=evidence)
    if facts.citizen_event:
        return Ruling(DENIED, "hold.us-citizen", regime, evidence=evidence + (facts.citizen_event,))
    if regime == "CA_VALUES":
        return Ruling(DENIED, "hold.values-prohibited", regime, evidence=evidence)
    denial = _policy_denial(book, facts, "HOLD", eligible_at, "hold.local-policy", regime, judicial)
    if denial:
        return Ruling(denial.outcome, denial.rule_id, regime, denial.reason, evidence)
    served = [d for d in asking if in_effect(book, d, eligible_at)]
    if not served:
        return Ruling(DENIED, "hold.not-served", regime, evidence=evidence)
    rule_id, bases = "hold.pre-trust-discretionary", ()
    if regime == "CA_TRUST":
        barred = prop47_bar(book, facts)
        if barred:
            return Ruling(DENIED, "hold.prop47-bar", regime, evidence=evidence + (barred,))
        on = local_date(eligible_at, zone)
        bases = tuple(b for b in criteria_met(book, facts, regime, on) if "HOLD" in b.unlocks)
        if not bases:
            reason, checked = _history(book, facts, "hold.trust-no-criterion", regime)
            return Ruling(DENIED, "hold.trust-no-criterion", regime, reason, evidence + checked,
                          unsettled=unsettled(book, facts, regime, "HOLD"))
        rule_id = "hold.trust-criterion"
    return _hold_until(book, span.end, served, eligible_at, zone, rule_id, regime, bases)


def _hold_until(book: RuleBook, regime_end: datetime | None, served: list[Detainer], eligible_at: datetime,
                zone: ZoneInfo, rule_id: str, regime: str, bases: tuple[Basis, ...]) -> Ruling:
    # The earliest end among the forms served: a re-issued detainer never extends the clock.
    until = min(hold_deadline(book, d, eligible_at, zone) for d in served)
    reason = _explain(bases)
    if regime_end is not None and regime_end < until:
        until = regime_end.astimezone(zone)
        reason = (reason + "; " if reason else "") + f"the hold ends when {regime} ends"
    evidence = tuple(d.event_id for d in served) + _evidence(bases)
    return Ruling(PERMITTED, rule_id, regime, reason, evidence, until)


def notification(book: RuleBook, facts: Facts, at: datetime, zone: ZoneInfo, public: bool = False) -> Ruling:
    """Whether the jail may tell an immigration authority release information at `at` (7284.6(a)(1)(C))."""
    regime = regime_at(book, facts.state, at).id
    denial = unknown_jurisdiction(regime) or _policy_denial(book, facts, "NOTIFY", at, "notify.local-policy", regime)
    if denial:
        return denial
    if regime in PRE_VALUES:
        return Ruling(PERMITTED, "notify.no-state-limit", regime)
    if public:
        return Ruling(PERMITTED, "notify.values-public", regime, "the information is already public")
    bases = _values_bases(book, facts, regime, at, zone, "NOTIFY", "notify.prop47-bar", "notify.values-denied")
    if isinstance(bases, Ruling):
        return bases
    rule_id = "notify.values-probable-cause" if all(b.criterion == "7282.5(b)" for b in bases) \
        else "notify.values-criterion"
    return Ruling(PERMITTED, rule_id, regime, _explain(bases), _evidence(bases))


def _values_bases(book: RuleBook, facts: Facts, regime: str, at: datetime, zone: ZoneInfo, kind: str,
                  barred_rule: str, denied_rule: str) -> Ruling | tuple[Basis, ...]:
    """Under the Values Act: the Prop 47 bar, else the criteria that unlock `kind`; a denial when none does."""
    barred = prop47_bar(book, facts)
    if barred:
        return Ruling(DENIED, barred_rule, regime, evidence=(barred,))
    bases = tuple(b for b in criteria_met(book, facts, regime, local_date(at, zone)) if kind in b.unlocks)
    if bases:
        return bases
    reason, checked = _history(book, facts, denied_rule, regime)
    return Ruling(DENIED, denied_rule, regime, reason, checked, unsettled=unsettled(book, facts, regime, kind))


def _history(book: RuleBook, facts: Facts, rule_id: str, regime: str) -> tuple[str, tuple[str, ...]]:
    """A denial for want of a criterion says whether the history was checked: the reason, and the records."""
    says = book.rule(rule_id).in_regime(regime)[1]
    records = facts.history_events
    if records:
        return (f"{says}; criminal history checked ({len(records)} record{'s' if len(records) > 1 else ''}): "
                "nothing on it qualifies", records)
    return f"{says}; no criminal history on record: it was not checked, or not sent", ()


def transfer(book: RuleBook, facts: Facts, at: datetime, zone: ZoneInfo, judicial: tuple[str, ...],
             in_hold: bool) -> Ruling:
    """Whether the jail may hand the person to immigration authorities at `at` (7284.6(a)(4))."""
    regime = regime_at(book, facts.state, at).id
    if regime == UNKNOWN_REGIME:
        return Ruling(DENIED, "jurisdiction.unknown", regime, evidence=judicial)
    if facts.citizen_event:
        return Ruling(DENIED, "transfer.us-citizen", regime, evidence=(facts.citizen_event,))
    denial = _policy_denial(book, facts, "TRANSFER", at, "transfer.local-policy", regime, judicial)
    if denial:
        return denial
    if regime in PRE_VALUES:
        return Ruling(PERMITTED, "transfer.during-hold" if in_hold else "transfer.at-release", regime)
    if judicial:
        return Ruling(PERMITTED, "transfer.values-judicial", regime, evidence=judicial)
    bases = _values_bases(book, facts, regime, at, zone, "TRANSFER", "transfer.prop47-bar",
                          "transfer.values-denied")
    if isinstance(bases, Ruling):
        return bases
    return Ruling(PERMITTED, "transfer.values-criterion", regime,
                  _explain(bases) + "; at release, without extending custody", _evidence(bases))


#: the purposes for which the Values Act lets staff ask about immigration status (7284.6(b)(4))
STATUS_QUESTION_PURPOSES = ("T_OR_U_VISA_CERTIFICATION", "FIREARMS_CHECK_922D5")


def status_question(book: RuleBook, facts: Facts, at: datetime, purpose: str) -> Ruling:
    """Whether staff may ask the person about their immigration status (7284.6(a)(1)(A), (b)(4)).

    A purpose other than the two the statute allows, or none given, is taken as immigration enforcement.
    """
    regime = regime_at(book, facts.state, at).id
    unknown = unknown_jurisdiction(regime)
    if unknown is not None:
        return unknown
    if regime in PRE_VALUES:
        return Ruling(PERMITTED, "status-question.no-state-limit", regime)
    if purpose in STATUS_QUESTION_PURPOSES:
        return Ruling(PERMITTED, "status-question.values-exception", regime)
    return Ruling(DENIED, "status-question.values-prohibited", regime)


def personal_information(book: RuleBook, facts: Facts, at: datetime, public: bool) -> Ruling:
    """Whether the jail may give an address or other personal information (7284.6(a)(1)(D))."""
    regime = regime_at(book, facts.state, at).id
    if regime == UNKNOWN_REGIME:
        return Ruling(DENIED, "jurisdiction.unknown", regime)
    if regime in PRE_VALUES:
        return Ruling(PERMITTED, "personal-info.pre-values", regime)
    if public:
        return Ruling(PERMITTED, "notify.values-public", regime, "the information is already public")
    return Ruling(DENIED, "personal-info.values-denied", regime)


def civil_arrest(book: RuleBook, facts: Facts, at: datetime) -> Ruling | None:
    """Under the Values Act, arrests on administrative immigration warrants are forbidden; None before it."""
    regime = regime_at(book, facts.state, at).id
    if regime == UNKNOWN_REGIME:
        return Ruling(DENIED, "jurisdiction.unknown", regime)
    return None if regime in PRE_VALUES else Ruling(DENIED, "civil-arrest.values-prohibited", regime)


def hold_requested(book: RuleBook, detainers: tuple[Detainer, ...], at: datetime, kind: str) -> bool:
    """True when a detainer in effect at `at` asks for `kind`."""
    return any(in_effect(book, d, at) and requests(book, d, kind) for d in detainers)
