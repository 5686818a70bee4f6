"""Which regime governs a jurisdiction at an instant, which overlays apply, and which local policies forbid what.

The regime is picked by the instant the law acts, never by the booking date (spec (a.2) step 2).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from streams.core.law.rulebook import Policy, RuleBook, Span
from streams.errors import RuleBookError


def regime_at(book: RuleBook, state: str, at: datetime) -> Span:
    """The regime in force in `state` at `at` (regimes cover all time, so there is always one)."""
    return book.jurisdiction(state).regime_at(at)


def overlay_active(book: RuleBook, state: str, overlay_id: str, at: datetime) -> bool:
    """True when an overlay (e.g. CA_TRUTH, the TRUTH Act from 2017-01-01) applies in `state` at `at`."""
    return any(span.id == overlay_id and span.covers(at) for span in book.jurisdiction(state).overlays)


def forbidding_policy(book: RuleBook, state: str, county: str | None, kind: str, at: datetime,
                      met: frozenset[str] = frozenset()) -> Policy | None:
    """A local policy in force at `at` that forbids `kind` (HOLD, NOTIFY, TRANSFER) in the county, if any.

    A policy none of whose exceptions (`Policy.unless`) is among those `met` forbids; one whose exception is met
    leaves the decision to state law.
    """
    for policy in book.policies:
        if policy.state == state and policy.county == county and kind in policy.forbids and at >= policy.start \
                and not policy.unless & met:
            return policy
    return None


def regime_ids(book: RuleBook) -> tuple[str, ...]:
    """Every regime the rule book knows, in every jurisdiction and the federal baseline."""
    spans = [s for j in (*book.jurisdictions.values(), book.default) for s in j.regimes]
    return tuple(dict.fromkeys(s.id for s in spans))


def as_if(book: RuleBook, regime_id: str) -> RuleBook:
    """The rule book with one regime in force everywhere, at every instant (a counterfactual for audits).

    Only which regime governs changes: its rules, citations, overlays (the TRUTH Act keeps its own dates) and
    local policies are the book's own. Raises RuleBookError naming the known regimes for an unknown id.
    """
    spans = {s.id: s for j in (*book.jurisdictions.values(), book.default) for s in j.regimes}
    if regime_id not in spans:
        raise RuleBookError(f"no regime {regime_id!r}; the rule book knows {', '.join(regime_ids(book))}")
    always = replace(spans[regime_id], start=None, end=None)
    return replace(book, jurisdictions={code: replace(j, regimes=(always,)) for code, j in book.jurisdictions.items()},
                   default=replace(book.default, regimes=(always,)),
                   baseline={code: replace(j, regimes=(always,)) for code, j in book.baseline.items()})
