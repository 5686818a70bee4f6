"""Helpers that wait for conditions with a deadline and say what they saw when they give up."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

# The machines are shared and have two cores: generous, but finite.
DEFAULT_TIMEOUT = 60.0


def wait_until(predicate: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT, describe: str = "condition",
               interval: float = 0.2) -> None:
    """Poll `predicate` until it is true; fail naming `describe` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {describe}")


@dataclass(frozen=True)
class Message:
    """One consumed message, with its coordinates."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def _from_beginning(bootstrap: str, topic: str, **config: object) -> KafkaConsumer:
    """A group-less read_committed consumer assigned to every partition of a topic, at the beginning."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             isolation_level="read_committed", auto_offset_reset="earliest", **config)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    return consumer


def _message(r) -> Message:
    return Message(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, list(r.headers or []))


def read_until(bootstrap: str, topic: str, n: int, timeout: float = DEFAULT_TIMEOUT) -> list[Message]:
    """Read a topic from the beginning (read_committed) until `n` messages arrived; fail listing what came."""
    consumer = _from_beginning(bootstrap, topic)
    try:
        got: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(_message(r) for r in records)
        if len(got) < n:
            raise AssertionError(f"expected {n} message(s) on {topic}, got {len(got)} after {timeout:.0f} s: "
                                 f"{[(m.partition, m.offset, m.key) for m in got][:20]}")
        return got
    finally:
        consumer.close()


def read_all(bootstrap: str, topic: str, timeout: float = DEFAULT_TIMEOUT) -> list[Message]:
    """Everything on a topic now (read_committed): read until every partition reaches its end offset.

    Reading up to the end offsets, not until the consumer goes quiet, so a slow first fetch on a loaded machine
    cannot pass for an empty topic.
    """
    consumer = _from_beginning(bootstrap, topic)
    try:
        partitions = list(consumer.assignment())
        ends = consumer.end_offsets(partitions)
        got: list[Message] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end offsets {ends} in {timeout:.0f} s")
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(_message(r) for r in records)
        return got
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    """The end offset of every non-empty partition of the topics."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or []]
        return {tp: o for tp, o in consumer.end_offsets(tps).items() if o}
    finally:
        consumer.close()


@dataclass(frozen=True)
class Batch:
    """One record batch as the broker stored it: who wrote it, and where it stands in that writer's sequence."""

    producer_id: int
    base_sequence: int
    records: int


def batches_on_disk(data_dir, topic: str) -> list[Batch]:
    """Every record batch in the log segments of a topic's partitions, read from the broker's own files."""
    from pathlib import Path

    from kafka.record import MemoryRecords

    found = []
    for segment in sorted(Path(data_dir).glob(f"{topic}-*/*.log")):
        records = MemoryRecords(segment.read_bytes())
        while (batch := records.next_batch()) is not None:
            found.append(Batch(batch.producer_id, batch.base_sequence, len(list(batch))))
    return found
