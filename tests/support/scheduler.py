"""Just enough of Faust's app and aiokafka's consumer for `EventTimeScheduler`: positions and high watermarks."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from streams.scheduling import EventTimeScheduler

Record = namedtuple("Record", "offset timestamp key value headers", defaults=(None, None, ()))


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
    EventTimeScheduler.app = FakeApp(states)
    EventTimeScheduler.clock_topic, EventTimeScheduler.case_topics = clock, case_topics
    return EventTimeScheduler()
