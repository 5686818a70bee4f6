"""The one engine for time: whatever the arrival order, the clock and the lateness of a booking's events, the
worker's step gives `decide`'s outputs, net of the corrections it sends; history loaded late and events at one
instant taken in the engine's order give them exactly, with no correction at all."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core import clets, engine
from streams.core import events as ev
from streams.core.law import rulebook
from streams.tools.decide import Processor, run
from streams.wire.jsonlines import parse_line
from tests.scenarios.loader import load_all
from tests.support.step import WALL, Step, comparable
from tests.unit.core.test_properties import histories

BOOK, ROWS = rulebook.load(), clets.load_rows()
SCENARIOS = [s for s in load_all() if all(e["type"] not in ("CletsQueryMade", "AgencyAgreementRecorded")
                                          for e in s.events)]


def decided(events: list[ev.Event], until: datetime | None) -> list[tuple]:
    """`decide`'s outputs, comparable."""
    return sorted(comparable(e.record) for e in run(Processor(BOOK, ROWS), events, until))


def standing(step: Step) -> list[tuple]:
    return sorted(comparable(o.record) for o in step.standing())


def _lines(scenario, codec):
    return [parse_line(i, t, codec) for i, t in enumerate(scenario.jsonl().splitlines(), 1)]


def _events(lines) -> list[ev.Event]:
    return [ev.from_record(line.type_name, line.record) for line in lines]


# --- history loaded late ------------------------------------------------------------------------------------


def _live(n: int, at: datetime) -> tuple[str, dict]:
    """Live traffic on the same partition: a booking of today."""
    return "BookingRecorded", {"event_id": f"live-{n}", "occurred_at": at, "source": "jail", "booking_id": f"L{n}",
                               "person_id": f"PL{n}", "county": "Fresno", "facility": "Fresno County Jail",
                               "charges": [{"statute": "PC 459", "level": "FELONY"}]}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_a_scenario_loaded_years_late_into_a_running_partition_gets_exactly_decides_outputs(scenario, codec):
    lines = sorted(_lines(scenario, codec), key=lambda line: line.record["occurred_at"])
    step = Step(codec)
    now = WALL - timedelta(hours=1)
    step.tick(now)  # the partition is live, today
    for n, line in enumerate(lines):
        now += timedelta(seconds=1)
        step.send(*_live(n, now))
        step.tick(now)
        step.send(line.type_name, line.record)  # an archive, years old
    end = now + timedelta(minutes=10)  # past the settle time
    step.tick(end)
    mine = [o for o in step.standing() if o.record["booking_id"] == scenario.booking]
    assert not step.corrections(), f"corrections for a booking loaded in order: {step.corrections()}"
    assert sorted(comparable(o.record) for o in mine) == decided(_events(lines), end)


def test_a_late_loaded_hold_is_not_released_before_its_own_later_events(codec):
    """S02 loaded into a partition at 2026: the hand-over during the hold, not a release and a violation."""
    s02 = next(s for s in SCENARIOS if s.law == "S02")
    step = Step(codec)
    step.tick(WALL - timedelta(minutes=10))
    for line in sorted(_lines(s02, codec), key=lambda line: line.record["occurred_at"]):
        step.send(line.type_name, line.record)
    assert step.outputs == []  # history arriving is kept until it has all arrived
    step.tick(WALL)
    assert not step.dead
    kinds = [(o.type_name, o.record.get("kind") or o.record.get("directive"), o.record.get("outcome"))
             for o in step.outputs]
    assert ("CustodyCommand", "TRANSFER_TO_IMMIGRATION", None) in kinds
    assert not [k for k in kinds if k[0] == "Violation" or k[1] == "RELEASE"], kinds


# --- the same instant, in every order ----------------------------------------------------------------------


