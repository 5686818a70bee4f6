"""Restoring a changelog in whole batches on the real broker: from where the store stopped, to the end."""

from __future__ import annotations

import asyncio
import uuid

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from streams.worker.state.restore import restore_changelog


def _changelog(settings, records: list[tuple[int, bytes, bytes | None]]) -> str:
    topic = f"{settings.topic_prefix}restore-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(**settings.kafka_client_config())
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    producer = KafkaProducer(**settings.kafka_client_config())
    for partition, key, value in records:
        producer.send(topic, key=key, value=value, partition=partition)
    producer.flush()
    producer.close()
    return topic


def _restore(settings, topic: str, starts: dict[int, int], still_wanted=lambda: True):
    stores: dict[int, dict[bytes, bytes]] = {p: {} for p in starts}
    persisted: dict[int, int] = {}
    batches: list[int] = []

    def write(partition: int, records, last_offset: int) -> None:
        for key, value in records:
            if value is None:
                stores[partition].pop(key, None)
            else:
                stores[partition][key] = value
        persisted[partition] = last_offset
        batches.append(len(records))

    counts = asyncio.run(restore_changelog(settings.aiokafka_client_config(), topic, starts, write, still_wanted))
    return stores, persisted, counts, batches


def test_each_partition_is_restored_from_its_start_to_the_end_with_deletions_applied(settings):
    records = [(0, b"a", b"1"), (0, b"b", b"1"), (0, b"a", b"2"), (0, b"b", None), (0, b"c", b"1"),
               (1, b"x", b"1"), (1, b"y", b"1"), (1, b"x", b"2")]
    records += [(1, f"k{i}".encode(), b"v" * 100) for i in range(5_000)]
    topic = _changelog(settings, records)
    stores, persisted, counts, batches = _restore(settings, topic, {0: 0, 1: 1})
    assert stores[0] == {b"a": b"2", b"c": b"1"}
    expected_1 = {b"x": b"2", b"y": b"1", **{f"k{i}".encode(): b"v" * 100 for i in range(5_000)}}
    assert stores[1] == expected_1
    # partition 1 from offset 1: its first record (x=1) is taken as held already
    assert counts == {0: 5, 1: 5_002} and persisted == {0: 4, 1: 5_002}
    assert len(batches) < 5_007  # whole fetched batches, not one write per record
    assert sum(batches) == 5_007


def test_a_partition_already_restored_to_its_end_reads_nothing(settings):
    topic = _changelog(settings, [(0, b"a", b"1"), (1, b"b", b"1")])
    stores, persisted, counts, batches = _restore(settings, topic, {0: 1, 1: 0})
    assert counts == {0: 0, 1: 1} and persisted == {1: 0} and stores == {0: {}, 1: {b"b": b"1"}}


def test_a_new_rebalance_stops_the_restore_and_what_was_written_stands(settings):
    topic = _changelog(settings, [(0, f"k{i}".encode(), b"v") for i in range(100)])
    stores, persisted, counts, batches = _restore(settings, topic, {0: 0}, still_wanted=lambda: False)
    assert counts == {0: 0} and persisted == {} and stores == {0: {}}


def test_a_transaction_left_open_at_the_end_does_not_hold_the_restore(settings):
    """Exactly once: what a worker wrote in a transaction it has not committed is not read, and not waited for."""
    topic = _changelog(settings, [(0, b"a", b"1"), (0, b"b", b"1")])
    producer = KafkaProducer(transactional_id=f"restore-{uuid.uuid4().hex[:8]}", **settings.kafka_client_config())
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(topic, key=b"a", value=b"uncommitted", partition=0)
    producer.flush()
    try:
        stores, persisted, counts, _ = _restore(settings, topic, {0: 0})
    finally:
        producer.abort_transaction()
        producer.close()
    assert stores == {0: {b"a": b"1", b"b": b"1"}} and persisted == {0: 1} and counts == {0: 2}
