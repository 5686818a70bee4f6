"""The state of one booking's case and the result of one step: plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from streams.core.decisions import Deadline, Output
from streams.core.law.detainers import Detainer
from streams.core.law.facts import Facts

ELIGIBLE, HOLD_END, OVERDUE = "ELIGIBLE", "HOLD_END", "OVERDUE"
#: the check on a person held on detainers alone, with no release ever recorded as due
UNRECORDED = "UNRECORDED"

T = TypeVar("T")


def evolve(value: T, **changes: object) -> T:
    """A copy of a frozen dataclass with some fields changed: `dataclasses.replace` without re-running __init__.

    Every case step copies the case; `replace` re-validates all fields through __init__ and was the largest
    single cost of the core in profiles, while the fields here are already valid values.
    """
    new = object.__new__(type(value))
    new.__dict__.update(value.__dict__)
    new.__dict__.update(changes)
    return new


@dataclass(frozen=True)
class Interview:
    """A request to interview the person, and their answer on the written consent form once it is recorded.

    An answer recorded before its request is kept (`agency` empty, `requested_at` None) until the request comes.
    """

    request_id: str
    agency: str = ""
    requested_at: datetime | None = None
    request_event: str | None = None
    answer: str | None = None
    language: str | None = None
    answer_event: str | None = None


@dataclass(frozen=True)
class Case:
    """Everything the law needs to know about one booking; a value."""

    booking_id: str
    person_id: str = ""
    facts: Facts = Facts()
    detainers: tuple[Detainer, ...] = ()
    judicial: tuple[str, ...] = ()
    other_custody: tuple[tuple[str, str], ...] = ()
    basis_cleared: tuple[datetime, str] | None = None
    release_due: tuple[datetime, str] | None = None
    eligible_at: datetime | None = None
    ice: tuple[datetime, str, str] | None = None
    hold_until: datetime | None = None
    release_deadline: datetime | None = None
    transfer_permitted: bool = False
    left_custody: tuple[datetime, str] | None = None
    status: tuple[str, str] | None = None
    #: since when the person has been held on detainers alone (no charges, no other basis, no release due)
    detainers_alone_since: datetime | None = None
    #: requests to interview the person (TRUTH Act) and their answers
    interviews: tuple[Interview, ...] = ()
    generation: int = 0
    seen: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Transition:
    """The result of one step."""

    case: Case
    outputs: tuple[Output, ...] = ()
    deadlines: tuple[Deadline, ...] = ()


def new_case(booking_id: str, state: str | None = None, county: str | None = None) -> Case:
    """An empty case in a jurisdiction (used until the booking record tells the real one)."""
    return Case(booking_id, facts=Facts(state=state, county=county))


