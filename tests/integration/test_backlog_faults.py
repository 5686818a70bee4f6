"""A simulated backlog on every case topic, taken by a worker on a busy machine, with records stamped by the producer's
clock instead of the event's, killed again and again, or with the broker killed under it: the outputs, net of
corrections, are `decide`'s, none missing, none false, none twice.

The size is DT_TEST_BACKLOG events (5,000 by default; `make bench` runs the same at 50,000)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zlib
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kafka import KafkaAdminClient, TopicPartition

from streams.core import clets
from streams.core import events as ev
from streams.core.law import rulebook
from streams.replay.analysis import net
from streams.tools.decide import Processor, run
from streams.tools.produce import EventProducer
from streams.tools.simulate import SimConfig, Simulator
from streams.wire.topics import CASE_INPUTS
from tests.support.kafka import end_offsets
from tests.support.step import Out, comparable
from tests.support.worker import WorkerProcess, committed, outputs_on_kafka, wait_processed

START = datetime(2019, 6, 2, 7, tzinfo=UTC)
SIZE = int(os.environ.get("DT_TEST_BACKLOG", "5000"))


def simulated(codec, n: int) -> list[tuple[str, dict]]:
    """About n simulated events of the case topics (bookings, matches, detainers, court): the whole stories of a
    sample of the bookings of four simulated days (a day is about 12,000 events), so that most end in a release."""
    case_types = {t for topic in CASE_INPUTS for t in codec.topics[topic].spec.event_types}
    events = [(t, r) for _, t, r in Simulator(SimConfig(start=START, seed=23, days=max(4, n / 12_000))).events()
              if t in case_types]
    every = max(1, round(len(events) / n))
    return [(t, r) for t, r in events if zlib.crc32(r["booking_id"].encode()) % every == 0]


def burn(seconds: float, n: int = 2) -> list[subprocess.Popen]:
    """Processes that keep the machine's cores busy for a while, and stop by themselves."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


