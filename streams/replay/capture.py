"""What a replay read back from the topics: plain values, so the analysis of a capture loads no Kafka client."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from streams.core import events as ev
from streams.replay.selection import Selection
from streams.wire.codec import DeadLetter
from streams.wire.topics import partition_of


class Recorded(NamedTuple):
    """One record read back: where it was, its record timestamp (event time) and its decoded content."""

    topic_id: str
    partition: int
    offset: int
    at: datetime
    type_name: str
    record: dict[str, Any]


@dataclass
class Capture:
    """Everything a replay read: the selected bookings' inputs and outputs, and what the reading cost."""

    selection: Selection
    bookings: dict[str, ev.BookingRecorded] = field(default_factory=dict)
    inputs: dict[str, list[Recorded]] = field(default_factory=lambda: defaultdict(list))
    outputs: dict[str, list[Recorded]] = field(default_factory=lambda: defaultdict(list))
    #: the latest event time on each partition read (inputs of every booking, and the clock's last tick): how far
    #: the live workers' stream time had come, so a re-decision fires the same deadlines
    stream_time: dict[int, datetime] = field(default_factory=dict)
    #: records of selected bookings (or booking records) that cannot be decoded, with their coordinates
    unreadable: list[DeadLetter] = field(default_factory=list)
    records_read: Counter[str] = field(default_factory=Counter)
    decoded: int = 0
    partitions: tuple[int, ...] = ()
    #: (topic id, partition) -> (first offset read, offset reading stopped at)
    ranges: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    seconds: float = 0.0

    def booking_ids(self) -> list[str]:
        """Every booking with anything read, in id order."""
        return sorted(set(self.inputs) | set(self.outputs) | set(self.bookings))

    def partition(self, booking_id: str, partitions: int) -> int:
        """The partition a booking's records live on."""
        return partition_of(booking_id.encode(), partitions)
