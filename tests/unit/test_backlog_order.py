"""A partition's topics read in any interleaving give the outputs `decide` gives: CaseWork holds events back
until every topic still being read has caught up to their time, then applies them in event-time order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from streams import clets
from streams import events as ev
from streams.casework import CaseWork
from streams.codec import Coordinates
from streams.config import Settings
from streams.decide import Processor, run
from streams.law import rulebook
from streams.produce import parse_line
from streams.topics import Topics
from tests.scenarios.loader import CASES, load

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _cross_topic_ties(path) -> bool:
    """Events of one instant on two topics: their order is the order they are read in, live as in `decide`."""
    topics = Topics(Settings())
    seen: dict[str, str] = {}
    for event in load(path).events:
        topic = topics.for_event(event["type"]).name
        if seen.setdefault(event["occurred_at"], topic) != topic:
            return True
    return False


NAMES = sorted(p.stem for p in CASES.glob("*.yaml")
               if "CletsQueryMade" not in p.read_text() and not _cross_topic_ties(p))


def _comparable(record: dict) -> tuple:
    def plain(v):
        return v.astimezone(UTC).isoformat() if isinstance(v, datetime) else tuple(v) if isinstance(v, list) else v
    return tuple(sorted((k, plain(v)) for k, v in record.items() if k != "decided_at"))


@pytest.mark.parametrize("seed", range(12))
def test_any_interleaving_of_a_partitions_topics_gives_what_decide_gives(codec, seed):
    rnd = random.Random(seed)
    lines = []
    for name in rnd.sample(NAMES, 6):
        lines += [parse_line(i, t, codec) for i, t in enumerate(load(CASES / f"{name}.yaml").jsonl().splitlines(), 1)]
    lines.sort(key=lambda line: line.record["occurred_at"])
    end = lines[-1].record["occurred_at"] + timedelta(days=10)
    expected = [e.record for e in run(Processor(rulebook.load(), clets.load_rows()),
                                      [ev.from_record(line.type_name, line.record) for line in lines], end)]
    queues: dict[str, list] = {}
    for line in lines:
        message = codec.encode(line.type_name, line.record)
        queues.setdefault(message.topic, []).append(message)
    clock = codec.encode("ClockTicked", {"event_id": "tick", "occurred_at": end, "source": "t", "partition": 0})
    queues.setdefault(clock.topic, []).insert(0, clock)  # a tick from after the outage, read whenever
    work, store, got, offsets = CaseWork(rulebook.load(), codec, "t"), {}, [], {}
    while any(queues.values()):
        topic = rnd.choice([t for t, q in queues.items() if q])
        message = queues[topic].pop(0)
        offsets[topic] = offsets.get(topic, -1) + 1
        lagging = [t for t, q in queues.items() if q and t != clock.topic]  # the clock never holds back
        for _, result in work.receive(store, Coordinates(topic, 0, offsets[topic]), message.key, message.value,
                                      message.headers, NOW, lagging):
            store.update(result.writes)
            got += [codec.decode(m.value, m.headers, Coordinates(m.topic, 0, 0), m.key).record
                    for m in result.messages]
    assert work.held() == 0
    assert sorted(map(_comparable, got)) == sorted(map(_comparable, expected))


def test_without_lagging_topics_events_go_through_in_arrival_order(codec):
    at = datetime(2019, 6, 1, tzinfo=UTC)
    work = CaseWork(rulebook.load(), codec, "t")
    late = codec.encode("Released", {"event_id": "r", "occurred_at": at, "source": "t", "booking_id": "B"})
    out = work.receive({}, Coordinates(late.topic, 0, 0), late.key, late.value, late.headers, NOW, (), token="t1")
    assert [token for token, _ in out] == ["t1"] and work.held() == 0


def test_the_clock_does_not_hold_back_events_stamped_ahead_of_it(codec):
    """Simulated traffic runs ahead of the wall clock: its events go through though ticks keep arriving."""
    ahead = datetime(2031, 1, 1, tzinfo=UTC)
    work = CaseWork(rulebook.load(), codec, "t")
    tick = codec.encode("ClockTicked", {"event_id": "k", "occurred_at": NOW, "source": "t", "partition": 0})
    due = codec.encode("ReleaseBecameDue", {"event_id": "d", "occurred_at": ahead, "source": "t",
                                            "booking_id": "B", "reason": "BAIL_POSTED", "release_at": ahead})
    assert len(work.receive({}, Coordinates(tick.topic, 0, 0), tick.key, tick.value, tick.headers, NOW)) == 1
    out = work.receive({}, Coordinates(due.topic, 0, 0), due.key, due.value, due.headers, NOW, lagging=())
    assert [r.event_type for _, r in out] == ["ReleaseBecameDue"]


def test_an_event_held_too_long_goes_through(codec):
    from streams.casework import MAX_WAIT

    work = CaseWork(rulebook.load(), codec, "t")
    at = datetime(2019, 6, 1, tzinfo=UTC)
    first = codec.encode("Released", {"event_id": "r1", "occurred_at": at, "source": "t", "booking_id": "B"})
    court = codec.topics.name("court")
    assert work.receive({}, Coordinates(first.topic, 0, 0), first.key, first.value, first.headers, NOW,
                        lagging=[court]) == []
    second = codec.encode("Released", {"event_id": "r2", "occurred_at": at, "source": "t", "booking_id": "C"})
    out = work.receive({}, Coordinates(second.topic, 0, 1), second.key, second.value, second.headers,
                       NOW + MAX_WAIT + timedelta(seconds=1), lagging=[court])
    assert [r.event.booking_id for _, r in out] == ["B"] and work.held() == 1
