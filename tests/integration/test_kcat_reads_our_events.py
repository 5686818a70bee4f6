"""Events we produce are read back by kcat, an independent client (librdkafka), with the right keys and partitions."""

import subprocess

from kafka.partitioner.default import murmur2

from streams.tools.produce import EventProducer
from tests.support.records import example_record


def _expected_partition(key: bytes, partitions: int) -> int:
    # Java's default partitioner, which kafka-python, aiokafka and Faust all follow
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def test_kcat_reads_keys_partitions_headers_and_values(settings, kafka_codec):
    topic = kafka_codec.topics["bookings"]
    sent = {}
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        for i in range(30):
            record = example_record(kafka_codec.registry.latest("BookingRecorded"), key=f"BK-{i:03d}", n=i)
            message = kafka_codec.encode("BookingRecorded", record)
            producer.send_encoded(message)
            sent[message.key] = message
    out = subprocess.run(
        ["kcat", "-b", settings.bootstrap_servers, "-C", "-t", topic.name, "-e", "-q",
         "-f", "%p\t%k\t%h\t%S\n"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines() if line]
    assert len(rows) == 30
    for partition, key, headers, size in rows:
        message = sent[key.encode()]
        assert int(partition) == _expected_partition(key.encode(), topic.partitions)
        fingerprint = kafka_codec.registry.latest("BookingRecorded").fingerprint
        assert headers == f"dt-type=BookingRecorded,dt-version=1,dt-schema={fingerprint}"
        assert int(size) == len(message.value)


def test_kcat_raw_bytes_decode_with_our_codec(settings, kafka_codec, tmp_path):
    record = example_record(kafka_codec.registry.latest("DetainerLodged"), key="BK-RAW")
    with EventProducer(settings.kafka_client_config(), kafka_codec) as producer:
        producer.send("DetainerLodged", record).get(timeout=30)
    topic = kafka_codec.topics.for_event("DetainerLodged").name
    raw = subprocess.run(["kcat", "-b", settings.bootstrap_servers, "-C", "-t", topic, "-e", "-q", "-c", "1",
                          "-f", "%s"], capture_output=True, timeout=60, check=True).stdout
    from streams.wire.codec import Coordinates

    decoded = kafka_codec.decode(raw, [("dt-type", b"DetainerLodged"), ("dt-version", b"1")],
                                 Coordinates(topic, 0, 0), b"BK-RAW")
    assert decoded.record == record