class Backlog:
    """Events written before a worker starts on them, and what `decide` gives for them."""

    def __init__(self, settings, codec, tmp_path, n: int = SIZE, restamp: bool = False, between=None) -> None:
        """`between(producer, i, type_name, record)`, when given, is called after each event is sent."""
        self.settings, self.codec, self.tmp_path = settings, codec, tmp_path
        self.events = simulated(codec, n)
        self.end = max(r["occurred_at"] for _, r in self.events) + timedelta(days=2)
        decided = run(Processor(rulebook.load(), clets.load_rows()),
                      [ev.from_record(t, r) for t, r in self.events], self.end)
        self.expected = Counter(comparable({"type": e.type_name, **e.record}) for e in decided)
        self.admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        self.topics = [codec.topics.name(t) for t in CASE_INPUTS]
        self.runs = 0
        # restamped: each topic written whole in turn, its records stamped with the producer's clock as a third-party
        # client's are, so that record timestamps put every booking event before every detainer
        order = sorted(self.events, key=lambda e: codec.topics.for_event(e[0]).name) if restamp else self.events
        with EventProducer(settings.kafka_client_config(), codec) as producer:
            for i, (type_name, record) in enumerate(order):
                message = codec.encode(type_name, record, validate=False)
                producer.send_encoded(replace(message, timestamp_ms=None) if restamp else message)
                if between is not None:
                    between(producer, i, type_name, record)
        self.total = sum(end_offsets(settings.bootstrap_servers, self.topics).values())

    def worker(self) -> WorkerProcess:
        self.runs += 1
        return WorkerProcess(self.settings, self.tmp_path / "data", self.tmp_path / f"run{self.runs}.log")

    def done(self) -> int:
        return sum(o for tp, o in committed(self.admin, self.settings.app_id).items() if tp.topic in self.topics)

    def wait_done(self, share: float, worker: WorkerProcess, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while self.done() < self.total * share:
            assert time.monotonic() < deadline, f"not {share:.0%} done in {timeout:.0f} s\n{worker.tail()}"
            assert worker.proc.poll() is None, f"the worker exited ({worker.proc.returncode})\n{worker.tail()}"
            time.sleep(0.05)

    def finish(self, worker: WorkerProcess) -> list[Out]:
        """Wait for the whole backlog, then a tick past it on every partition; the outputs on the topics."""
        try:
            positions = {tp: o - 1 for tp, o in end_offsets(self.settings.bootstrap_servers, self.topics).items()
                         if o}
            wait_processed(self.admin, self.settings.app_id, positions, 600, worker)
            wait_processed(self.admin, self.settings.app_id, self.tick(), 120, worker)
        finally:
            worker.stop()
            self.admin.close()
        return [Out(o.pop("type"), o) for o in outputs_on_kafka(self.settings, self.codec)]

    def tick(self) -> dict[TopicPartition, int]:
        positions = {}
        with EventProducer(self.settings.kafka_client_config(), self.codec) as producer:
            for p in range(self.settings.partitions):
                record = {"event_id": f"end-tick-{p}", "occurred_at": self.end, "source": "t", "partition": p}
                meta = producer.send_encoded(self.codec.encode("ClockTicked", record), p).get(timeout=30)
                positions[TopicPartition(meta.topic, meta.partition)] = meta.offset
        return positions

    def check(self, outputs: list[Out], in_order: bool = False) -> None:
        """Net of corrections, `decide`'s outputs; with `in_order`, no correction at all was needed."""
        standing = Counter(comparable({"type": o.type_name, **o.record}) for o in net(outputs))
        missing, false = self.expected - standing, standing - self.expected
        sent = Counter(o.record["output_id"] for o in outputs)
        corrected = Counter(i for o in outputs if o.type_name == "Correction" for i in o.record["supersedes"])
        print(f"backlog: {len(self.events)} events, {sum(self.expected.values())} outputs as decide gives them, "
              f"{sum(missing.values())} missing, {sum(false.values())} false, {len(outputs)} sent, "
              f"{sum(1 for o in outputs if o.type_name == 'Correction')} correction(s) withdrawing "
              f"{sum(corrected.values())}, {self.runs} worker run(s)")
        assert not missing and not false, (f"{sum(missing.values())} missing, {sum(false.values())} false of "
                                           f"{sum(self.expected.values())}: e.g. missing {list(missing)[:2]}, "
                                           f"false {list(false)[:2]}")
        assert sum(self.expected.values()) > SIZE / 10, "too few outputs to show anything"
        assert not [i for i, n in sent.items() if n - corrected[i] > 1], "an output stands twice"
        if in_order:  # the whole backlog was there to merge: taken in the engine's order, nothing to correct
            assert not corrected, f"{sum(corrected.values())} output(s) corrected"


def test_a_backlog_on_a_busy_machine_gives_decides_outputs(settings, kafka_codec, tmp_path):
    backlog = Backlog(settings, kafka_codec, tmp_path)
    burners = burn(600)
    try:
        backlog.check(backlog.finish(backlog.worker()), in_order=True)
    finally:
        for b in burners:
            b.kill()


def test_a_backlog_whose_records_carry_the_producers_clock_gives_decides_outputs(settings, kafka_codec, tmp_path):
    backlog = Backlog(settings, kafka_codec, tmp_path, restamp=True)
    backlog.check(backlog.finish(backlog.worker()), in_order=True)


def test_five_worker_kills_mid_backlog_lose_nothing_and_make_nothing_false(settings, kafka_codec, tmp_path):
    backlog = Backlog(settings, kafka_codec, tmp_path)
    worker = backlog.worker()
    for k in range(1, 6):
        backlog.wait_done(k / 7, worker)
        worker.kill()
        assert backlog.done() < backlog.total, "the worker finished before it could be killed"
        worker = backlog.worker()
    backlog.check(backlog.finish(worker))


def test_the_broker_killed_and_restarted_mid_backlog_loses_nothing(settings, kafka_codec, tmp_path, broker):
    backlog = Backlog(settings, kafka_codec, tmp_path)
    worker = backlog.worker()
    backlog.wait_done(0.3, worker)
    broker.kill()
    time.sleep(5)
    broker.start()
    backlog.check(backlog.finish(worker))
