"""Topic administration through Kafka's admin API: create every declared topic idempotently, check what exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from streams.errors import DetainerTrackerError, KafkaUnavailable
from streams.wire.reach import check
from streams.wire.topics import Topic, Topics

TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno


@dataclass(frozen=True)
class TopicStatus:
    """What `create_topics` found or did for one topic."""

    topic: Topic
    action: str  # "created" or "exists"
    partitions: int

    @property
    def ok(self) -> bool:
        """A topic that exists with another partition count breaks co-partitioning."""
        return self.partitions == self.topic.partitions


def admin_client(client_config: dict[str, Any]) -> KafkaAdminClient:
    """An admin client with the project's client id; `client_config` is Settings.kafka_client_config()."""
    check(client_config)
    try:
        return KafkaAdminClient(client_id="detainer-tracker-admin", **client_config)
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot reach Kafka at {client_config.get('bootstrap_servers')}: {exc}") from exc


def create_topics(admin: KafkaAdminClient, topics: Topics, replication_factor: int = 1) -> list[TopicStatus]:
    """Create every declared topic that does not exist yet; report the partition count of those that do."""
    wanted = {t.name: t for t in topics}
    request = {t.name: {"num_partitions": t.partitions, "replication_factor": replication_factor,
                        "configs": t.configs} for t in wanted.values()}
    response = admin.create_topics(request, raise_errors=False, wait_for_metadata=True)
    created = set()
    for result in response.get("topics", []):
        name, code = result["name"], result["error_code"]
        if code == 0:
            created.add(name)
        elif code != TOPIC_ALREADY_EXISTS:
            message = result.get("error_message") or f"error code {code}"
            raise DetainerTrackerError(f"creating topic {name} failed: {message}")
    existing = partition_counts(admin, [n for n in wanted if n not in created])
    return [TopicStatus(t, "created" if t.name in created else "exists",
                        t.partitions if t.name in created else existing.get(t.name, 0))
            for t in wanted.values()]


def partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition count of each named topic that exists."""
    if not names:
        return {}
    described = admin.describe_topics(names)
    return {d["name"]: len(d["partitions"]) for d in described if d.get("error_code", 0) == 0}


def delete_topics(admin: KafkaAdminClient, names: list[str]) -> None:
    """Delete topics; ones that do not exist are ignored."""
    try:
        admin.delete_topics(names, raise_errors=False)
    except UnknownTopicOrPartitionError:
        pass
