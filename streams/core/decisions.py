"""The values the decision core emits, and the deadlines it asks to be woken at.

Outputs are decisions, directives, violations, notices and status facts. Every output names its regime, rule,
citation and evidence, and carries a deterministic `output_id` derived from them, so a duplicate is
recognisable anywhere downstream.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streams.core.law.rulebook import RuleBook
from streams.errors import DisclosureError, OutputTooLarge

DECISION = "Decision"
COMMAND = "CustodyCommand"
VIOLATION = "Violation"
NOTICE = "TruthActNotice"
STATUS = "StatusFact"
CORRECTION = "Correction"
#: the review a denial owes when the offense table cannot classify a fact on record
UNSETTLED_RULE = "review.offense-unknown"
#: the most event ids one output names: 2,000 ids are about 80 KB, well inside what one Kafka message may carry
MAX_EVIDENCE = 2_000

#: Everything the status-only feed (dt.federal.status) may carry: who, the citizenship or immigration status,
#: and the audit fields every output has. 8 U.S.C. 1373 and Gov. Code 7284.6(e) make status shareable; release
#: dates, addresses, charges and booking details are not status (United States v. California, 921 F.3d 865,
#: 891) and never go on this feed. The StatusFact schema has exactly these fields (a test holds them equal).
STATUS_FEED_FIELDS = ("output_id", "booking_id", "person_id", "status", "effective_at", "decided_at", "regime",
                      "rule_id", "citation", "evidence")
STATUS_VALUES = ("US_CITIZEN", "LAWFUL_PERMANENT_RESIDENT", "OTHER_LAWFUL_STATUS", "NO_LAWFUL_STATUS", "UNKNOWN")


@dataclass(frozen=True)
class Output:
    """One output of the core. `detail` holds the fields particular to its type (kind, outcome, until...)."""

    type_name: str
    booking_id: str
    effective_at: datetime
    regime: str
    rule_id: str
    citation: str
    reason: str
    evidence: tuple[str, ...]
    detail: tuple[tuple[str, Any], ...] = ()
    discriminator: str = ""
    output_id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        """Derive the output id from what the output is and rests on."""
        if not self.output_id:
            object.__setattr__(self, "output_id", _output_id(self))

    def get(self, name: str) -> Any:
        """A type-particular field, or None."""
        return dict(self.detail).get(name)

    def to_record(self, decided_at: datetime) -> dict[str, Any]:
        """The Avro record of the output's schema, with the emission time."""
        if self.type_name == STATUS:
            return status_record(self, decided_at)
        record: dict[str, Any] = {
            "output_id": self.output_id, "booking_id": self.booking_id, "effective_at": self.effective_at,
            "decided_at": decided_at, "regime": self.regime, "rule_id": self.rule_id, "citation": self.citation,
            "evidence": list(self.evidence), **{k: _field(k, v) for k, v in self.detail},
            "reason": self.reason}
        return record


def _field(name: str, value: Any) -> Any:
    if name == "parts":  # a request copy's answer to each part of the request
        return [{"request": request, "will_comply": comply} for request, comply in value]
    return list(value) if isinstance(value, tuple) else value


def status_record(output: Output, decided_at: datetime) -> dict[str, Any]:
    """The one way onto the status-only feed: a StatusFact record of the permitted fields, or DisclosureError.

    Built field by field from the permitted set, never by copying the output, so nothing else can ride along;
    an output that carries anything but the person and the status is refused outright.
    """
    detail = dict(output.detail)
    if output.type_name != STATUS or set(detail) != {"person_id", "status"}:
        raise DisclosureError(f"{output.type_name} for {output.booking_id} carries {sorted(detail)}; the status feed "
                              "takes a person and a status, nothing else (8 U.S.C. 1373; Gov. Code 7284.6(e))")
    if detail["status"] not in STATUS_VALUES:
        raise DisclosureError(f"{detail['status']!r} is not a citizenship or immigration status")
    record = {"output_id": output.output_id, "booking_id": output.booking_id, "person_id": str(detail["person_id"]),
              "status": detail["status"], "effective_at": output.effective_at, "decided_at": decided_at,
              "regime": output.regime, "rule_id": output.rule_id, "citation": output.citation,
              "evidence": list(output.evidence)}
    assert tuple(record) == STATUS_FEED_FIELDS
    return record


def instant_key(value: Any) -> str:
    """A value as it enters an output id: instants by the instant (UTC), never by the offset they were written in."""
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else str(value)


