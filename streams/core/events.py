"""Frozen dataclasses for the input events, mirrored field for field from schemas/ (a test keeps them equal).

Input events are past-tense facts. Instants are timezone-aware `datetime`s in UTC, dates are `date`s, and closed
vocabularies are the schema's enum symbols as strings.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Charge:
    """One charge on a booking."""

    statute: str
    level: str
    description: str | None = None
    domestic_violence: bool = False


@dataclass(frozen=True)
class Conviction:
    """A conviction in the meaning of PC 667(d)."""

    statute: str
    level: str
    conviction_date: date
    plea_date: date | None = None
    jurisdiction: str = "CALIFORNIA"
    sentenced_under_1170h: bool = False
    prop47_reduced: bool = False
    aggravated_felony: bool = False
    category_tags: tuple[str, ...] = ()
    #: outside California: the California statute it is equivalent to by its elements (PC 667(d)(2)), if found
    california_equivalent: str | None = None


@dataclass(frozen=True)
class Event:
    """Fields every input event carries; `key` names the field that is the Kafka key."""

    event_id: str
    occurred_at: datetime
    source: str


@dataclass(frozen=True)
class BookingEvent(Event):
    """An event about one booking, keyed by booking_id."""

    booking_id: str


@dataclass(frozen=True)
class BookingRecorded(BookingEvent):
    """A person was booked into a jail."""

    person_id: str
    county: str
    facility: str
    charges: tuple[Charge, ...]
    state: str = "CA"


@dataclass(frozen=True)
class ChargesAmended(BookingEvent):
    """The charges on a booking changed; the list replaces the previous one."""

    charges: tuple[Charge, ...]


@dataclass(frozen=True)
class CriminalHistoryRecorded(BookingEvent):
    """Prior convictions and registrations known for the booked person."""

    person_id: str
    convictions: tuple[Conviction, ...]
    sex_registrant: bool = False
    arson_registrant: bool = False


@dataclass(frozen=True)
class ReleaseBecameDue(BookingEvent):
    """The person is, or is scheduled to be, eligible for release (Gov. Code 7282(b))."""

    reason: str
    release_at: datetime
    case_ref: str | None = None


@dataclass(frozen=True)
class CustodyBasisRecorded(BookingEvent):
    """Another lawful basis for custody was placed (active) or cleared."""

    basis_id: str
    kind: str
    active: bool
    description: str | None = None


@dataclass(frozen=True)
class Released(BookingEvent):
    """The person left custody to the community."""

    note: str | None = None


@dataclass(frozen=True)
class Transferred(BookingEvent):
    """The person was handed to another agency."""

    destination: str
    agency: str
    authority: str = "NONE"


@dataclass(frozen=True)
class CitizenshipVerified(BookingEvent):
    """The jail recorded the person's citizenship or immigration status from documents it holds."""

    person_id: str
    status: str
    basis: str


@dataclass(frozen=True)
class ReleaseInfoShared(BookingEvent):
    """The jail told an immigration authority release or other information about the person."""

    recipient_agency: str
    items: tuple[str, ...]
    already_public: bool = False


@dataclass(frozen=True)
class FingerprintsSubmitted(BookingEvent):
    """The booking's fingerprints were submitted."""

    submission_id: str
    agency_ori: str


@dataclass(frozen=True)
class MatchReceived(BookingEvent):
    """A fingerprint match result came back."""

    submission_id: str
    result: str
    immigration_record: bool = False


@dataclass(frozen=True)
class DetainerLodged(BookingEvent):
    """An immigration authority lodged a detainer or related request."""

    detainer_id: str
    form: str
    authority: str = "NONE"
    issuing_office: str | None = None
    served_at: datetime | None = None
    federal_felony_warrant: bool = False


@dataclass(frozen=True)
class DetainerAmended(BookingEvent):
    """A lodged detainer was amended."""

    detainer_id: str
    form: str
    authority: str = "NONE"
    served_at: datetime | None = None


@dataclass(frozen=True)
class DetainerLifted(BookingEvent):
    """An immigration authority cancelled a detainer."""

    detainer_id: str
    reason: str | None = None


@dataclass(frozen=True)
class IceArrived(BookingEvent):
    """Immigration officers are present at the jail to take custody."""

    agency: str
    authority: str = "NONE"


