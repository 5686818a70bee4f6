"""Integration fixtures: a live worker fed one event at a time."""

import pytest
from kafka import KafkaAdminClient, TopicPartition

from streams.tools.produce import EventProducer
from tests.support.worker import WorkerProcess, wait_processed


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def live(settings, kafka_codec, tmp_path):
    """A worker (no ticker) and a way to feed it one event at a time, waiting until each is committed."""
    worker = WorkerProcess(settings, tmp_path / "w1", tmp_path / "worker1.log")
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    producer = EventProducer(settings.kafka_client_config(), kafka_codec)

    def feed(type_name, record, partition=None, timeout=120.0):
        message = kafka_codec.encode(type_name, record)
        meta = producer.send_encoded(message, partition).get(timeout=30)
        wait_processed(admin, settings.app_id, {TopicPartition(meta.topic, meta.partition): meta.offset},
                       timeout, worker)

    yield feed, worker
    producer.close()
    admin.close()
    worker.stop()
