"""Nothing lost and nothing repeated across a worker killed with SIGKILL mid-stream and restarted."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from itertools import islice

from kafka import KafkaAdminClient, TopicPartition

from streams.core import clets
from streams.core import events as ev
from streams.core.law import rulebook
from streams.tools.decide import Processor, run
from streams.tools.produce import EventProducer
from streams.tools.simulate import SimConfig, Simulator
from tests.support.kafka import end_offsets
from tests.support.worker import WorkerProcess, committed, outputs_on_kafka, wait_processed

START = datetime(2019, 6, 2, 7, tzinfo=UTC)


def booking_topic_events(codec, n: int) -> list[tuple[str, dict]]:
    """Simulated events that all travel on the bookings topic, so each partition sees them in time order."""
    bookings = set(codec.topics["bookings"].spec.event_types)
    events = (e for e in Simulator(SimConfig(start=START, seed=11, scale=3)).events() if e[1] in bookings)
    return [(t, r) for _, t, r in islice(events, n)]


def tick(producer, codec, settings, at: datetime) -> dict[TopicPartition, int]:
    positions = {}
    for p in range(settings.partitions):
        record = {"event_id": f"end-tick-{p}-{at.isoformat()}", "occurred_at": at, "source": "t", "partition": p}
        meta = producer.send_encoded(codec.encode("ClockTicked", record), p).get(timeout=30)
        positions[TopicPartition(meta.topic, meta.partition)] = meta.offset
    return positions


def test_sigkill_mid_stream_then_restart_loses_nothing_and_repeats_nothing(settings, kafka_codec, tmp_path):
    events = booking_topic_events(kafka_codec, 20_000)
    end = events[-1][1]["occurred_at"] + timedelta(days=2)
    expected_ids = {o["output_id"] for o in (e.record for e in run(
        Processor(rulebook.load(), clets.load_rows()), [ev.from_record(t, r) for t, r in events], end))}
    topic = kafka_codec.topics.name("bookings")
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    worker = WorkerProcess(settings, tmp_path / "data", tmp_path / "run1.log")
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        for type_name, record in events:
            producer.send(type_name, record, validate=False)
        producer.flush()
        total = sum(end_offsets(settings.bootstrap_servers, [topic]).values())
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            done = sum(o for tp, o in committed(admin, settings.app_id).items() if tp.topic == topic)
            if done >= total * 0.3:
                break
            time.sleep(0.05)
        worker.kill()
        assert done < total, "the worker finished before it could be killed mid-stream"
        worker = WorkerProcess(settings, tmp_path / "data", tmp_path / "run2.log")
        try:
            positions = {tp: o - 1 for tp, o in end_offsets(settings.bootstrap_servers, [topic]).items() if o}
            wait_processed(admin, settings.app_id, positions, 300, worker)
            wait_processed(admin, settings.app_id, tick(producer, kafka_codec, settings, end), 120, worker)
        finally:
            worker.stop()
    admin.close()
    records = outputs_on_kafka(settings, kafka_codec)
    got = {o["output_id"] for o in records}
    assert got == expected_ids, (f"missing {len(expected_ids - got)}, unexpected {len(got - expected_ids)} "
                                 f"of {len(expected_ids)}")
    assert len(expected_ids) > 1000
    # Exactly once as a read_committed consumer sees it: the restarted worker replays the inputs after the last
    # commit, and sends none of the outputs it finds already on the topics.
    ids = [o["output_id"] for o in records]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} output(s) twice"
    restarted = (tmp_path / "run2.log").read_text(errors="replace")
    assert "output id(s) on the outputs' recent tail" in restarted
