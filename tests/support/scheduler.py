"""Just enough of Faust's app and aiokafka's consumer for `EventTimeScheduler`: positions and high watermarks."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from streams.worker.scheduling import EventTimeScheduler, merged_for

_Record = namedtuple("_Record", "offset timestamp key value headers")


def Record(offset: int, timestamp: int | None = None, key: bytes | None = None, value: bytes | None = None,  # noqa: N802
           headers: Any = (), occurred_ms: int | None = None) -> Any:
    """A fetched record; its value begins as an event's Avro bytes do, with occurred_at (default: the timestamp)."""
    at = timestamp if occurred_ms is None else occurred_ms
    if value is None and at is not None:
        value = b"\x02e" + _zigzag(at)
    return _Record(offset, timestamp, key, value, headers)


def _zigzag(n: int) -> bytes:
    z, out = (n << 1) ^ (n >> 63), bytearray()
    while True:
        byte, z = z & 0x7F, z >> 7
        if z:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class State:
    """A topic-partition's fetch position and high watermark, as aiokafka keeps them."""

    def __init__(self, position: int, highwater: int) -> None:
        self.position, self.highwater, self.has_valid_position = position, highwater, True


class FakeApp:
    """An app whose consumer answers `state_value(tp)` from `states`."""

    def __init__(self, states: dict[Any, State]) -> None:
        self.states = states
        assignment = type("Assignment", (), {"state_value": lambda _, tp: states.get(tp)})()
        subscription = type("S", (), {"subscription": type("T", (), {"assignment": assignment})()})()
        aiokafka = type("C", (), {"_subscription": subscription})()
        thread = type("Th", (), {"_ensure_consumer": lambda _: aiokafka})()
        self.consumer = type("F", (), {"_thread": thread})()
        self.consumer_generation_id = 1


def scheduler(states: dict[Any, State], clock: str, case_topics: tuple[str, ...]) -> EventTimeScheduler:
    """A scheduler bound to a fake app."""
    cls, _ = merged_for(case_topics, clock)
    cls.app = FakeApp(states)
    return cls()
