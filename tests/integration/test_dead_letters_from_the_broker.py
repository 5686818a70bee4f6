"""Poison messages read from a real topic become dead letters that point at their exact partition and offset."""

from kafka import KafkaProducer

from streams.wire.codec import Coordinates, DeadLetter, Decoded
from tests.support.kafka import read_until
from tests.support.records import example_record


def test_poison_messages_keep_their_coordinates_and_good_neighbours_decode(settings, kafka_codec):
    topic = kafka_codec.topics.name("bookings")
    good = kafka_codec.encode("BookingRecorded", example_record(kafka_codec.registry.latest("BookingRecorded"),
                                                                key="B-POISON"))
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    poison = [
        (b"\x00\x01garbage", good.headers, "MALFORMED"),
        (good.value, [("dt-type", b"BookingRecorded"), ("dt-version", b"42")], "UNKNOWN_SCHEMA_VERSION"),
        (good.value, [], "MISSING_HEADER"),
    ]
    for value, headers, _ in poison:
        producer.send(topic, key=b"B-POISON", value=value, headers=headers)
    producer.send(topic, key=b"B-POISON", value=good.value, headers=good.headers)
    producer.flush()
    producer.close()

    messages = sorted(read_until(settings.bootstrap_servers, topic, 4), key=lambda m: m.offset)
    assert len({m.partition for m in messages}) == 1, "one key, one partition"
    results = [kafka_codec.decode(m.value, m.headers, Coordinates(m.topic, m.partition, m.offset, m.timestamp),
                                  m.key) for m in messages]
    for (value, _, code), message, result in zip(poison, messages, results, strict=False):
        assert isinstance(result, DeadLetter)
        assert result.reason_code == code
        assert result.coordinates.offset == message.offset
        assert result.coordinates.partition == message.partition
        assert result.value == value
    assert isinstance(results[3], Decoded)
    assert results[3].coordinates.offset == messages[3].offset
