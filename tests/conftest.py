"""Shared fixtures: one real Kafka broker per test session, and unique topics per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from streams.config import Settings
from streams.tools.admin import admin_client, create_topics, delete_topics
from streams.tools.localbroker import LocalBroker, free_port
from streams.wire.codec import Codec
from streams.wire.schemas import SchemaRegistry
from streams.wire.topics import Topics


@pytest.fixture(scope="session")
def registry() -> SchemaRegistry:
    return SchemaRegistry(Settings().schemas_dir)


@pytest.fixture(scope="session")
def codec(registry: SchemaRegistry) -> Codec:
    return Codec(registry, Topics(Settings()))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A real KRaft broker from the project's own deploy/local, started once; the session errors if it can't."""
    b = LocalBroker(home=tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port())
    b.start()
    yield b
    b.stop()


@pytest.fixture
def settings(broker: LocalBroker) -> Iterator[Settings]:
    """Settings with a topic prefix of this test's own, its topics created (3 partitions) and deleted after."""
    s = Settings(bootstrap_servers=broker.bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.", partitions=3)
    topics = Topics(s)
    admin = admin_client(s.kafka_client_config())
    create_topics(admin, topics)
    admin.close()
    yield s
    admin = admin_client(s.kafka_client_config())  # a new client: the test may have restarted the broker
    delete_topics(admin, [t.name for t in topics])
    admin.close()


@pytest.fixture
def kafka_codec(settings: Settings, registry: SchemaRegistry) -> Codec:
    """A codec whose topic names carry this test's prefix."""
    return Codec(registry, Topics(settings))
