"""A deadline that is due when the event setting it is applied fires in that same step, live and in `decide`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams import clets
from streams import events as ev
from streams.casework import CaseWork
from streams.codec import Codec, Coordinates
from streams.config import Settings
from streams.decide import Processor
from streams.law import rulebook
from streams.schemas import SchemaRegistry
from streams.topics import Topics

AT = datetime(2031, 3, 4, 18, 30, tzinfo=UTC)


def _due(booking: str, release_at: datetime) -> dict:
    return {"event_id": f"{booking}-due", "occurred_at": AT, "source": "t", "booking_id": booking,
            "reason": "BAIL_POSTED", "release_at": release_at}


def test_the_worker_orders_a_release_due_at_once_in_the_step_of_its_event():
    settings = Settings()
    codec = Codec(SchemaRegistry(settings.schemas_dir), Topics(settings))
    work = CaseWork(rulebook.load(), codec, "test")
    store: dict[bytes, bytes] = {}
    for booking, release_at in (("B-NOW", AT), ("B-LATER", AT + timedelta(minutes=1))):
        message = codec.encode("ReleaseBecameDue", _due(booking, release_at))
        result = work.handle(store, Coordinates(message.topic, 0, 0), message.key, message.value, message.headers,
                             AT)
        store.update(result.writes)
        directives = [o.get("directive") for o in result.outputs if o.type_name == "CustodyCommand"]
        if release_at == AT:
            assert directives == ["RELEASE"] and result.fired == [o for o in result.outputs]
        else:
            assert directives == []
        assert all(due > AT for due in work.earliest_due().values()), "a deadline due by stream time was left"


def test_decide_emits_it_with_its_event_too():
    processor = Processor(rulebook.load(), clets.load_rows())
    now = processor.process(ev.from_record("ReleaseBecameDue", _due("B-NOW", AT)))
    later = processor.process(ev.from_record("ReleaseBecameDue", _due("B-LATER", AT + timedelta(minutes=1))))
    assert [e.record.get("directive") for e in now if e.type_name == "CustodyCommand"] == ["RELEASE"]
    assert all(e.record["booking_id"] == "B-NOW" for e in now)
    assert [e for e in later if e.type_name == "CustodyCommand"] == []