def _booking(at: datetime, booking: str, prior: str | None) -> list[tuple[str, dict]]:
    convictions = [{"statute": prior, "level": "FELONY", "conviction_date": "2015-04-15"}] if prior else []
    base = {"source": "jail", "booking_id": booking}
    return [
        ("BookingRecorded", {**base, "event_id": f"{booking}-b", "occurred_at": at - timedelta(days=3),
                             "person_id": "P", "county": "Kern", "facility": "Kern County Jail",
                             "charges": [{"statute": "PC 459", "level": "FELONY"}]}),
        ("CriminalHistoryRecorded", {**base, "event_id": f"{booking}-h", "occurred_at": at - timedelta(days=3),
                                     "person_id": "P", "convictions": convictions}),
        ("DetainerLodged", {**base, "event_id": f"{booking}-d", "occurred_at": at - timedelta(days=2),
                            "detainer_id": "D", "form": "I247A", "authority": "I205",
                            "served_at": at - timedelta(days=2)}),
    ]


#: events of one booking at one minute, as a jail export writes them
SAME_INSTANT = {
    "release due, ICE arrives and hands over (Values Act, serious prior)": (
        datetime(2019, 6, 3, 16, tzinfo=UTC), "PC 211", ["ReleaseBecameDue", "IceArrived", "Transferred"]),
    "release due, ICE arrives and hands over (TRUST Act, serious prior)": (
        datetime(2016, 6, 3, 16, tzinfo=UTC), "PC 211", ["ReleaseBecameDue", "IceArrived", "Transferred"]),
    "release due, ICE arrives, released (no basis)": (
        datetime(2019, 6, 3, 16, tzinfo=UTC), None, ["ReleaseBecameDue", "IceArrived", "Released"]),
    "charge dismissed, release due, inquiry, released": (
        datetime(2017, 3, 1, 18, tzinfo=UTC), "PC 211", ["ChargeDismissed", "ReleaseBecameDue", "IceInquiryReceived",
                                                         "Released"]),
}


def _at_once(type_name: str, booking: str, at: datetime) -> dict:
    base = {"event_id": f"{booking}-{type_name}", "occurred_at": at, "source": "jail", "booking_id": booking}
    extra = {"ReleaseBecameDue": {"reason": "BAIL_POSTED", "release_at": at},
             "IceArrived": {"agency": "ICE ERO", "authority": "I205"},
             "Transferred": {"destination": "IMMIGRATION_AUTHORITY", "agency": "ICE ERO"},
             "Released": {}, "ChargeDismissed": {"statute": "PC 459"},
             "IceInquiryReceived": {"inquiry_id": "Q", "agency": "ICE", "items": ["RELEASE_DATE"]}}[type_name]
    return {**base, **extra}


@pytest.mark.parametrize("case", sorted(SAME_INSTANT))
def test_events_at_one_instant_give_one_answer_in_every_order(case, codec):
    at, prior, types = SAME_INSTANT[case]
    before = _booking(at, "B", prior)
    answers, worker = set(), set()
    for order in itertools.permutations(types):
        messages = before + [(t, _at_once(t, "B", at)) for t in order]
        events = [ev.from_record(t, parse_line(0, _json(codec, t, r), codec).record) for t, r in messages]
        answers.add(tuple(decided(events, at + timedelta(days=3))))
        step = Step(codec)
        for t, r in messages:
            step.send(t, r)
        step.tick(at + timedelta(days=3))
        worker.add(tuple(standing(step)))
        if list(order) == sorted(order, key=engine.PHASE.__getitem__):
            assert not step.corrections(), f"{order}: a correction for events that came in the engine's order"
    assert len(answers) == 1, f"decide gave {len(answers)} different answers over {len(types)}! orders"
    assert worker == answers, "the worker's outputs net of corrections depend on the arrival order"


def _json(codec, type_name: str, record: dict) -> str:
    import json

    from streams.wire.schemas import to_json

    return json.dumps({"type": type_name, **to_json(codec.registry.latest(type_name), record)})


def test_the_order_at_one_instant_follows_the_law():
    phases = [name for _, names in engine.SAME_INSTANT_ORDER for name in names]
    assert phases.index("IceArrived") < phases.index("ReleaseBecameDue") < phases.index("ELIGIBLE")
    assert phases.index("ELIGIBLE") < phases.index("Transferred") < phases.index("OVERDUE")
    assert phases.index("ChargeDismissed") < phases.index("ELIGIBLE")
    assert set(ev.EVENT_TYPES) <= set(phases), "an event type without a place at one instant"


# --- late events, random orders and clocks ------------------------------------------------------------------


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.function_scoped_fixture])


