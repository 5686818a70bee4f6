"""A local broker for one benchmark, and deployments (topic prefixes) on it with every topic created."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.config import Settings
from streams.tools.admin import admin_client, create_topics
from streams.tools.localbroker import LocalBroker, free_port
from streams.wire.codec import Codec
from streams.wire.schemas import SchemaRegistry
from streams.wire.topics import Topics

PARTITIONS = 6


@contextmanager
def local_broker(name: str) -> Iterator[tuple[LocalBroker, Path]]:
    """A broker on free ports in a new temporary folder, stopped on exit; yields it and the folder."""
    root = Path(tempfile.mkdtemp(prefix=f"dt-{name}-bench-"))
    broker = LocalBroker(home=root / "broker", port=free_port(), controller_port=free_port())
    broker.start()
    try:
        yield broker, root
    finally:
        broker.stop()


def deployment(bootstrap: str, topic_prefix: str, registry: SchemaRegistry | None = None
               ) -> tuple[Settings, Topics, Codec]:
    """Settings, topics and codec of one topic prefix on the broker, its topics created."""
    settings = Settings(bootstrap_servers=bootstrap, topic_prefix=topic_prefix, partitions=PARTITIONS)
    topics = Topics(settings)
    codec = Codec(registry or SchemaRegistry(settings.schemas_dir), topics)
    create_topics(admin_client(settings.kafka_client_config()), topics)
    return settings, topics, codec
