"""The case processor on a backlog, against the raw aiokafka consume + decode rate of the same events, and the
time a worker with a wiped data dir needs to restore the state of many open cases and answer again.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from benchmarks import profiling
from benchmarks.faust_floor import FloorProcess
from benchmarks.local import deployment, local_broker
from streams.config import Settings
from streams.core import engine
from streams.core import events as ev
from streams.core.law import rulebook
from streams.tools.produce import EventProducer
from streams.tools.simulate import SimConfig, Simulator
from streams.wire.codec import Codec, Coordinates
from streams.wire.topics import CASE_INPUTS, Topics, partition_of
from streams.worker.step import dump
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


def _raw_kafka_python(bootstrap: str, topics: list[str], codec: Codec, total: int) -> float:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
    tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or []]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    seen, began = 0, None
    while seen < total:
        batch = consumer.poll(timeout_ms=1000, max_records=5000)
        began = began or time.perf_counter()
        for tp, records in batch.items():
            for r in records:
                codec.decode(r.value, r.headers, Coordinates(tp.topic, tp.partition, r.offset), r.key)
            seen += len(records)
    consumer.close()
    return seen / (time.perf_counter() - began)


def _floor_rate(bootstrap: str, topics: list[str], admin: KafkaAdminClient, ends: dict[TopicPartition, int],
                root: Path, merged: bool) -> float:
    """A Faust agent that does nothing, on the same backlog: timed like the worker, from start to all committed.

    It has the worker's consumer settings; `merged`, the worker's consumer and event-time scheduler too.
    """
    app_id = f"floor-{uuid.uuid4().hex[:8]}"
    began = time.perf_counter()
    floor = FloorProcess(bootstrap, app_id, root / app_id, topics, root / f"{app_id}.log", merged)
    try:
        _wait_done(admin, app_id, ends, floor)
        return sum(ends.values()) / (time.perf_counter() - began)
    finally:
        floor.stop()


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _changelog_bytes(bootstrap: str, topic: str) -> tuple[int, int]:
    """Records and value bytes of the latest state of each key on a changelog topic."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    ends = consumer.end_offsets(tps)
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    latest: dict[bytes, int] = {}
    while any(consumer.position(tp) < ends[tp] for tp in tps):
        for records in consumer.poll(timeout_ms=1000, max_records=5000).values():
            for r in records:
                latest[r.key] = len(r.value or b"")
    consumer.close()
    return len(latest), sum(latest.values())


def _wait_done(admin: KafkaAdminClient, group: str, ends: dict[TopicPartition, int],
               worker: WorkerProcess | FloorProcess, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = committed(admin, group)
        if all(done.get(tp, -1) >= end for tp, end in ends.items()):
            return
        if worker.proc.poll() is not None:
            raise RuntimeError(f"worker exited:\n{worker.tail()}")
        time.sleep(0.2)
    raise TimeoutError("worker did not finish the backlog")


def _stalls(worker: WorkerProcess) -> dict[str, float]:
    """The stall watchdog's counts from the worker's own metrics page: partitions resumed, workers stopped."""
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    with urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=10) as page:
        text = page.read().decode()
    return {sample.labels["action"]: sample.value for family in text_string_to_metric_families(text)
            if family.name == "dt_partition_stalls" for sample in family.samples
            if sample.name == "dt_partition_stalls_total"}


def measure(n: int = 1_000_000, open_cases: int = 100_000) -> dict:
    """Raw consume+decode rate, worker backlog rate (same events, same run), and restore time of open cases."""
    with local_broker("worker") as (broker, root):
        settings, topics, codec = deployment(broker.bootstrap, "bench.")
        events = list(islice(Simulator(SimConfig(start=START, seed=3)).events(), n))
        encoded = [codec.encode(type_name, record, validate=False) for _, type_name, record in events]
        with EventProducer(settings.kafka_client_config(), codec) as producer:
            began = time.perf_counter()
            for message in encoded:
                producer.send_encoded(message)
            producer.flush()
            produce_rate = len(encoded) / (time.perf_counter() - began)
        names = [topics.name(t) for t in CASE_INPUTS]
        ends = end_offsets(broker.bootstrap, names)
        total = sum(ends.values())
        raw = asyncio.run(_raw_rate(broker.bootstrap, names, codec, total))
        raw_kafka_python = _raw_kafka_python(broker.bootstrap, names, codec, total)
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        floor_plain = _floor_rate(broker.bootstrap, names, admin, ends, root, merged=False)
        floor_rate = _floor_rate(broker.bootstrap, names, admin, ends, root, merged=True)
        worker = WorkerProcess(settings, root / "worker", root / "worker.log")
        began = time.perf_counter()
        spy = profiling.record(worker.proc.pid, 30, root / "worker-profile.txt")
        _wait_done(admin, settings.app_id, ends, worker)
        worker_rate = total / (time.perf_counter() - began)  # includes the worker's start-up
        stalls = _stalls(worker)
        worker.stop()
        profile = {}
        if spy is not None:
            spy.wait(timeout=120)
            profile = profiling.top(root / "worker-profile.txt")
        restore = _restore(settings, codec, admin, root, open_cases)
        admin.close()
        return {"events": total, "raw_aiokafka_consume_decode": raw,
                "raw_kafka_python_consume_decode": raw_kafka_python, "raw_produce_kafka_python": produce_rate,
                "faust_floor": floor_rate, "floor_ratio": floor_rate / raw, "faust_floor_faust_consumer": floor_plain,
                "worker_backlog": worker_rate, "ratio": worker_rate / raw, "worker_to_floor": worker_rate / floor_rate,
                "worker_to_floor_faust_consumer": worker_rate / floor_plain, "stalls": stalls,
                "profile": profile, **restore}