@PROPERTY
@given(histories(), st.randoms(use_true_random=False), st.integers(0, 4))
def test_any_arrival_order_and_clock_gives_decides_outputs_net_of_corrections(codec, events, rnd, duplicates):
    arrivals = list(events) + [rnd.choice(events) for _ in range(duplicates)]
    rnd.shuffle(arrivals)
    first, last = min(e.occurred_at for e in events), max(e.occurred_at for e in events)
    step = Step(codec, wall=datetime(2030, 1, 1, tzinfo=UTC))
    clock = first
    for event in arrivals:
        if rnd.random() < 0.4:  # time moves on while the events trickle in, sometimes far
            clock = min(clock + timedelta(hours=rnd.choice([1, 6, 30, 100])), last + timedelta(days=1))
            step.tick(clock)
        step.send(type(event).__name__, ev.to_record(event))
    end = last + timedelta(days=8)
    step.tick(end)
    assert standing(step) == decided(events, end)
    for correction in step.corrections():
        assert correction.record["supersedes"] and correction.record["evidence"]


def test_a_court_finding_a_day_late_is_corrected_in_its_place(codec):
    """Held to answer on a serious felony (TRUST Act): the release that went out without it is withdrawn."""
    at = datetime(2016, 5, 2, 17, tzinfo=UTC)
    booking = _booking(at, "C", None)
    step = Step(codec)
    for t, r in booking:
        step.send(t, r)
    step.send("ReleaseBecameDue", _at_once("ReleaseBecameDue", "C", at))
    step.tick(at + timedelta(hours=1))
    released = [o for o in step.outputs if o.record.get("directive") == "RELEASE"]
    assert released
    finding = {"event_id": "C-872", "occurred_at": at - timedelta(hours=3), "source": "court", "booking_id": "C",
               "charge": {"statute": "PC 211", "level": "FELONY"}, "finding_date": (at - timedelta(hours=3)).date()}
    late = step.send("ProbableCauseFound", finding)
    assert late[0].type_name == "Correction"
    assert released[0].record["output_id"] in late[0].record["supersedes"]
    assert late[0].record["evidence"] == ["C-872"] and late[0].record["rule_id"] == engine.CORRECTION_RULE
    assert any(o.record.get("kind") == "HOLD" and o.record.get("outcome") == "PERMITTED" for o in late[1:])
    events = [ev.from_record(t, r) for t, r in [*booking, ("ReleaseBecameDue", _at_once("ReleaseBecameDue", "C", at)),
                                                 ("ProbableCauseFound", finding)]]
    end = at + timedelta(days=5)
    step.tick(end)
    assert standing(step) == decided(events, end)


def test_state_per_open_case_stays_under_2_kb():
    from itertools import islice

    from streams.tools.simulate import SimConfig, Simulator
    from streams.worker.step import dump

    records = islice(Simulator(SimConfig(start=datetime(2019, 6, 2, 7, tzinfo=UTC), seed=3)).events(), 20_000)
    processor = Processor(BOOK, ROWS)
    for _ in run(processor, [ev.from_record(t, r) for _, t, r in records]):
        pass
    sizes = sorted(len(dump(b)) for b in processor.bookings.values() if b.case.left_custody is None)
    assert len(sizes) > 1000
    assert sizes[-1] < 2048, f"the largest open case takes {sizes[-1]} bytes (median {sizes[len(sizes) // 2]})"


# --- time you can trust -------------------------------------------------------------------------------------


def test_an_event_from_the_future_is_a_dead_letter_and_moves_nobodys_time(codec):
    step = Step(codec)
    at = WALL - timedelta(days=1)
    for t, r in _booking(at, "H", None):
        step.send(t, r)
    step.send("ReleaseBecameDue", {**_at_once("ReleaseBecameDue", "H", at), "release_at": at + timedelta(days=30)})
    future = {**_live(1, datetime(2100, 1, 1, tzinfo=UTC))[1]}
    assert step.send("BookingRecorded", future) == []
    assert [d.reason_code for d in step.dead] == ["FUTURE_EVENT"]
    assert "2100-01-01" in step.dead[0].reason
    step.send(*_live(2, WALL))
    assert [o for o in step.outputs if o.type_name in ("Violation", "CustodyCommand")] == []
    assert step.work.stream_time[0] == WALL