@dataclass(frozen=True)
class IceInquiryReceived(BookingEvent):
    """An immigration authority asked for information about a person in custody."""

    inquiry_id: str
    agency: str
    items: tuple[str, ...]
    public_items: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutOfCustodyInquiryReceived(BookingEvent):
    """An immigration authority asked about a person not in custody; `booking_id` is the contact's reference."""

    state: str
    county: str
    inquiry_id: str
    agency: str
    items: tuple[str, ...]
    public_items: tuple[str, ...] = ()


@dataclass(frozen=True)
class InterviewRequested(BookingEvent):
    """An immigration authority asked to interview the person."""

    request_id: str
    agency: str


@dataclass(frozen=True)
class InterviewConsentRecorded(BookingEvent):
    """The person's answer on the written consent form to a request to interview them."""

    request_id: str
    answer: str
    language: str


@dataclass(frozen=True)
class StatusQuestionAsked(BookingEvent):
    """Jail or sheriff's staff asked the person about their immigration status."""

    question_id: str
    asked_by: str
    purpose: str = "UNSPECIFIED"


@dataclass(frozen=True)
class ProbableCauseFound(BookingEvent):
    """A magistrate held the person to answer (PC 872) on a charge."""

    charge: Charge
    finding_date: date


@dataclass(frozen=True)
class ConvictionRecorded(BookingEvent):
    """The person was convicted during this booking."""

    conviction: Conviction


@dataclass(frozen=True)
class ChargeDismissed(BookingEvent):
    """A charge was dismissed or not filed."""

    statute: str


@dataclass(frozen=True)
class JudicialWarrantIssued(BookingEvent):
    """Federal judicial process for a federal criminal immigration violation."""

    warrant_id: str
    kind: str
    court: str
    federal_statute: str


@dataclass(frozen=True)
class ClockTicked(Event):
    """Time advanced on one partition."""

    partition: int


@dataclass(frozen=True)
class CletsQueryMade(Event):
    """An agency user queried CLETS."""

    query_id: str
    agency_id: str
    user_id: str
    data_class: str
    subject_ref: str
    purpose: str = "UNSPECIFIED"


@dataclass(frozen=True)
class AgencyAgreementRecorded(Event):
    """The registry entry of one agency."""

    agency_id: str
    name: str
    kind: str
    clets_access: bool = True
    agreement_signed_at: datetime | None = None
    revoked_at: datetime | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (BookingRecorded, ChargesAmended, CriminalHistoryRecorded, ReleaseBecameDue, CustodyBasisRecorded,
                Released, Transferred, CitizenshipVerified, ReleaseInfoShared, FingerprintsSubmitted,
                MatchReceived, DetainerLodged, DetainerAmended, DetainerLifted, IceArrived, IceInquiryReceived,
                OutOfCustodyInquiryReceived,
                InterviewRequested, InterviewConsentRecorded, StatusQuestionAsked, ProbableCauseFound,
                ConvictionRecorded, ChargeDismissed,
                JudicialWarrantIssued, ClockTicked, CletsQueryMade, AgencyAgreementRecorded)
}


# --- conversion between records (what the codec reads and writes) and dataclasses ---------------------------


def from_record(type_name: str, record: dict[str, Any]) -> Event:
    """Build the dataclass of an event type from a decoded record."""
    return _build(EVENT_TYPES[type_name], record)


def to_record(event: Any) -> dict[str, Any]:
    """The record of a dataclass event, ready for the codec (tuples become lists)."""
    return {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}


def type_name(event: Any) -> str:
    """The event type of a dataclass instance (its class name, which is its schema's record name)."""
    return type(event).__name__


def _build(cls: type, record: dict[str, Any]) -> Any:
    return cls(**{name: convert(record[name]) for name, convert in _converters(cls) if name in record})


@functools.cache
def _converters(cls: type) -> tuple[tuple[str, Any], ...]:
    """Per field of a dataclass, the function that turns a record value into the field's value (built once)."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls))


def _converter(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = _converter(typing.get_args(hint)[0])
        return lambda value: None if value is None else tuple(item(v) for v in value)
    if origin in (typing.Union, types.UnionType):
        return _converter(next(a for a in typing.get_args(hint) if a is not type(None)))
    if dataclasses.is_dataclass(hint):
        return lambda value: None if value is None else _build(hint, value)
    return _identity


def _identity(value: Any) -> Any:
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value):
        return to_record(value)
    return value