def _restore(settings: Settings, codec: Codec, admin: KafkaAdminClient, root: Path, cases: int) -> dict:
    """Open `cases` bookings, then time a worker with a wiped data dir until it answers a new event."""
    settings, topics, codec = deployment(settings.bootstrap_servers, "restore.", codec.registry)
    at = START
    with EventProducer(settings.kafka_client_config(), codec) as producer:
        for i in range(cases):
            producer.send("BookingRecorded", {"event_id": f"open-{i}", "occurred_at": at, "source": "bench",
                                              "booking_id": f"OPEN-{i:07d}", "person_id": f"P{i}", "state": "CA",
                                              "county": "Fresno", "facility": "Fresno County Jail", "charges": []},
                          validate=False)
    ends = end_offsets(settings.bootstrap_servers, [topics.name("bookings")])
    # a worker of another (empty) deployment, for the RSS of a worker with no cases
    empty, _, _ = deployment(settings.bootstrap_servers, "idle.", codec.registry)
    idle = WorkerProcess(empty, root / "idle", root / "idle.log")
    worker = WorkerProcess(settings, root / "restore-1", root / "restore-1.log")
    _wait_done(admin, settings.app_id, ends, worker)
    time.sleep(5)  # the gauges' timer and the table's write buffers settle
    rss_loaded, rss_idle = _rss_bytes(worker.proc.pid), _rss_bytes(idle.proc.pid)
    idle.stop()
    worker.stop()
    keys, state_bytes = _changelog_bytes(settings.bootstrap_servers, f"{settings.app_id}-cases-changelog")
    intact = _first_answer(settings, codec, admin, root / "restore-1", root / "restore-1b.log", topics, "intact")
    wiped = _first_answer(settings, codec, admin, root / "restore-2", root / "restore-2.log", topics, "wiped")
    return {"open_cases": cases, "restore_and_answer_seconds": wiped, "intact_restart_and_answer_seconds": intact,
            "rss_loaded_bytes": rss_loaded, "rss_idle_bytes": rss_idle,
            "rss_per_open_case_bytes": (rss_loaded - rss_idle) / cases, "state_keys": keys,
            "state_bytes_per_case": state_bytes / keys if keys else 0.0}


def restore_million(cases: int = 1_000_000) -> dict:
    """Time to first answer with `cases` open cases, data dir wiped (changelog restore) and intact.

    Loading a million bookings through the worker would take longer than the restore being measured, so their
    states are written straight to the table's changelog: for each booking, the bytes the worker itself stores
    after its BookingRecorded (the engine's state of the booking, `worker.step.dump`), on the booking's
    partition. A worker with an empty data dir restores them all from the changelog, then answers a new event.
    """
    with local_broker("restore") as (broker, root):
        settings, topics, codec = deployment(broker.bootstrap, "million.")
        began = time.perf_counter()
        written = _write_states(settings, f"{settings.app_id}-cases-changelog", cases)
        prepared = time.perf_counter() - began
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            wiped = _first_answer(settings, codec, admin, root / "million", root / "million-1.log", topics, "wiped")
            intact = _first_answer(settings, codec, admin, root / "million", root / "million-2.log", topics, "intact")
        finally:
            admin.close()
        return {"open_cases": written, "written_seconds": prepared, "restore_and_answer_seconds": wiped,
                "intact_restart_and_answer_seconds": intact}


def _write_states(settings: Settings, changelog: str, cases: int) -> int:
    """The states of `cases` booked people, as the worker writes them, on a compacted changelog like Faust's."""
    book = rulebook.load()
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    admin.create_topics([NewTopic(changelog, settings.partitions, 1, topic_configs={"cleanup.policy": "compact"})])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=20,
                             batch_size=512 * 1024)
    for i in range(cases):
        booking = f"OPEN-{i:07d}"
        booked = ev.from_record("BookingRecorded", {
            "event_id": f"open-{i}", "occurred_at": START, "source": "bench", "booking_id": booking,
            "person_id": f"P{i}", "state": "CA", "county": "Fresno", "facility": "Fresno County Jail", "charges": []})
        state = engine.Engine(book).take(booked, lambda _: None)[-1].booking
        key = booking.encode()
        producer.send(changelog, key=key, value=dump(state),
                      partition=partition_of(key, settings.partitions))
    producer.flush()
    producer.close()
    return cases


def _first_answer(settings: Settings, codec: Codec, admin: KafkaAdminClient, data_dir: Path, log: Path,
                  topics: Topics, tag: str) -> float:
    """Start a worker on `data_dir`, send one event that needs an answer, and time until it is processed."""
    began = time.perf_counter()
    worker = WorkerProcess(settings, data_dir, log)
    with EventProducer(settings.kafka_client_config(), codec) as producer:
        due = START + timedelta(hours=1)
        producer.send("ReleaseBecameDue", {"event_id": f"probe-{tag}", "occurred_at": due, "source": "bench",
                                           "booking_id": "OPEN-0000001", "reason": "BAIL_POSTED",
                                           "release_at": due}).get(timeout=30)
    ends = end_offsets(settings.bootstrap_servers, [topics.name("bookings")])
    _wait_done(admin, settings.app_id, ends, worker)
    seconds = time.perf_counter() - began
    worker.stop()
    return seconds


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
