"""The case processor on a backlog, against the raw aiokafka consume + decode rate of the same events, and the
time a worker with a wiped data dir needs to restore the state of many open cases and answer again.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from kafka import KafkaAdminClient, TopicPartition

from benchmarks import profiling
from streams.admin import admin_client, create_topics
from streams.codec import Codec, Coordinates
from streams.config import Settings
from streams.localbroker import LocalBroker, free_port
from streams.produce import EventProducer
from streams.schemas import SchemaRegistry
from streams.simulate import SimConfig, Simulator
from streams.topics import CASE_INPUTS, Topics
from tests.support.kafka import end_offsets
from tests.support.worker import WorkerProcess, committed

START = datetime(2019, 6, 2, 7, tzinfo=UTC)


async def _raw_rate(bootstrap: str, topics: list[str], codec: Codec, total: int) -> float:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=f"raw-{uuid.uuid4().hex}", enable_auto_commit=False)
    await consumer.start()
    try:
        seen, began = 0, None
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            began = began or time.perf_counter()
            for tp, records in batch.items():
                for r in records:
                    codec.decode(r.value, r.headers, Coordinates(tp.topic, tp.partition, r.offset), r.key)
                seen += sum(1 for _ in records)
        return seen / (time.perf_counter() - began)
    finally:
        await consumer.stop()


def _wait_done(admin: KafkaAdminClient, group: str, ends: dict[TopicPartition, int], worker: WorkerProcess,
               timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = committed(admin, group)
        if all(done.get(tp, -1) >= end for tp, end in ends.items()):
            return
        if worker.proc.poll() is not None:
            raise RuntimeError(f"worker exited:\n{worker.tail()}")
        time.sleep(0.2)
    raise TimeoutError("worker did not finish the backlog")


def measure(n: int = 100_000, open_cases: int = 100_000) -> dict:
    """Raw consume+decode rate, worker backlog rate (same events, same run), and restore time of open cases."""
    root = Path(tempfile.mkdtemp(prefix="dt-bench-"))
    broker = LocalBroker(home=root / "broker", port=free_port(), controller_port=free_port())
    broker.start()
    try:
        settings = Settings(bootstrap_servers=broker.bootstrap, topic_prefix="bench.", partitions=6)
        topics = Topics(settings)
        codec = Codec(SchemaRegistry(settings.schemas_dir), topics)
        create_topics(admin_client(settings.kafka_client_config()), topics)
        with EventProducer(settings.kafka_client_config(), codec) as producer:
            for _, type_name, record in islice(Simulator(SimConfig(start=START, seed=3)).events(), n):
                producer.send(type_name, record, validate=False)
        names = [topics.name(t) for t in CASE_INPUTS]
        ends = end_offsets(broker.bootstrap, names)
        total = sum(ends.values())
        raw = asyncio.run(_raw_rate(broker.bootstrap, names, codec, total))
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        worker = WorkerProcess(settings, root / "worker", root / "worker.log")
        began = time.perf_counter()
        spy = profiling.record(worker.proc.pid, 30, root / "worker-profile.txt")
        _wait_done(admin, settings.app_id, ends, worker)
        worker_rate = total / (time.perf_counter() - began)  # includes the worker's start-up
        worker.stop()
        profile = {}
        if spy is not None:
            spy.wait(timeout=120)
            profile = profiling.top(root / "worker-profile.txt")
        restore = _restore(settings, codec, admin, root, open_cases)
        admin.close()
        return {"events": total, "raw_aiokafka_consume_decode": raw, "worker_backlog": worker_rate,
                "ratio": worker_rate / raw, "profile": profile, **restore}
    finally:
        broker.stop()


def _restore(settings: Settings, codec: Codec, admin: KafkaAdminClient, root: Path, cases: int) -> dict:
    """Open `cases` bookings, then time a worker with a wiped data dir until it answers a new event."""
    settings = Settings(bootstrap_servers=settings.bootstrap_servers, topic_prefix="restore.", partitions=6)
    topics = Topics(settings)
    codec = Codec(codec.registry, topics)
    create_topics(admin_client(settings.kafka_client_config()), topics)
    at = START
    with EventProducer(settings.kafka_client_config(), codec) as producer:
        for i in range(cases):
            producer.send("BookingRecorded", {"event_id": f"open-{i}", "occurred_at": at, "source": "bench",
                                              "booking_id": f"OPEN-{i:07d}", "person_id": f"P{i}", "state": "CA",
                                              "county": "Fresno", "facility": "Fresno County Jail", "charges": []},
                          validate=False)
    ends = end_offsets(settings.bootstrap_servers, [topics.name("bookings")])
    worker = WorkerProcess(settings, root / "restore-1", root / "restore-1.log")
    _wait_done(admin, settings.app_id, ends, worker)
    worker.stop()
    began = time.perf_counter()
    worker = WorkerProcess(settings, root / "restore-2", root / "restore-2.log")  # a wiped data dir
    with EventProducer(settings.kafka_client_config(), codec) as producer:
        due = at + timedelta(hours=1)
        producer.send("ReleaseBecameDue", {"event_id": "probe", "occurred_at": due, "source": "bench",
                                           "booking_id": "OPEN-0000000", "reason": "BAIL_POSTED",
                                           "release_at": due}).get(timeout=30)
        producer.send("Released", {"event_id": "probe-2", "occurred_at": due + timedelta(minutes=1),
                                   "source": "bench", "booking_id": "OPEN-0000000"}).get(timeout=30)
    ends = end_offsets(settings.bootstrap_servers, [topics.name("bookings")])
    _wait_done(admin, settings.app_id, ends, worker)
    seconds = time.perf_counter() - began
    worker.stop()
    return {"open_cases": cases, "restore_and_answer_seconds": seconds}


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
