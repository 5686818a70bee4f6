"""End-to-end latency and deadline lateness of a live worker at steady input rates.

A live worker (ticker on) gets, at a steady rate, a stream in which people are booked and released: every other
event books a new person, the others make the release of a person booked about a second before due, at once (a
RELEASE directive immediately) or, one release in ten, three seconds later (fired by the clock's ticks). A stream
of releases alone, for people never booked (each also a review of its unknown jurisdiction), is measured too, at
1,000 events/s, as the worst case. A read_committed consumer of the custody commands notes when each directive
becomes visible. Latency: produce call to visible. Lateness: visible minus the directive's `effective_at` (the
moment the law made the release due).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from benchmarks.local import deployment, local_broker
from streams.config import Settings
from streams.tools.produce import PRODUCER_SETTINGS, EventProducer
from streams.wire.codec import Codec, Coordinates, Decoded
from tests.support.kafka import wait_until
from tests.support.worker import WorkerProcess

DEFERRED_EVERY = 10
DEFER = timedelta(seconds=3)


class Watcher(threading.Thread):
    """Notes the wall-clock time each record of a topic becomes visible to a read_committed consumer, from the
    topic's end on: `seen[key] = (time, detail)` for each record `note` gives a (key, detail) for."""

    def __init__(self, settings: Settings, topic: str, note: Callable[[Any], tuple[Any, Any] | None]) -> None:
        super().__init__(daemon=True)
        self.note, self.seen, self.stop = note, {}, threading.Event()
        self.consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                      isolation_level="read_committed", enable_auto_commit=False)
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        wait_until(lambda: len(self.consumer.partitions_for_topic(topic) or ()) == settings.partitions, timeout=60,
                   describe=f"topic {topic}")
        self.consumer.assign(tps)
        self.consumer.seek_to_end(*tps)
        for tp in tps:
            self.consumer.position(tp)

    def run(self) -> None:
        while not self.stop.is_set():
            for records in self.consumer.poll(timeout_ms=50).values():
                now = time.time()
                for r in records:
                    noted = self.note(r)
                    if noted is not None:
                        self.seen[noted[0]] = (now, noted[1])
        self.consumer.close()

    def finish(self) -> None:
        """Stop watching (the consumer closes)."""
        self.stop.set()
        self.join(timeout=10)


def _custody_commands(settings: Settings, codec: Codec) -> Watcher:
    """A watcher of the custody commands: each booking's directive, with the instant it takes effect."""

    def note(r: Any) -> tuple[str, datetime] | None:
        d = codec.decode(r.value, r.headers, Coordinates(r.topic, r.partition, r.offset), r.key)
        return (d.record["booking_id"], d.record["effective_at"]) if isinstance(d, Decoded) else None

    return Watcher(settings, codec.topics.name("custody_commands"), note)


BOOKED, RELEASES_ONLY = "booked and released", "releases of people never booked"


def _run_rate(settings: Settings, codec: Codec, rate: float, seconds: float, tag: str, mix: str = BOOKED) -> dict:
    watcher = _custody_commands(settings, codec)
    watcher.start()
    sent: dict[str, float] = {}
    due: dict[str, datetime] = {}
    lag = max(1, int(rate / 2))  # in the booked mix, a release is of the person booked `lag` bookings before
    with EventProducer(settings.kafka_client_config(), codec) as producer:
        began, n, booked, released = time.monotonic(), 0, 0, 0
        while time.monotonic() - began < seconds:
            target = began + n / rate
            pause = target - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            now = datetime.now(UTC)
            n += 1
            if mix == BOOKED and (n % 2 or released > booked - lag):
                booking = f"{tag}-{booked:06d}"
                producer.send("BookingRecorded", {"event_id": f"{booking}-booked", "occurred_at": now,
                                                  "source": "bench", "booking_id": booking,
                                                  "person_id": f"{booking}-person", "county": "Santa Clara",
                                                  "facility": "Main Jail", "charges": [], "state": "CA"},
                              validate=False)
                booked += 1
                continue
            booking = f"{tag}-{released:06d}"
            release_at = now + DEFER if released % DEFERRED_EVERY == 0 else now
            sent[booking] = time.time()
            due[booking] = release_at
            producer.send("ReleaseBecameDue", {"event_id": f"{booking}-due", "occurred_at": now, "source": "bench",
                                               "booking_id": booking, "reason": "BAIL_POSTED",
                                               "release_at": release_at}, validate=False)
            released += 1
        producer.flush()
    wait_until(lambda: len(watcher.seen) >= len(sent), timeout=300, describe=f"{len(sent)} directives at {rate}/s")
    watcher.finish()
    immediate = _immediate_ids(sent, due)
    latency = [(watcher.seen[b][0] - sent[b]) * 1000 for b in immediate]
    late = [watcher.seen[b][0] - due[b].timestamp() for b in sent if b not in immediate]
    return {"rate": rate, "mix": mix, "events": n, "releases": len(sent), "latency_ms": _pcts(latency),
            "lateness_s": _pcts(late)}


