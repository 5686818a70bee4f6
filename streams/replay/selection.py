"""What a replay asks for: which bookings (by id, person, facility, county) and which event-time window."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from streams.errors import ConfigError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_bound(text: str, zone: ZoneInfo) -> datetime:
    """An ISO date (midnight in `zone`) or instant (an offset, or else local to `zone`) as an aware datetime."""
    try:
        if _DATE.match(text):
            return datetime.combine(date.fromisoformat(text), time(), zone)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{text!r} is neither an ISO date (2017-01-01) nor an ISO instant "
                          "(2017-01-01T08:00:00-08:00)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=zone)


@dataclass(frozen=True)
class Selection:
    """Bookings and a half-open event-time window [start, end): an event at `start` is in, one at `end` is out.

    A booking is selected when its id is listed, or when its booking record matches every attribute given
    (person, facility, county). With neither ids nor attributes, every booking is selected.
    """

    booking_ids: frozenset[str] = frozenset()
    person_id: str | None = None
    facility: str | None = None
    county: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    #: how far before `start` to read, so that bookings begun earlier are read from their booking record on;
    #: None reads from the beginning of each partition
    lookback: timedelta | None = timedelta(days=365)
    #: how long after `end` to keep reading, for events written late (after later events of their partition);
    #: None reads to the end of each partition
    late: timedelta | None = timedelta(days=30)

    def __post_init__(self) -> None:
        """Refuse an empty or inverted window."""
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ConfigError(f"the window is empty: --to {self.end.isoformat()} is not after "
                              f"--from {self.start.isoformat()}")

    @property
    def by_attributes(self) -> bool:
        """True when bookings are chosen by what their booking record says."""
        return any(v is not None for v in (self.person_id, self.facility, self.county))

    @property
    def only_listed(self) -> bool:
        """True when only listed bookings are asked for (their partitions suffice)."""
        return bool(self.booking_ids) and not self.by_attributes

    def matches(self, booking: Mapping[str, Any]) -> bool:
        """True when a booking record (as decoded, a `BookingRecorded` record) selects its booking."""
        if booking["booking_id"] in self.booking_ids:
            return True
        if not self.by_attributes:
            return not self.booking_ids
        return ((self.person_id is None or booking["person_id"] == self.person_id)
                and (self.facility is None or booking["facility"].casefold() == self.facility.casefold())
                and (self.county is None or booking["county"].casefold() == self.county.casefold()))

    def in_window(self, at: datetime) -> bool:
        """True when an instant falls inside the window."""
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)

    @property
    def read_from(self) -> datetime | None:
        """The earliest event time read (None: the beginning)."""
        if self.start is None or self.lookback is None:
            return None
        return self.start - self.lookback

    @property
    def read_to(self) -> datetime | None:
        """The event time reading stops at (None: the end)."""
        if self.end is None or self.late is None:
            return None
        return self.end + self.late
