"""The progress guard, against the real broker: input past a group's committed offsets that nothing handles is a
stall; the same input being handled is not; a broker that does not answer is an outage, not a stall."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from streams.tools.produce import EventProducer
from streams.wire.codec import Encoded
from streams.worker.progress import ProgressGuard


def _input(settings, kafka_codec, n: int) -> str:
    """n messages on partition 0 of a topic (what they hold does not matter to the guard)."""
    topic = kafka_codec.topics.name("bookings")
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        for i in range(n):
            producer.send_encoded(Encoded(topic, b"k", f"v{i}".encode(), [], None), 0)
        producer.flush()
    return topic


def _commit(settings, group: str, tp: TopicPartition, offset: int) -> None:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=group, enable_auto_commit=False)
    try:
        consumer.assign([tp])
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
    finally:
        consumer.close()


def test_input_nobody_handles_is_a_stall_and_handled_input_is_not(settings, kafka_codec):
    topic = _input(settings, kafka_codec, 5)
    group = f"{settings.app_id}-guard"
    tp = TopicPartition(topic, 0)
    _commit(settings, group, tp, 2)
    stuck: list[str] = []
    seen: list[tuple[float, int]] = []
    guard = ProgressGuard(settings.kafka_client_config(), group, stuck.append, patience=1.0,
                          observe=lambda idle, n: seen.append((idle, n)))
    guard.owns([(topic, 0)])
    assert guard.check(time.monotonic()) is None  # just assigned: within the patience
    assert seen[-1][1] == 3  # five written, two committed
    guard.handled()
    time.sleep(0.5)
    guard.handled()
    assert guard.check(time.monotonic()) is None  # handling: no stall
    time.sleep(1.5)
    why = guard.check(time.monotonic())
    assert why is not None and "3 message(s)" in why and "handled nothing" in why
    _commit(settings, group, tp, 5)
    guard.handled()
    time.sleep(1.5)
    assert guard.check(time.monotonic()) is None  # nothing left to handle: idle is fine


def test_a_broker_that_does_not_answer_is_an_outage_and_not_a_stall(settings, kafka_codec):
    topic = _input(settings, kafka_codec, 3)
    config = {**settings.kafka_client_config(), "bootstrap_servers": "127.0.0.1:1"}  # nothing listens there
    guard = ProgressGuard(config, "nobody", lambda why: None, patience=0.1)
    guard.owns([(topic, 0)])
    time.sleep(0.3)
    assert guard.unhandled() is None
    assert guard.check(time.monotonic()) is None
