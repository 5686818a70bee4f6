"""What the law looks at about a person in custody, each fact with the id of the event that established it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from streams.core.events import Charge, Conviction


@dataclass(frozen=True)
class Finding:
    """A magistrate's PC 872 holding-to-answer on a charge."""

    charge: Charge
    on: date
    event_id: str


@dataclass(frozen=True)
class Facts:
    """The legally relevant facts of one booking, as known so far."""

    #: the booking's state (two-letter code); None until its booking record is seen
    state: str | None = None
    county: str | None = None
    charges: tuple[Charge, ...] = ()
    charges_event: str | None = None
    convictions: tuple[tuple[Conviction, str], ...] = ()
    registrant_event: str | None = None
    findings: tuple[Finding, ...] = ()
    federal_warrant_event: str | None = None
    citizen_event: str | None = None
    #: the criminal history records received: none means the history was not checked (or not sent), which is not
    #: the same as checked with nothing qualifying
    history_events: tuple[str, ...] = ()