def _output_id(o: Output) -> str:
    # Every field but the citation (which the rule id names) and the emission time: two outputs with one id say the
    # same thing, so a correction that withdraws an id withdraws exactly what was said.
    # A detail left empty says nothing, and does not enter the id (a field added later keeps the ids of outputs that
    # do not use it).
    parts = [o.type_name, o.booking_id, o.rule_id, instant_key(o.effective_at), o.discriminator, o.regime, o.reason,
             *(f"{k}={instant_key(v)}" for k, v in o.detail if v != ()), *sorted(o.evidence)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True, order=True)
class Deadline:
    """A moment the core wants to be woken at for a booking; `generation` tells a stale one from a live one."""

    due_at: datetime
    booking_id: str
    kind: str
    generation: int


class Emitter:
    """Builds outputs for one booking under one regime, looking citations up in the rule book."""

    def __init__(self, book: RuleBook, booking_id: str) -> None:
        """Bind the rule book and the booking."""
        self.book, self.booking_id = book, booking_id

    def _make(self, type_name: str, at: datetime, regime: str, rule_id: str, reason: str,
              evidence: tuple[str, ...], detail: dict[str, Any], discriminator: str = "") -> Output:
        citation, says = self.book.rule(rule_id).in_regime(regime)
        named = tuple(sorted(set(evidence)))
        if len(named) > MAX_EVIDENCE:  # the engine makes this booking's review instead, in decide as in the worker
            raise OutputTooLarge(f"a {type_name} under {rule_id} would rest on {len(named):,} events; an output "
                                 f"names at most {MAX_EVIDENCE:,}")
        return Output(type_name, self.booking_id, at, regime, rule_id, citation, reason or says, named,
                      tuple(detail.items()), discriminator)

    def decision(self, at: datetime, regime: str, kind: str, outcome: str, rule_id: str, evidence: tuple[str, ...],
                 reason: str = "", until: datetime | None = None, discriminator: str = "") -> Output:
        """A legal decision (kind HOLD, NOTIFICATION, TRANSFER, RELEASE, ...)."""
        return self._make(DECISION, at, regime, rule_id, reason, evidence,
                          {"kind": kind, "outcome": outcome, "until": until}, discriminator)

    def unsettled(self, at: datetime, regime: str, kind: str, unsettled: tuple[tuple[str, str], ...],
                  discriminator: str = "") -> tuple[Output, ...]:
        """The review a denial owes when facts on record could not be classified (none when every fact could)."""
        if not unsettled:
            return ()
        what = "; ".join(item for _, item in unsettled)
        return (self.decision(at, regime, "REVIEW", "HUMAN_REVIEW", UNSETTLED_RULE, tuple(e for e, _ in unsettled),
                              f"the {kind} decision is DENIED on what is known; a human must settle: {what}",
                              discriminator=f"{kind}:{discriminator}"),)

    def command(self, at: datetime, regime: str, directive: str, rule_id: str, evidence: tuple[str, ...],
                reason: str = "", until: datetime | None = None) -> Output:
        """A directive for the jail (RELEASE, HOLD_UNTIL, TRANSFER_TO_IMMIGRATION)."""
        return self._make(COMMAND, at, regime, rule_id, reason, evidence, {"directive": directive, "until": until})

    def violation(self, at: datetime, regime: str, kind: str, rule_id: str, evidence: tuple[str, ...],
                  reason: str = "") -> Output:
        """A compliance violation."""
        return self._make(VIOLATION, at, regime, rule_id, reason, evidence, {"kind": kind})

    def notice(self, at: datetime, regime: str, kind: str, rule_id: str, evidence: tuple[str, ...],
               recipients: tuple[str, ...], will_comply: bool | None = None, reason: str = "",
               parts: tuple[tuple[str, bool], ...] = ()) -> Output:
        """A TRUTH Act notice owed to the person (and their attorney or designee).

        For a request copy, `parts` answers each part the request asks (HOLD, NOTIFY, TRANSFER): whether the jail
        intends to comply with it; `will_comply` says whether it intends to comply with any.
        """
        return self._make(NOTICE, at, regime, rule_id, reason, evidence,
                          {"kind": kind, "recipients": tuple(recipients), "will_comply": will_comply,
                           "parts": tuple(parts)})

    def correction(self, at: datetime, regime: str, rule_id: str, evidence: tuple[str, ...],
                   supersedes: tuple[str, ...], reason: str) -> Output:
        """Outputs sent earlier for the booking that a late event has withdrawn."""
        return self._make(CORRECTION, at, regime, rule_id, reason, evidence, {"supersedes": tuple(supersedes)})

    def status(self, at: datetime, regime: str, person_id: str, status: str, evidence: tuple[str, ...]) -> Output:
        """A status-only fact (8 U.S.C. 1373): citizenship or immigration status, nothing else."""
        return self._make(STATUS, at, regime, "status.1373", "", evidence,
                          {"person_id": person_id, "status": status})
