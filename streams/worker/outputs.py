"""The outputs already on the output topics' recent tail, so that a replayed input's outputs are not sent twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from streams.wire.codec import HEADER_OUTPUT_ID, HEADER_SUPERSEDES, Encoded


class RecentOutputs:
    """The outputs standing on the recent tail of the output topics, per partition this worker owns.

    Outputs are sent before the input's offset is committed, so a worker that crashed, or a partition that moved,
    replays the inputs after the last commit and makes their outputs again, with the same ids. Before it handles
    a partition's first message, the worker reads the last TAIL messages of each output topic's partition (the
    ids travel in the `dt-output-id` header, what a correction withdraws in `dt-supersedes`) and does not send
    what is already there: a consumer sees each output once. An id counts as sent as often as it was sent less
    as often as a correction withdrew it, so an output that a later correction makes follow again is sent again.
    """

    TAIL = 20_000

    def __init__(self, client_config: dict[str, Any], topics: list[str]) -> None:
        """Bind the kafka-python client settings and the output topics (partitioned like the inputs)."""
        self.client_config, self.topics = client_config, topics
        self._standing: dict[int, Counter[bytes]] = {}

    def loaded(self, partition: int) -> bool:
        """True when the partition's tail has been read."""
        return partition in self._standing

    async def load_after(self, flush: Callable[[], Awaitable[Any]], partition: int) -> int | None:
        """Once every write this worker has in flight is in Kafka (`flush`), read the partition's tail.

        A partition revoked and assigned again (a broker restarted under the worker, its group rebalanced) is read
        again from its last commit while the outputs of the inputs after it may still be on their way: a tail read
        before they land misses them, and the replayed inputs would send them a second time. Returns how many
        output ids the tail holds, or None when it was read meanwhile.
        """
        await flush()
        if self.loaded(partition):
            return None
        return self.load(partition)

    def load(self, partition: int) -> int:
        """Read the tail of every output topic's partition; returns how many output ids were found."""
        standing: Counter[bytes] = Counter()
        for headers in self._tail(partition):
            count_sent(standing, headers)
        self._standing[partition] = standing
        return len(standing)

    def _tail(self, partition: int) -> Iterator[Any]:
        """The headers of the last TAIL records of each output topic's partition."""
        from kafka import KafkaConsumer
        from kafka import TopicPartition as KafkaTP

        consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, isolation_level="read_committed",
                                 client_id="detainer-tracker-recent-outputs", **self.client_config)
        try:
            tps = [KafkaTP(t, partition) for t in self.topics]
            consumer.assign(tps)
            ends, starts = consumer.end_offsets(tps), consumer.beginning_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(starts[tp], ends[tp] - self.TAIL))
            while [tp for tp in tps if consumer.position(tp) < ends[tp]]:
                for records in consumer.poll(timeout_ms=500).values():
                    for r in records:
                        yield r.headers or ()
        finally:
            consumer.close()

    def already_sent(self, partition: int, message: Encoded) -> bool:
        """True when this output stands on its topic already; else it is counted as sent from now on."""
        standing = self._standing.setdefault(partition, Counter())
        ids = [v for k, v in message.headers if k == HEADER_OUTPUT_ID]
        if ids and standing.get(ids[0], 0) > 0:
            return True
        count_sent(standing, message.headers, known_only=True)  # the tail's ids only: memory stays bounded
        return False

    def forget(self, partitions: Any) -> None:
        """Drop what is known of partitions this worker no longer owns."""
        for p in partitions:
            self._standing.pop(p, None)


def count_sent(standing: Counter[bytes], headers: Any, known_only: bool = False) -> None:
    """Count the output id a message carries as sent once more, and what it withdraws as sent once less."""
    for k, v in headers:
        if k == HEADER_OUTPUT_ID and (v in standing or not known_only):
            standing[v] += 1
        elif k == HEADER_SUPERSEDES:
            for withdrawn in v.split(b","):
                if withdrawn in standing or not known_only:
                    standing[withdrawn] -= 1
