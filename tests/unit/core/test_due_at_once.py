"""A release due at the instant of the event that sets it comes at the release moment of that instant: after every
fact, request and arrival of the instant, before anyone leaves; live, as soon as a tick completes the instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.config import Settings
from streams.core import clets
from streams.core import events as ev
from streams.core.law import rulebook
from streams.tools.decide import Processor
from streams.wire.codec import Codec, Coordinates
from streams.wire.schemas import SchemaRegistry
from streams.wire.topics import Topics
from streams.worker.step import CaseWork

AT = datetime(2021, 3, 4, 18, 30, tzinfo=UTC)
LIVE = AT + timedelta(seconds=1)  # the worker's wall clock


def _due(booking: str, release_at: datetime) -> dict:
    return {"event_id": f"{booking}-due", "occurred_at": AT, "source": "t", "booking_id": booking,
            "reason": "BAIL_POSTED", "release_at": release_at}


def _arrived(booking: str) -> dict:
    return {"event_id": f"{booking}-ice", "occurred_at": AT, "source": "t", "booking_id": booking, "agency": "ICE",
            "authority": "I205"}


def _work():
    settings = Settings()
    codec = Codec(SchemaRegistry(settings.schemas_dir), Topics(settings))
    return codec, CaseWork(rulebook.load(), codec, "test"), {}


def _send(codec, work, store, type_name, record, offset=0):
    message = codec.encode(type_name, record)
    result = work.handle(store, Coordinates(message.topic, 0, offset), message.key, message.value, message.headers,
                         LIVE)
    store.update(result.writes)
    return result


def _directives(outputs):
    return [o.get("directive") for o in outputs if o.type_name == "CustodyCommand"]


def test_the_worker_releases_at_the_tick_that_completes_the_instant():
    codec, work, store = _work()
    for booking, release_at in (("B-NOW", AT), ("B-LATER", AT + timedelta(minutes=1))):
        result = _send(codec, work, store, "ReleaseBecameDue", _due(booking, release_at))
        assert _directives(result.outputs) == []  # the instant is not over: ICE may be arriving at it too
    assert work.earliest_due() == {0: AT}
    tick = _send(codec, work, store, "ClockTicked", {"event_id": "k", "occurred_at": LIVE, "source": "t",
                                                      "partition": 0})
    assert _directives(tick.outputs) == ["RELEASE"] and tick.fired == tick.outputs
    assert {o.booking_id for o in tick.outputs} == {"B-NOW"}
    assert all(due > LIVE for due in work.earliest_due().values()), "a deadline due by the tick was left"


def test_officers_arriving_at_the_release_instant_are_there_when_it_is_decided():
    codec, work, store = _work()
    _send(codec, work, store, "BookingRecorded", {
        "event_id": "b", "occurred_at": AT - timedelta(days=2), "source": "t", "booking_id": "B", "person_id": "P",
        "county": "Fresno", "facility": "J", "charges": [{"statute": "PC 211", "level": "FELONY"}]})
    _send(codec, work, store, "ReleaseBecameDue", _due("B", AT), 1)
    _send(codec, work, store, "IceArrived", _arrived("B"), 2)
    tick = _send(codec, work, store, "ClockTicked", {"event_id": "k", "occurred_at": LIVE, "source": "t",
                                                      "partition": 0}, 3)
    kinds = [o.get("kind") for o in tick.outputs if o.type_name == "Decision"]
    assert "TRANSFER" in kinds, kinds  # the hand-over was weighed at the release moment (here the law denies it)


def test_decide_releases_when_the_instant_is_complete():
    processor = Processor(rulebook.load(), clets.load_rows())
    now = processor.process(ev.from_record("ReleaseBecameDue", _due("B-NOW", AT)))
    assert _directives_of(now) == []
    later = processor.process(ev.from_record("ReleaseBecameDue", _due("B-LATER", AT + timedelta(minutes=1))))
    assert _directives_of(later) == []
    done = processor.advance(AT)
    assert _directives_of(done) == ["RELEASE"] and {e.record["booking_id"] for e in done} == {"B-NOW"}


def _directives_of(emitted):
    return [e.record.get("directive") for e in emitted if e.type_name == "CustodyCommand"]
