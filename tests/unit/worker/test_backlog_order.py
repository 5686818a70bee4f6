"""A partition's topics fetched in any order and any batches give the outputs `decide` gives: the scheduler
merges them by event time (waiting for a topic with records not yet fetched) and CaseWork applies them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from faust.types import TP

from streams.core import clets
from streams.core import events as ev
from streams.core.law import rulebook
from streams.tools.decide import Processor, run
from streams.wire.codec import Coordinates
from streams.wire.jsonlines import parse_line
from streams.wire.topics import CASE_INPUTS
from streams.worker.step import CaseWork
from tests.scenarios.loader import CASES, load
from tests.support.scheduler import Record, State, scheduler
from tests.support.step import comparable

NOW = datetime(2030, 1, 1, tzinfo=UTC)


NAMES = sorted(p.stem for p in CASES.glob("*.yaml") if "CletsQueryMade" not in p.read_text())



@pytest.mark.parametrize("seed", range(12))
def test_any_fetch_order_of_a_partitions_topics_gives_what_decide_gives(codec, seed):
    rnd = random.Random(seed)
    lines = []
    for name in rnd.sample(NAMES, 6):
        lines += [parse_line(i, t, codec) for i, t in enumerate(load(CASES / f"{name}.yaml").jsonl().splitlines(), 1)]
    lines.sort(key=lambda line: line.record["occurred_at"])
    end = lines[-1].record["occurred_at"] + timedelta(days=10)
    expected = [e.record for e in run(Processor(rulebook.load(), clets.load_rows()),
                                      [ev.from_record(line.type_name, line.record) for line in lines], end)]
    logs: dict[TP, list[Record]] = {}
    clock = codec.encode("ClockTicked", {"event_id": "tick", "occurred_at": end, "source": "t", "partition": 0})
    for message in [clock, *(codec.encode(line.type_name, line.record) for line in lines)]:
        log = logs.setdefault(TP(message.topic, 0), [])  # the tick was written first, during the outage
        log.append(Record(len(log), message.timestamp_ms, message.key, message.value, message.headers))
    states = {tp: State(0, len(log)) for tp, log in logs.items()}
    merge = scheduler(states, codec.topics.name("clock"), tuple(codec.topics.name(t) for t in CASE_INPUTS))
    work, store, got = CaseWork(rulebook.load(), codec, "t"), {}, []
    while True:
        batch = {}
        for tp, state in states.items():  # each fetch returns some records of some topics
            if state.position < state.highwater and rnd.random() < 0.5:
                n = rnd.randint(1, 4)
                batch[tp] = logs[tp][state.position:state.position + n]
                state.position += len(batch[tp])
        for tp, r in merge.iterate(batch):
            result = work.handle(store, Coordinates(tp.topic, 0, r.offset), r.key, r.value, r.headers, NOW)
            store.update(result.writes)
            got += [codec.decode(m.value, m.headers, Coordinates(m.topic, 0, 0), m.key).record
                    for m in result.messages]
        if all(s.position == s.highwater for s in states.values()) and not batch:
            break
    assert sorted(map(comparable, got)) == sorted(map(comparable, expected))


def test_arrival_order_alone_can_get_it_wrong(codec):
    """Without the scheduler a later tick taken first fires a deadline before the input that precedes it."""
    at = datetime(2019, 6, 3, 16, tzinfo=UTC)
    work = CaseWork(rulebook.load(), codec, "t")
    due = codec.encode("ReleaseBecameDue", {"event_id": "d", "occurred_at": at, "source": "t", "booking_id": "B",
                                            "reason": "BAIL_POSTED", "release_at": at})
    released = codec.encode("Released", {"event_id": "r", "occurred_at": at + timedelta(minutes=10), "source": "t",
                                         "booking_id": "B"})
    tick = codec.encode("ClockTicked", {"event_id": "k", "occurred_at": at + timedelta(days=1), "source": "t",
                                        "partition": 0})
    store, kinds = {}, []
    for i, m in enumerate((due, tick, released)):
        result = work.handle(store, Coordinates(m.topic, 0, i), m.key, m.value, m.headers, NOW)
        store.update(result.writes)
        kinds += [o.type_name for o in result.outputs]
    assert "Violation" in kinds  # an OVERDUE_RELEASE that `decide` would not give
