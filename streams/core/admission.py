"""What an input event must be before anything is decided on it: the limits `produce` and the worker share.

A message that passes the codec (its headers, schema and key) is still refused when it is larger than an event can
reasonably be, when its `occurred_at` lies outside the window history and the clock allow, or when any instant,
text or list in it lies outside what the law's code can work with. Each refusal names the field and the limit, so
the dead letter (or `produce`'s error line) says what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streams.core.law.places import Places
from streams.errors import EventValidationError

#: the largest input message taken (its Avro bytes); a booking record with a few hundred charges is under 64 KiB
MAX_EVENT_BYTES = 128 * 1024
#: the instants and dates any field may carry: convictions reach back decades, deadlines years ahead
EARLIEST_FIELD, LATEST_FIELD = datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
#: the longest text and the longest list any field may carry
MAX_TEXT, MAX_ITEMS = 4096, 1000


class Refused(EventValidationError):
    """An event refused before it is decided: `code` is the dead letter's reason code."""

    def __init__(self, code: str, reason: str) -> None:
        """The reason code and the plain reason."""
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class TimeWindow:
    """The instants an event may carry: history may be any age from `earliest`, nothing later than `latest`."""

    earliest: datetime
    latest: datetime
    tolerance: timedelta

    @classmethod
    def around(cls, now: datetime, earliest: datetime, tolerance: timedelta) -> TimeWindow:
        """From `earliest` to `now` plus the tolerance."""
        return cls(earliest, now + tolerance, tolerance)

    def check(self, record: Mapping[str, Any]) -> None:
        """Raise Refused when the record's occurred_at lies outside the window."""
        at = record.get("occurred_at")
        if not isinstance(at, datetime):
            return
        if at < self.earliest:
            raise Refused("OUT_OF_RANGE", f"occurred_at {at.isoformat()} is before "
                                          f"{self.earliest.date().isoformat()}, the earliest date accepted "
                                          "(DT_EARLIEST_EVENT)")
        if at > self.latest:
            minutes = self.tolerance.total_seconds() / 60
            raise Refused("FUTURE_EVENT", f"occurred_at {at.isoformat()} is in the future: more than {minutes:g} "
                                          f"minutes past the clock {(self.latest - self.tolerance).isoformat()} "
                                          "(DT_FUTURE_TOLERANCE); a wrong clock would move deadlines")


def check_size(value: bytes | None) -> None:
    """Raise Refused when a message is larger than any event can be."""
    if value is not None and len(value) > MAX_EVENT_BYTES:
        raise Refused("TOO_LARGE", f"the message is {len(value):,} bytes; an event may be at most "
                                   f"{MAX_EVENT_BYTES:,} bytes")


def check_fields(record: Mapping[str, Any]) -> None:
    """Raise Refused for the first instant, text or list in the record outside what the law's code works with."""
    for name, value in record.items():
        problem = _problem(value)
        if problem is not None:
            raise Refused(problem[0], f"{name}{problem[1]}")


_TEXT, _ITEMS = f"; at most {MAX_TEXT:,}", f"; at most {MAX_ITEMS:,}"
_OUTSIDE = f" lies outside {EARLIEST_FIELD.year}-{LATEST_FIELD.year - 1}"


def _problem(value: Any) -> tuple[str, str] | None:
    """What is wrong with a value, as (reason code, the rest of the sentence after its path), or None.

    Every event is checked, so the path is put together only for the value that fails.
    """
    kind = type(value)
    if kind is str:
        return None if len(value) <= MAX_TEXT else ("INVALID_FIELD", f" is {len(value):,} characters long{_TEXT}")
    if kind is datetime or isinstance(value, datetime):
        return None if EARLIEST_FIELD <= value < LATEST_FIELD else ("OUT_OF_RANGE", f" {value.isoformat()}{_OUTSIDE}")
    if kind is list or kind is tuple:
        if len(value) > MAX_ITEMS:
            return "INVALID_FIELD", f" has {len(value):,} items{_ITEMS}"
        for i, item in enumerate(value):
            problem = _problem(item)
            if problem is not None:
                return problem[0], f"[{i}]{problem[1]}"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = _problem(item)
            if problem is not None:
                return problem[0], f".{key}{problem[1]}"
        return None
    if isinstance(value, date) and not EARLIEST_FIELD.date() <= value < LATEST_FIELD.date():
        return "OUT_OF_RANGE", f" {value.isoformat()}{_OUTSIDE}"
    return None


#: BookingRecorded's schema default for a record that leaves `state` out
SCHEMA_STATE = "CA"


def check_jurisdiction(type_name: str, record: Mapping[str, Any], places: Places) -> dict[str, Any] | None:
    """Raise Refused for a booking record whose state or county is unknown.

    For a known one spelled otherwise than its code and its county list write it, returns the record with them so
    written (else None). A jurisdiction is never guessed: an unknown state or county would put the booking under
    another state's law or in another county's policy.
    """
    if type_name != "BookingRecorded":
        return None
    given = record.get("state")
    state = places.state(SCHEMA_STATE if given is None else given)
    if state is None:
        raise Refused("INVALID_FIELD", f"state {given!r} is not a US state, district or territory: give its "
                                       f"two-letter USPS code ({places.citations.get('codes', 'USPS')})")
    county = places.county(state, record.get("county"))
    if county is None:
        raise Refused("INVALID_FIELD", f"county {record.get('county')!r} is not a county of {state} "
                                       f"({places.citations.get('counties', 'the state list')})")
    if (state, county) == (given or SCHEMA_STATE, record.get("county")):
        return None
    return {**record, "state": state, "county": county}
