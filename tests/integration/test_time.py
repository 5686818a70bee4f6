"""Time on the real broker: history loaded years late into a running worker gets exactly `decide`'s outputs, and
an event from the future moves nobody's time, whether the broker or the worker refuses it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from streams.core import clets
from streams.core import events as ev
from streams.core.law import rulebook
from streams.tools.decide import Processor, run
from streams.tools.produce import EventProducer
from streams.wire.codec import Coordinates
from tests.integration.test_worker import _live_scenarios
from tests.support.kafka import read_all, wait_until
from tests.support.step import comparable
from tests.support.worker import WorkerProcess, outputs_on_kafka, wait_processed


def _ticked_everywhere(settings, codec) -> dict[TopicPartition, int]:
    ticks = read_all(settings.bootstrap_servers, codec.topics.name("clock"))
    last = {}
    for m in ticks:
        last[TopicPartition(m.topic, m.partition)] = m.offset
    return last if len(last) == settings.partitions else {}


def test_history_loaded_years_late_into_a_running_worker_gets_exactly_decides_outputs(settings, kafka_codec,
                                                                                      tmp_path):
    lines, _, _ = _live_scenarios(kafka_codec)
    worker = WorkerProcess(settings, tmp_path / "late", tmp_path / "late.log", ticker=True,
                           env={"DT_SETTLE": "5"})
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        wait_until(lambda: bool(_ticked_everywhere(settings, kafka_codec)), 60, "the worker's first ticks")
        wait_processed(admin, settings.app_id, _ticked_everywhere(settings, kafka_codec), 120, worker)
        with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
            for n, line in enumerate(lines):  # the archive, with today's bookings in between
                producer.send("BookingRecorded", {
                    "event_id": f"today-{n}", "occurred_at": datetime.now(UTC), "source": "jail",
                    "booking_id": f"TODAY-{n}", "person_id": f"PT{n}", "county": "Fresno",
                    "facility": "Fresno County Jail", "charges": [{"statute": "PC 459", "level": "FELONY"}]})
                producer.send(line.type_name, line.record)
        loaded = datetime.now(UTC)
        events = [ev.from_record(line.type_name, line.record) for line in lines]
        expected = {comparable({"type": e.type_name, **e.record})
                    for e in run(Processor(rulebook.load(), clets.load_rows()), events, loaded)}
        got: set = set()

        def settled() -> bool:
            got.clear()
            got.update(comparable(o) for o in outputs_on_kafka(settings, kafka_codec))
            return got == expected

        try:
            wait_until(settled, 120, "the archive's outputs")
        except AssertionError:
            raise AssertionError(f"only live: {sorted(got - expected)}\nonly decide: {sorted(expected - got)}\n"
                                 f"{worker.tail()}") from None
        time.sleep(3)  # nothing more comes: no correction, no second thought
        assert {comparable(o) for o in outputs_on_kafka(settings, kafka_codec)} == expected
        assert read_all(settings.bootstrap_servers, kafka_codec.topics.name("corrections")) == []
    finally:
        worker.stop()
        admin.close()


def test_a_booking_stamped_2100_moves_nobodys_time(live, settings, kafka_codec):
    feed, worker = live
    now = datetime.now(UTC).replace(microsecond=0)
    feed("BookingRecorded", {"event_id": "held-b", "occurred_at": now - timedelta(days=1), "source": "jail",
                             "booking_id": "B-HELD", "person_id": "P-HELD", "county": "Kern",
                             "facility": "Kern County Jail", "charges": [{"statute": "PC 211", "level": "FELONY"}]})
    feed("ReleaseBecameDue", {"event_id": "held-due", "occurred_at": now - timedelta(days=1), "source": "jail",
                              "booking_id": "B-HELD", "reason": "SENTENCE_SERVED",
                              "release_at": now + timedelta(days=30)})
    future = kafka_codec.encode("BookingRecorded", {
        "event_id": "typo-2100", "occurred_at": datetime(2100, 2, 5, 17, tzinfo=UTC), "source": "jail",
        "booking_id": "B-2100", "person_id": "P-2100", "county": "Kern", "facility": "Kern County Jail",
        "charges": [{"statute": "PC 459", "level": "FELONY"}]})
    raw = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    try:
        with pytest.raises(KafkaError, match="(?i)timestamp"):  # stamped with its own time: the broker refuses it
            raw.send(future.topic, key=future.key, value=future.value, headers=future.headers,
                     timestamp_ms=future.timestamp_ms).get(timeout=30)
    finally:
        raw.close()
    # a third-party client that stamps the record with its own clock gets past the broker: the worker refuses it
    raw = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    try:
        meta = raw.send(future.topic, key=future.key, value=future.value, headers=future.headers).get(timeout=30)
    finally:
        raw.close()
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    wait_processed(admin, settings.app_id, {TopicPartition(meta.topic, meta.partition): meta.offset}, 120, worker)
    admin.close()
    feed("CriminalHistoryRecorded", {"event_id": "held-h", "occurred_at": now, "source": "jail",
                                     "booking_id": "B-HELD", "person_id": "P-HELD", "convictions": []})
    letters = [kafka_codec.decode(m.value, m.headers, Coordinates(m.topic, m.partition, m.offset), m.key).record
               for m in read_all(settings.bootstrap_servers, kafka_codec.topics.name("deadletter"))]
    assert [(d["reason_code"], d["source_offset"]) for d in letters] == [("FUTURE_EVENT", meta.offset)]
    assert "2100-02-05" in letters[0]["reason"]
    outputs = outputs_on_kafka(settings, kafka_codec)
    assert [o for o in outputs if o["type"] in ("Violation", "CustodyCommand")] == [], outputs
    assert not [o for o in outputs if o["booking_id"] == "B-2100"]