def _round_trip(settings: Settings, rate: float, seconds: float) -> dict:
    """Produce call to visible for plain records through the broker alone, by the benchmark's own clients.

    The same producer settings as the load (`EventProducer`'s), the same consumer as the watcher's, a topic of its
    own and no worker: what the measuring costs by itself, in the same run. An event's latency above crosses the
    broker twice (in to the worker, out to the watcher).
    """
    topic = f"{settings.topic_prefix}round-trip"
    admin = KafkaAdminClient(**settings.kafka_client_config())
    try:
        admin.create_topics([NewTopic(topic, settings.partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    watcher = Watcher(settings, topic, lambda r: (r.value, None))
    watcher.start()
    producer = KafkaProducer(**PRODUCER_SETTINGS, **settings.kafka_client_config())
    sent: dict[bytes, float] = {}
    began, n = time.monotonic(), 0
    while time.monotonic() - began < seconds:
        pause = began + n / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        value = b"%d" % n
        sent[value] = time.time()
        producer.send(topic, key=value, value=value)
        n += 1
    producer.flush()
    producer.close()
    wait_until(lambda: len(watcher.seen) >= len(sent), timeout=60, describe=f"{len(sent)} round trips at {rate}/s")
    watcher.finish()
    return {"rate": rate, "records": len(sent),
            "latency_ms": _pcts([(watcher.seen[v][0] - sent[v]) * 1000 for v in sent])}


def _immediate_ids(sent: dict[str, float], due: dict[str, datetime]) -> set[str]:
    return {b for b in sent if due[b] <= datetime.fromtimestamp(sent[b], UTC)}


def _pcts(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    return {"p50": statistics.median(ordered), "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            "max": ordered[-1], "n": len(ordered)}


def measure(seconds: float = 20, runs: int = 3) -> dict:
    """Latency and lateness at 100 and 1,000 events/s and the worst case at 1,000, `runs` times each, one live
    worker, 6 partitions.

    Each run also notes the CPU the worker, the broker and this process (the load and the watching consumer) used,
    in cores: the three share the machine's cores, and at 1,000 events/s they want more than two.
    """
    with local_broker("latency") as (broker, root):
        settings, _, codec = deployment(broker.bootstrap, "lat.")
        worker = WorkerProcess(settings, root / "worker", root / "worker.log", ticker=True)
        pids = {"worker": worker.proc.pid, "broker": broker.pid(), "load": os.getpid()}
        try:
            _run_rate(settings, codec, 10, 5, "warm")  # the worker is up and owns its partitions
            result = []
            for rate, mix in ((100, BOOKED), (1000, BOOKED), (1000, RELEASES_ONLY)):
                tries = []
                for n in range(runs):
                    before, began = _cpu_seconds(pids), time.monotonic()
                    run = _run_rate(settings, codec, rate, seconds, f"r{int(rate)}-{mix[0]}{n}", mix)
                    elapsed, after = time.monotonic() - began, _cpu_seconds(pids)
                    run["cores"] = {name: (after[name] - before[name]) / elapsed for name in pids}
                    tries.append(run)
                result.append(_summary(rate, tries))
            trips = [_round_trip(settings, rate, seconds) for rate in (100, 1000)]
            return {"runs": result, "round_trip": trips, "date": datetime.now(UTC).isoformat(timespec="seconds")}
        finally:
            worker.stop()


def _summary(rate: float, tries: list[dict]) -> dict:
    """The run with the median latency p99 stands for the rate; the spread of each figure over the runs beside it."""
    ordered = sorted(tries, key=lambda r: r["latency_ms"]["p99"])
    summary = dict(ordered[len(ordered) // 2])
    summary["runs"] = len(tries)
    summary["spread"] = {f"{figure}.{p}": (min(r[figure][p] for r in tries), max(r[figure][p] for r in tries))
                         for figure in ("latency_ms", "lateness_s") for p in ("p50", "p99")}
    summary["every_run"] = tries
    return summary


def _cpu_seconds(pids: dict[str, int | None]) -> dict[str, float]:
    """User plus system CPU seconds of each process so far (its threads included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, TypeError):
            out[name] = 0.0
    return out


if __name__ == "__main__":
    print(measure())
