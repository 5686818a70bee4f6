import uuid

from streams.config import Settings
from streams.tools.admin import admin_client, create_topics, delete_topics
from streams.wire.topics import Topics


def test_topics_create_is_idempotent_and_sets_retention_and_compaction(broker):
    settings = Settings(bootstrap_servers=broker.bootstrap, topic_prefix=f"a{uuid.uuid4().hex[:8]}.", partitions=4)
    topics = Topics(settings)
    admin = admin_client(settings.kafka_client_config())
    try:
        first = create_topics(admin, topics)
        assert {s.action for s in first} == {"created"}
        second = create_topics(admin, topics)
        assert {s.action for s in second} == {"exists"}
        assert all(s.ok for s in second)
        assert {s.topic.name: s.partitions for s in second}[topics.name("clock")] == 4

        from kafka.admin import ConfigResource, ConfigResourceType

        resources = [ConfigResource(ConfigResourceType.TOPIC, topics.name(i))
                     for i in ("bookings", "clets_agreements", "clock", "decisions")]
        described = admin.describe_configs(resources)["topic"]
        configs = {name: {k: v["value"] for k, v in entries.items()} for name, entries in described.items()}
        assert configs[topics.name("bookings")]["retention.ms"] == "-1"
        assert configs[topics.name("clets_agreements")]["cleanup.policy"] == "compact"
        assert configs[topics.name("clock")]["retention.ms"] == "-1"  # ticks are kept by size, not by age
        assert int(configs[topics.name("clock")]["retention.bytes"]) == 256 * 2**20
        assert configs[topics.name("bookings")]["message.timestamp.after.max.ms"] == "300000"  # the future: refused
        assert configs[topics.name("decisions")]["message.timestamp.after.max.ms"] == str(2**63 - 1)

        other = Topics(Settings(bootstrap_servers=broker.bootstrap, topic_prefix=settings.topic_prefix,
                                partitions=5))
        mismatched = [s for s in create_topics(admin, other) if not s.ok]
        assert topics.name("bookings") in {s.topic.name for s in mismatched}
    finally:
        delete_topics(admin, [t.name for t in topics])
        admin.close()
