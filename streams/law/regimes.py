"""Which regime governs a jurisdiction at an instant, which overlays apply, and which local policies forbid what.

The regime is picked by the instant the law acts, never by the booking date (spec (a.2) step 2).
"""

from __future__ import annotations

from datetime import datetime

from streams.law.rulebook import Policy, RuleBook, Span


def regime_at(book: RuleBook, state: str, at: datetime) -> Span:
    """The regime in force in `state` at `at` (regimes cover all time, so there is always one)."""
    return next(span for span in book.jurisdiction(state).regimes if span.covers(at))


def overlay_active(book: RuleBook, state: str, overlay_id: str, at: datetime) -> bool:
    """True when an overlay (e.g. CA_TRUTH, the TRUTH Act from 2017-01-01) applies in `state` at `at`."""
    return any(span.id == overlay_id and span.covers(at) for span in book.jurisdiction(state).overlays)


def forbidding_policy(book: RuleBook, state: str, county: str | None, kind: str, at: datetime) -> Policy | None:
    """A local policy in force at `at` that forbids `kind` (HOLD, NOTIFY, TRANSFER) in the county, if any."""
    for policy in book.policies:
        if policy.state == state and policy.county == county and kind in policy.forbids and at >= policy.start:
            return policy
    return None
