"""The broker killed with SIGKILL under a live worker and started again 35 s later, again and again: each time, the
worker takes the input written after the outage within a minute and a half, by itself or after its progress guard
stopped it (exit 75) and it was started again, as its supervisor would; no release is lost.

DT_TEST_OUTAGES outages (2 by default; `make bench` runs 5)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from kafka import KafkaAdminClient, KafkaProducer

from streams.tools.produce import EventProducer
from streams.wire.topics import CASE_INPUTS, CASE_OUTPUTS, changelog_of
from streams.worker.state.local import EXIT_INFRASTRUCTURE
from tests.support.kafka import batches_on_disk, end_offsets, read_all
from tests.support.worker import WorkerProcess, committed

OUTAGES = int(os.environ.get("DT_TEST_OUTAGES", "2"))
DOWN_SECONDS = 35
RESUME_SECONDS = 90


def _releases(settings, kafka_codec, tag: str, n: int = 30) -> None:
    now = datetime.now(UTC)
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        for i in range(n):
            producer.send("ReleaseBecameDue", {"event_id": f"{tag}-{i}", "occurred_at": now, "source": "t",
                                               "booking_id": f"{tag}-{i}", "reason": "BAIL_POSTED",
                                               "release_at": now})
        producer.flush(60)


class Supervised:
    """A worker started again when it exits with status 75, as a supervisor would."""

    def __init__(self, settings, tmp_path) -> None:
        self.settings, self.tmp_path = settings, tmp_path
        self.runs = [self._start()]
        self.restarts = 0

    def _start(self) -> WorkerProcess:
        n = len(getattr(self, "runs", []))
        return WorkerProcess(self.settings, self.tmp_path / "data", self.tmp_path / f"run{n}.log", ticker=True)

    def tend(self) -> None:
        worker = self.runs[-1]
        if worker.proc.poll() is not None:
            assert worker.proc.returncode == EXIT_INFRASTRUCTURE, worker.tail()
            self.restarts += 1
            self.runs.append(self._start())

    def wait_taken(self, topics: list[str], what: str, timeout: float) -> float:
        """Until the group has committed every case topic to its end; the seconds that took."""
        ends = dict(end_offsets(self.settings.bootstrap_servers, topics))
        admin = KafkaAdminClient(bootstrap_servers=self.settings.bootstrap_servers)
        began = time.monotonic()
        deadline = began + timeout
        try:
            while True:
                done = committed(admin, self.settings.app_id)
                if all(done.get(tp, 0) >= end for tp, end in ends.items()):
                    return time.monotonic() - began
                self.tend()
                assert time.monotonic() < deadline, (f"{what}: not taken within {timeout:.0f} s; committed {done}, "
                                                     f"ends {ends}\n{self.runs[-1].tail()}")
                time.sleep(1)
        finally:
            admin.close()


def test_the_worker_resumes_after_each_broker_outage(settings, kafka_codec, tmp_path, broker):
    topics = [kafka_codec.topics.name(t) for t in CASE_INPUTS]
    worker = Supervised(settings, tmp_path)
    _releases(settings, kafka_codec, "before")
    worker.wait_taken(topics, "before the outages", 180)
    for k in range(OUTAGES):
        broker.kill()
        time.sleep(DOWN_SECONDS)
        broker.start()
        _releases(settings, kafka_codec, f"after{k}")
        taken = worker.wait_taken(topics, f"outage {k + 1}", RESUME_SECONDS)
        print(f"outage {k + 1}: input written after the broker's return committed {taken:.0f} s later; "
              f"{worker.restarts} restart(s) by the progress guard so far")
    worker.runs[-1].stop()
    directives = {m.key for m in read_all(settings.bootstrap_servers, kafka_codec.topics.name("custody_commands"))}
    expected = {f"{tag}-{i}".encode() for tag in ("before", *(f"after{k}" for k in range(OUTAGES))) for i in range(30)}
    assert expected <= directives, f"{len(expected - directives)} release(s) lost"


def test_every_batch_the_worker_writes_is_idempotent(live, settings, kafka_codec, broker):
    """A send whose answer the outage cut off is sent again; the broker keeps one copy only of a batch that carries
    its producer's id and sequence. Every output, dead letter and state the worker writes must."""
    feed, _ = live
    at = datetime(2019, 6, 1, 16, tzinfo=UTC)
    feed("BookingRecorded", {"event_id": "idem-1", "occurred_at": at, "source": "t", "booking_id": "B-IDEM",
                             "person_id": "P-IDEM", "state": "CA", "county": "Alameda", "facility": "Santa Rita",
                             "charges": [{"statute": "PC 242", "level": "MISDEMEANOR", "description": "battery",
                                          "domestic_violence": False}]})
    feed("ReleaseBecameDue", {"event_id": "idem-2", "occurred_at": at, "source": "t", "booking_id": "B-IDEM",
                              "reason": "BAIL_POSTED", "release_at": at})
    raw = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    raw.send(kafka_codec.topics.name("bookings"), key=b"B-IDEM", value=b"\x00not avro").get(timeout=30)
    raw.close()
    feed("Released", {"event_id": "idem-3", "occurred_at": at, "source": "t", "booking_id": "B-IDEM"})
    written = {t: batches_on_disk(broker.home / "data", t)
               for t in [*(kafka_codec.topics.name(o) for o in (*CASE_OUTPUTS, "deadletter")),
                         changelog_of(settings.app_id)]}
    for topic in (kafka_codec.topics.name("decisions"), kafka_codec.topics.name("deadletter"),
                  changelog_of(settings.app_id)):
        assert written[topic], f"nothing on {topic}: the test shows nothing"
    plain = {t: [b for b in batches if b.producer_id < 0] for t, batches in written.items()}
    assert not any(plain.values()), f"batches without a producer id: {plain}"
