"""Running real `detainer-tracker worker` processes against the test broker, and waiting for them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import KafkaError

from streams.config import Settings
from streams.tools.localbroker import free_port
from streams.wire.codec import Codec, Coordinates, Decoded
from streams.wire.topics import CASE_OUTPUTS
from tests.support.kafka import read_all


class WorkerProcess:
    """One worker subprocess with its own data dir and log."""

    def __init__(self, settings: Settings, data_dir: Path, log: Path, ticker: bool = False,
                 guarantee: str = "at_least_once", env: dict[str, str] | None = None) -> None:
        self.settings, self.data_dir, self.log = settings, data_dir, log
        self.web_port = free_port()
        env = {**os.environ, "DT_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
               "DT_TOPIC_PREFIX": settings.topic_prefix, "DT_PARTITIONS": str(settings.partitions),
               "DT_DATA_DIR": str(data_dir), "DT_WEB_PORT": str(self.web_port), "DT_TICKER": "1" if ticker else "0",
               "DT_COMMIT_INTERVAL": "0.2", "DT_SOURCE": f"worker-{data_dir.name}",
               "DT_PROCESSING_GUARANTEE": guarantee, **(env or {})}
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info"],
                                         env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit, as a crash."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def metric(self, name: str, **labels: str) -> float | None:
        """The value of a sample (with exactly these labels) on the worker's metrics page, None when not there."""
        from urllib.request import urlopen

        from prometheus_client.parser import text_string_to_metric_families

        with urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=10) as page:
            text = page.read().decode()
        return next((s.value for family in text_string_to_metric_families(text) for s in family.samples
                     if s.name == name and s.labels == labels), None)


def last_offsets(metas: Any) -> dict[TopicPartition, int]:
    """The last offset written on each partition, from the producer's record metadata (what to wait for)."""
    positions: dict[TopicPartition, int] = {}
    for meta in metas:
        tp = TopicPartition(meta.topic, meta.partition)
        positions[tp] = max(positions.get(tp, -1), meta.offset)
    return positions


def committed(admin: KafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    """The consumer group's committed offsets."""
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    except KafkaError:  # the group coordinator is still being elected: nothing committed yet
        return {}
    return {tp: meta.offset for tp, meta in offsets.items()}


def wait_processed(admin: KafkaAdminClient, group: str, positions: dict[TopicPartition, int], timeout: float,
                   worker: WorkerProcess | None = None) -> None:
    """Wait until the group has committed past every given offset (the message and its outputs are committed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = committed(admin, group)
        if all(done.get(tp, -1) > offset for tp, offset in positions.items()):
            return
        if worker is not None and worker.proc.poll() is not None:
            raise AssertionError(f"the worker exited ({worker.proc.returncode}):\n{worker.tail()}")
        time.sleep(0.1)
    done = committed(admin, group)
    late = {f"{tp.topic}[{tp.partition}]": (offset, done.get(tp)) for tp, offset in positions.items()
            if done.get(tp, -1) <= offset}
    tail = f"\n{worker.tail()}" if worker else ""
    raise AssertionError(f"not processed within {timeout:.0f} s (offset, committed): {late}{tail}")


OUTPUT_TOPICS = CASE_OUTPUTS


def outputs_on_kafka(settings: Settings, codec: Codec) -> list[dict]:
    """Every output on the output topics, decoded (read_committed), each with its `type`."""
    got = []
    for topic_id in OUTPUT_TOPICS:
        for m in read_all(settings.bootstrap_servers, codec.topics.name(topic_id)):
            decoded = codec.decode(m.value, m.headers, Coordinates(m.topic, m.partition, m.offset), m.key)
            assert isinstance(decoded, Decoded), decoded
            got.append({"type": decoded.type_name, **decoded.record})
    return got


def tick_all(feed, settings: Settings, at: datetime) -> None:
    """Feed a tick at `at` to every partition of the clock."""
    for p in range(settings.partitions):
        feed("ClockTicked", {"event_id": f"tick-{p}-{at.isoformat()}", "occurred_at": at, "source": "test",
                             "partition": p}, partition=p)
