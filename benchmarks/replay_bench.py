"""Replay of a whole county's year against the raw read rate of the same partitions, measured in the same run.

The topics hold a simulated year of two counties (the inputs, and the outputs `decide` gives for them, written
as a worker writes them). The limit is a raw kafka-python consumer (the replay's own client) reading every record
of the same topics and partitions, without and with decoding each with our codec, with the cyclic garbage collector
paused as the replay reads. The replay is measured twice:
the reading alone (`Reader.read`, which decodes only the selected county's records), and the whole audit command
(read, re-decide, compare, count).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from kafka import KafkaConsumer, TopicPartition

from benchmarks.local import deployment, local_broker
from streams.cli import main as cli
from streams.config import Settings
from streams.core import events as ev
from streams.core.law import rulebook
from streams.replay.reader import OUTPUTS, Reader, collector_paused
from streams.replay.selection import Selection
from streams.tools.decide import Processor, run
from streams.tools.produce import EventProducer
from streams.tools.simulate import SimConfig, Simulator
from streams.wire.codec import Codec, Coordinates
from streams.wire.topics import CASE_INPUTS, Topics

START = datetime.fromisoformat("2017-01-01T00:00:00-08:00")
END = datetime.fromisoformat("2018-01-01T00:00:00-08:00")
COUNTIES = ("Kern", "Fresno")


def _load(settings: Settings, codec: Codec, days: float) -> tuple[int, int]:
    config = SimConfig(start=START, days=days, seed=11, counties=COUNTIES)
    events = [(t, r) for _, t, r in Simulator(config).events() if "booking_id" in r]
    outputs = list(run(Processor(rulebook.load(), ()), [ev.from_record(t, r) for t, r in events]))
    with EventProducer(settings.kafka_client_config(), codec) as producer:
        for type_name, record in events:
            producer.send(type_name, record, validate=False)
        for e in outputs:
            producer.send_encoded(codec.encode(e.type_name, e.record, False, e.record["decided_at"]))
    return len(events), len(outputs)


def _raw(settings: Settings, topics: Topics, codec: Codec | None) -> tuple[int, float]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
                             isolation_level="read_committed", max_partition_fetch_bytes=8 * 1024 * 1024,
                             fetch_max_bytes=64 * 1024 * 1024)
    tps = [TopicPartition(topics.name(t), p) for t in (*CASE_INPUTS, *OUTPUTS) for p in range(settings.partitions)]
    ends = consumer.end_offsets(tps)
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    began, seen = time.perf_counter(), 0
    live = {tp for tp in tps if ends[tp] > 0}
    with collector_paused():  # as the replay reads
        while live:
            for tp, records in consumer.poll(timeout_ms=1000, max_records=5000).items():
                if codec is not None:
                    for r in records:
                        codec.decode(r.value, r.headers, Coordinates(tp.topic, tp.partition, r.offset), r.key)
                seen += len(records)
            live = {tp for tp in live if consumer.position(tp) < ends[tp]}
    seconds = time.perf_counter() - began
    consumer.close()
    return seen, seconds


def measure(days: float = 365, runs: int = 5) -> dict:
    """The limit and the replay, each `runs` times; rates are records per second."""
    with local_broker("replay") as (broker, root):
        settings, topics, codec = deployment(broker.bootstrap, "bench.")
        events, outputs = _load(settings, codec, days)
        selection = Selection(county=COUNTIES[0], start=START, end=END)
        raw, raw_decode, read, audit = [], [], [], []
        records = 0  # every record of the partitions, as the raw consumer reads them
        for _ in range(runs):
            records, s = _raw(settings, topics, None)
            raw.append(records / s)
            n, s = _raw(settings, topics, codec)
            raw_decode.append(n / s)
            capture = Reader(settings.kafka_client_config(), topics, codec).read(selection)
            assert sum(capture.records_read.values()) == records  # every record read once, no more
            read.append(records / capture.seconds)
            began = time.perf_counter()
            code = cli(["--bootstrap-servers", broker.bootstrap, "--topic-prefix", "bench.", "--partitions", "6",
                        "replay", "--county", COUNTIES[0], "--from", "2017-01-01", "--to", "2018-01-01",
                        "--summary", "--format", "csv", "-o", str(root / "audit.csv"), "--quiet"])
            audit.append(records / (time.perf_counter() - began))
            assert code == 0, (root / "audit.csv").read_text()
        return {"events": events, "outputs": outputs, "runs": runs,
                "date": datetime.now(UTC).isoformat(timespec="seconds"), "records_on_partitions": records,
                "selected_bookings": len(capture.booking_ids()), "decoded": capture.decoded,
                "raw_read": _stats(raw), "raw_read_decode": _stats(raw_decode), "replay_read": _stats(read),
                "replay_audit": _stats(audit),
                "ratio_read": statistics.median(read) / statistics.median(raw),
                "ratio_audit": statistics.median(audit) / statistics.median(raw),
                "summary_csv": (root / "audit.csv").read_text()}


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=365)
    out = measure(parser.parse_args().days, runs=1)
    print({k: v for k, v in out.items() if k != "summary_csv"})
